// The ChatML prompt format used by Qwen2/2.5/3 (and many fine-tunes): each message is
//
//   <|im_start|>{role}\n{content}<|im_end|>\n
//
// and a generation prompt is `<|im_start|>assistant\n`. This renders exactly what Qwen's Jinja
// chat template produces for plain messages (no tools, no tool calls), with two deliberate
// simplifications that keep the prompt a pure function of the messages:
//   * No default system prompt. Qwen2.5's template inserts "You are Qwen, created by Alibaba
//     Cloud. You are a helpful assistant." when messages[0] is not a system message; here a
//     system message appears only if the caller gives one (as Qwen3's template does).
//   * No <think> rewriting. Qwen3's template strips "<think>...</think>" reasoning from
//     assistant turns before the last user query and, with enable_thinking=false, appends
//     "<think>\n\n</think>\n\n" after the generation prompt. Content is rendered verbatim here;
//     callers that want the empty think block append it themselves.
// Pure functions, thread-safe.
#ifndef TURNWISE_AGENTS_CHAT_TEMPLATE_H_
#define TURNWISE_AGENTS_CHAT_TEMPLATE_H_

#include <string>
#include <string_view>
#include <vector>

namespace turnwise {

inline constexpr std::string_view kChatMLStart = "<|im_start|>";
inline constexpr std::string_view kChatMLEnd = "<|im_end|>";

struct ChatMessage {
  std::string role;     // "system", "user", "assistant", "tool", ...
  std::string content;  // rendered verbatim (no escaping, no trimming)
};

// Renders `messages` in order, then `<|im_start|>assistant\n` when add_generation_prompt.
// Throws InvalidArgument when a role is empty or contains a newline or a ChatML marker (it would
// corrupt the framing). Content is not checked: to keep untrusted content from injecting
// "<|im_end|>" as a control token, encode it with EncodeOptions{.match_added_tokens = false}.
std::string RenderChatML(const std::vector<ChatMessage>& messages, bool add_generation_prompt);

}  // namespace turnwise

#endif  // TURNWISE_AGENTS_CHAT_TEMPLATE_H_
