// The `lm` policy: a local TransformerLM (agents/transformer_lm.h) with its tokenizer, acting in
// any environment through the per-step prompt of agents/prompts.h.
//
// One decision, for every episode of a batch at once:
//   RenderStepPrompt(env, task, last k turns, observation, admissible)      the user message
//   ChatML [system: LmSystemMessage(), user: that message] + "<|im_start|>assistant\n"
//   -> token ids (BuildPromptTokens)                                         PolicyOutput.prompt_tokens
//   -> ONE batched Generate() call for the whole batch (KV cache), each row stopping at
//      <|im_end|> or once "</action>" has been generated, each row seeded from its input's seed
//   -> Decode (special tokens skipped)                                       PolicyOutput.response
//   -> ProjectAction against the admissible actions                          PolicyOutput.action
// response_tokens / logprobs / entropies are exactly what was sampled (token-in/token-out: the
// learner trains on these ids, never on re-tokenized text). Log-probs and entropies follow
// generation.h: raw logits at temperature 1 over the full vocabulary.
//
// Training code builds its rows with the same free functions (BuildPromptTokens,
// EncodeResponse), so SFT targets, RL rows and what the policy saw are token-identical.
//
// Layouts (`layout`): "steps" (above: every turn a fresh prompt with the last k turns) or
// "episode": the episode is one growing sequence kept in the input's PolicyMemory with its KV
// cache. The first turn appends BuildPromptTokens of the first prompt; each later turn appends
// BuildFollowUpTokens(RenderFollowUpPrompt(...)) — the new observation only — and the model
// reads just those tokens (GenerateContinuations), never re-tokenizing earlier text.
// PolicyOutput.prompt_tokens is then the appended segment. Context limit: when the sequence plus
// the segment plus max_new_tokens would exceed max_context_tokens (0 = the model's
// max_position_embeddings), the output is context_exhausted and the episode ends there.
//
// This header is torch-free (the model type is only forward-declared): the policy factory and
// the CLI include it without parsing LibTorch. Include agents/transformer_lm.h to use model().
//
// Thread safety: one caller at a time (Policy's contract). Act() sets the calling thread's
// LibTorch intra-op thread count to `threads` when that is > 0.
#ifndef TURNWISE_AGENTS_LM_POLICY_H_
#define TURNWISE_AGENTS_LM_POLICY_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "agents/policy.h"
#include "agents/prompts.h"
#include "core/config.h"
#include "core/json.h"

namespace turnwise {

class Tokenizer;
class TransformerLMImpl;
struct SamplingParams;
struct GeneratedSequence;

// The `lm` policy's config keys (MakePolicy("lm", config); errors name "policy.<key>").
struct LmPolicyOptions {
  std::string checkpoint;      // an HF-layout folder: config.json, weights, tokenizer.json
  double temperature = 1.0;    // 0 = greedy
  double top_p = 1.0;          // (0, 1]
  int64_t top_k = 0;           // 0 = off
  int64_t max_new_tokens = 64; // per turn; a longer response is cut (and its action projected)
  int history_length = 2;      // PromptOptions::history_length (-1 full, 0 none, k last k)
  bool restate_task = false;   // PromptOptions::restate_task
  bool compact_prompt = false; // PromptOptions::compact
  int threads = 0;             // LibTorch intra-op threads for Act(); 0 = leave as is
  uint64_t seed = 0;           // mixed into every input's seed
  std::string layout = "steps";    // "steps" | "episode"
  int64_t max_context_tokens = 0;  // episode layout: sequence limit; 0 = the model's context
  std::string device = "cpu";  // TransformerLMOptions
  std::string dtype = "float32";

  // The schema of the keys above, with their defaults ("checkpoint" required by FromJson).
  static ConfigSchema Schema();
  // Validates `config` (ConfigError naming "policy.<key>") and fills the defaults.
  static LmPolicyOptions FromJson(const Json& config);
  Json ToJson() const;
};

// The system message of every lm prompt.
const std::string& LmSystemMessage();

// The user message for one decision (RenderStepPrompt with the input's env, task, history,
// observation and admissible actions).
std::string RenderUserPrompt(const PolicyInput& input, const PromptOptions& options);

// ChatML-formatted prompt ids: system message (unless `system_message` is false:
// PromptOptions::compact), `user_message`, then the assistant generation prompt. The framing
// tokens (<|im_start|>, <|im_end|>) are the tokenizer's special tokens; the message contents
// are encoded with added-token matching OFF, so an observation containing "<|im_end|>" cannot
// inject a control token. For ordinary text the ids equal tokenizer.Encode(RenderChatML(...)).
// Throws NotFound when the tokenizer lacks the ChatML tokens.
std::vector<int32_t> BuildPromptTokens(const Tokenizer& tokenizer, const std::string& user_message,
                                       bool system_message = true);
// RenderUserPrompt + the above: what the lm policy feeds the model for `input`.
std::vector<int32_t> BuildPromptTokens(const Tokenizer& tokenizer, const PolicyInput& input,
                                       const PromptOptions& options);

// The episode layout's segment for a later turn: <|im_end|> when the previous response did not
// end with it (`close_previous`, generation stopped at "</action>"), "\n", then the user message
// `user_message` and the assistant header, ChatML-framed as BuildPromptTokens frames them.
std::vector<int32_t> BuildFollowUpTokens(const Tokenizer& tokenizer, const std::string& user_message,
                                         bool close_previous);

// The episode layout's context segment for the decision `input`: the first prompt when
// `history` is empty, else the follow-up (RenderFollowUpPrompt). `user_message` receives the
// rendered message. `previous_response` is the last response's token ids (for the closing).
std::vector<int32_t> BuildTurnContext(const Tokenizer& tokenizer, const PolicyInput& input,
                                      const PromptOptions& options, const std::vector<int32_t>& previous_response,
                                      std::string* user_message);

// Response text -> ids (added-token matching off), plus the <|im_end|> id when `end_turn`: the
// target of a supervised turn ("<think>…</think><action>…</action>" + <|im_end|>).
std::vector<int32_t> EncodeResponse(const Tokenizer& tokenizer, const std::string& response,
                                    bool end_turn);

class LmPolicy : public Policy {
 public:
  // Loads options.checkpoint (LoadPretrained + tokenizer.json). Throws IoError / NotFound /
  // InvalidArgument naming the folder or file; InvalidArgument when the tokenizer has ids the
  // model's embedding table does not (vocab mismatch) or lacks the ChatML tokens.
  static std::unique_ptr<LmPolicy> Load(const LmPolicyOptions& options);

  // Wraps an in-memory model and tokenizer (SFT evaluation, the RL trainer: no save/load round
  // trip). options.checkpoint is ignored. The model is shared, not copied: training it changes
  // what Act() generates.
  LmPolicy(std::shared_ptr<TransformerLMImpl> model, std::shared_ptr<const Tokenizer> tokenizer,
           const LmPolicyOptions& options);
  ~LmPolicy() override;

  std::string name() const override { return "lm"; }
  // One batched Generate over the whole batch. Inputs need `step` (InvalidArgument otherwise);
  // `env` is not used. Row i samples with seed HashCombine(options.seed, batch[i].seed).
  std::vector<PolicyOutput> Act(const std::vector<PolicyInput>& batch) override;

  TransformerLMImpl& model() { return *model_; }
  const std::shared_ptr<TransformerLMImpl>& model_ptr() const { return model_; }
  const Tokenizer& tokenizer() const { return *tokenizer_; }
  const std::shared_ptr<const Tokenizer>& tokenizer_ptr() const { return tokenizer_; }
  const LmPolicyOptions& options() const { return options_; }
  PromptOptions prompt_options() const;
  // Changes the sampling knobs (e.g. greedy for evaluation, then back). Validated as FromJson.
  void set_options(const LmPolicyOptions& options);
  // The Generate parameters of Act() (stop token <|im_end|>, stop string "</action>"), without
  // row seeds.
  SamplingParams sampling_params() const;

 private:
  std::shared_ptr<TransformerLMImpl> model_;
  std::shared_ptr<const Tokenizer> tokenizer_;
  LmPolicyOptions options_;
  std::vector<PolicyOutput> ActSteps(const std::vector<PolicyInput>& batch);
  std::vector<PolicyOutput> ActEpisode(const std::vector<PolicyInput>& batch);
  // The output fields every layout fills from a generated sequence.
  void FillFromGenerated(const PolicyInput& input, GeneratedSequence& generated, PolicyOutput& out) const;

  int32_t im_end_id_ = 0;
};

// MakePolicy("lm", config): LmPolicy::Load(LmPolicyOptions::FromJson(config)).
std::unique_ptr<Policy> MakeLmPolicy(const Json& config);

}  // namespace turnwise

#endif  // TURNWISE_AGENTS_LM_POLICY_H_
