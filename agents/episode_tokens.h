// The episode layout's token view of an episode: one growing sequence, cut into turns. Each turn
// is the context appended before the agent answers — the system prompt and first user message
// on turn 0; on later turns the end of the previous answer when it lacked <|im_end|>, then the
// next user message and the assistant header — followed by the agent's sampled response tokens.
// The sequence is the concatenation of all of them, in order; the loss falls on responses only.
//
// Torch-free: the policy, SFT and the trainer build these; agents/generation.h scores them.
#ifndef TURNWISE_AGENTS_EPISODE_TOKENS_H_
#define TURNWISE_AGENTS_EPISODE_TOKENS_H_

#include <cstdint>
#include <vector>

namespace turnwise {

struct TurnTokens {
  std::vector<int32_t> context;   // tokens appended before the response (not trained on)
  std::vector<int32_t> response;  // the agent's tokens (token-in/token-out)
};

using EpisodeTokens = std::vector<TurnTokens>;

// Total tokens of the first `turns` turns (all when turns < 0).
inline int64_t EpisodeLength(const EpisodeTokens& episode, int64_t turns = -1) {
  int64_t n = 0;
  for (size_t t = 0; t < episode.size() && (turns < 0 || static_cast<int64_t>(t) < turns); ++t) {
    n += static_cast<int64_t>(episode[t].context.size() + episode[t].response.size());
  }
  return n;
}

}  // namespace turnwise

#endif  // TURNWISE_AGENTS_EPISODE_TOKENS_H_
