// The `openai` policy: acts by asking a model behind an OpenAI-compatible chat-completions
// endpoint (vLLM, SGLang, llama.cpp server, or OpenAI itself). Used for evaluation and for
// collecting SFT data with a model too large to run in-process; it returns text only, so it is
// not a training policy (no token ids, no differentiable scores).
//
// Each decision is one stateless request, rebuilt in the per-step layout of agents/prompts.h:
//   POST <base>/v1/chat/completions
//   {"model", "messages": [{"role": "system", "content": system_prompt},      (when non-empty)
//                          {"role": "user",   "content": RenderStepPrompt(...)}],
//    "temperature", "top_p", "max_tokens", "n": 1, "stop" (when non-empty),
//    "seed" (unless seed is -1), "logprobs": true (only with request_logprobs)}
// and only choices[0] of the answer is read.
//
// Config (validated; an unknown or ill-typed key is a ConfigError naming "policy.<key>"):
//   base_url         required. "http://host:port" or "https://host:port", optionally followed
//                    by a path prefix. The endpoint path is the prefix with trailing slashes and
//                    one trailing "/v1" removed, then "/v1/chat/completions": "http://h:8000",
//                    "http://h:8000/", "http://h:8000/v1" and "http://h:8000/v1/" all post to
//                    http://h:8000/v1/chat/completions; "http://h/proxy/v1" to
//                    http://h/proxy/v1/chat/completions. No query string or fragment.
//   model            required. The served model name (vLLM: the `--served-model-name` or the
//                    checkpoint path given to `vllm serve`).
//   api_key_env      "OPENAI_API_KEY". Name of the environment variable holding the API key,
//                    read once when the policy is made; unset or empty (or api_key_env "") →
//                    no Authorization header, otherwise "Authorization: Bearer <key>".
//   system_prompt    a short instruction to answer in the <think>/<action> format; "" sends no
//                    system message.
//   temperature 1.0, top_p 1.0, max_tokens 512: sent as is.
//   stop             ["</action>"]. Stop strings; [] sends none. See "The response" below.
//   seed             0. Request seed = a 31-bit value derived from (seed, PolicyInput::seed), so
//                    one decision always gets the same server seed and runs with different
//                    seeds differ; -1 sends no seed. (Servers only promise best-effort
//                    determinism for a seed; batching on the server can still change outputs.)
//   history_length   2. PromptOptions::history_length (k last turns; 0 none; -1 all).
//   restate_task     false. PromptOptions::restate_task.
//   request_logprobs false. Send "logprobs": true and fill PolicyOutput::logprobs.
//   timeout_s        120. Connect, read and write timeout of one request. The server sends
//                    nothing until generation ends, so this bounds one generation.
//   retries 3, backoff_s 1.0: see Errors.
//   concurrency      8. How many requests of one Act() batch are in flight at once. Each
//                    in-flight slot has its own keep-alive connection, kept between Act() calls.
//
// The response. PolicyOutput::prompt is the user message, `response` the assistant content
// (null content — a reasoning-only or tool-call answer — is an empty response, which projects
// to a format-invalid action rather than an error). Servers strip the stop string that ended
// generation, so with the default stop ["</action>"] the content ends "...<action>go to desk
// 1"; the rule that puts it back, so ProjectAction finds the closing tag and the stored response
// is what the model wrote:
//   * only when finish_reason is "stop" and `stop` is non-empty, and the content does not
//     already end with one of the stop strings;
//   * when the choice says which stop matched (vLLM "stop_reason", SGLang "matched_stop"), that
//     string is appended if it is one of ours, and nothing when it is null or a token id (EOS);
//   * when it does not say (OpenAI, llama.cpp), the first stop string is appended.
// action / format_valid / admissible come from ProjectAction(response, admissible actions).
// Token fields stay empty; with request_logprobs, `logprobs` holds choices[0].logprobs.content[]
// .logprob — one per token the server generated (the re-appended stop string has none) — and
// stays empty when the server sends none. Only the text observation is sent (no images).
//
// Errors (thrown from Act(); the whole batch fails with the error of its lowest failed input):
//   400, 404, 413, 422        → InvalidArgument "model server <endpoint>: HTTP <code>: <the
//                               server's error message>" (bad model name, prompt too long, …)
//   401, 403                  → FailedPrecondition naming api_key_env
//   408, 429, 5xx, transport  → retried `retries` times, the delay starting at backoff_s and
//                               doubling; a Retry-After (or retry-after-ms) header in seconds
//                               replaces that attempt's delay, capped at 60 s. Then Unavailable
//                               "model server <endpoint>: <reason> after N attempts".
//   other statuses            → FailedPrecondition with the server's message
//   a 2xx body that is not an OpenAI chat completion (not JSON, no choices, no message, content
//   neither a string nor null) → FailedPrecondition quoting the start of the body.
//
// Thread safety: one caller at a time (the Policy contract). Act() sends from the calling
// thread plus up to concurrency-1 threads it starts and joins, each with its own connection.
#ifndef TURNWISE_AGENTS_OPENAI_POLICY_H_
#define TURNWISE_AGENTS_OPENAI_POLICY_H_

#include <memory>

#include "agents/policy.h"
#include "core/config.h"
#include "core/json.h"

namespace turnwise {

// The config fields above, with their defaults (for `--help`-style listings and docs).
const ConfigSchema& OpenAIPolicySchema();

// Validates `config` and makes the policy; does not contact the server (the first Act() does).
// Throws ConfigError naming "policy.<key>".
std::unique_ptr<Policy> MakeOpenAIPolicy(const Json& config);

}  // namespace turnwise

#endif  // TURNWISE_AGENTS_OPENAI_POLICY_H_
