// Batched sampling from a TransformerLM with a KV cache, and scoring of given responses.
//
// Token log-probs and entropies — one definition everywhere. For the token y sampled at a step
// with raw logits z (the model's float32 output, before temperature, top-k or top-p):
//   logprob = log_softmax(z)[y]                 (temperature 1.0, full vocabulary)
//   entropy = -sum_v softmax(z)_v * log_softmax(z)_v
// This is what PPO-style losses need for the behaviour policy ("old log-probs") and what
// Score() recomputes with gradients, so Generate at any temperature and Score give the same
// numbers for the same tokens (up to float rounding of the different batch shapes, ~1e-6).
// With temperature != 1, top-k or top-p, the distribution actually sampled from differs from
// the one these numbers describe; trainers that need the true behaviour probabilities (rare;
// verl recomputes old log-probs with the training policy anyway) must sample at temperature 1
// without truncation.
//
// Padding layout: prompts are LEFT-padded in the batch (generation), so every row's next token
// sits in the last column; Score additionally right-pads responses. Position ids follow the
// attention mask, so results do not depend on how much padding a row got.
//
// Threads: these functions use the calling thread's LibTorch state (intra-op threads, grad
// mode); Generate enables InferenceMode itself. Not re-entrant on one model while training.
#ifndef TURNWISE_AGENTS_GENERATION_H_
#define TURNWISE_AGENTS_GENERATION_H_

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "core/rng.h"

namespace turnwise {

class TransformerLMImpl;
struct TurnTokens;
using EpisodeTokens = std::vector<TurnTokens>;

struct SamplingParams {
  double temperature = 1.0;      // 0 = greedy (argmax of the raw logits, first index on ties)
  double top_p = 1.0;            // nucleus mass in (0, 1]; 1 = off
  int64_t top_k = 0;             // keep the k largest logits (ties at the k-th value kept); 0 = off
  int64_t max_new_tokens = 128;  // >= 1; a row that reaches it finishes with kLength
  // A row finishes right after sampling one of these; the stop token is kept in its output
  // (with its log-prob), as the learner trains on it.
  std::vector<int32_t> stop_token_ids;
  // A row finishes once the detokenized response contains one of these; the tokens up to and
  // including the one that completed the string are kept (the text may extend past the stop
  // string inside that last token). Requires a Detokenizer.
  std::vector<std::string> stop_strings;
  uint64_t seed = 0;         // same seed + prompts + params + model => same tokens
  // Optional, one per prompt: row i draws from its own Rng(row_seeds[i]) instead of the shared
  // Rng(seed), so a row's tokens do not depend on which other rows share the batch (policies
  // give every episode its own seed). Empty = the shared stream.
  std::vector<uint64_t> row_seeds;
  bool use_kv_cache = true;  // false: recompute the whole sequence every step (reference path)
  int32_t pad_token_id = 0;  // fills left padding; never attended to, any valid id works
};

enum class FinishReason { kStopToken, kStopString, kLength };

// Output for one prompt. All three vectors have the same length (number of generated tokens).
struct GeneratedSequence {
  std::vector<int32_t> tokens;
  std::vector<float> logprobs;   // raw-logit log-prob of each sampled token (see above)
  std::vector<float> entropies;  // raw-logit entropy (nats) of the distribution at each step
  FinishReason finish_reason = FinishReason::kLength;
};

// Turns response token ids into text, for stop strings, e.g.
//   [&tok](const std::vector<int32_t>& ids) { return tok.DecodeBytes(ids); }
// (DecodeBytes rather than Decode: a suffix may start inside a UTF-8 sequence).
// Called with a suffix of a row's response (enough tokens to hold the longest stop string, each
// token being at least one byte) after every step of every row that is still running.
using Detokenizer = std::function<std::string(const std::vector<int32_t>&)>;

// Samples continuations of `prompts` (each non-empty, ids in [0, vocab)). Rows finish
// independently; the batch shrinks as rows finish. Randomness: one turnwise::Rng seeded with
// params.seed draws one uniform per running row per step, in row order, on the CPU (or, with
// params.row_seeds, each row its own Rng) — results are reproducible and identical between the
// cached and the uncached path.
// Throws InvalidArgument for empty prompts, out-of-range ids, invalid params, or stop strings
// without a detokenizer; capacity: prompt length + max_new_tokens positions.
std::vector<GeneratedSequence> Generate(TransformerLMImpl& model,
                                        const std::vector<std::vector<int32_t>>& prompts,
                                        const SamplingParams& params,
                                        const Detokenizer& detokenize = nullptr);

// One episode's growing token sequence with its KV cache (the episode layout): every token fed
// or sampled so far, and the keys and values of all but the last of them, per layer
// [num_key_value_heads, cached, head_dim]. Starts empty; GenerateContinuations fills it. The
// last sampled token is not cached yet: the next continuation feeds it first.
struct CachedSequence {
  std::vector<int32_t> tokens;
  std::vector<at::Tensor> keys;
  std::vector<at::Tensor> values;
  int64_t cached() const;  // positions in the cache (0 when empty)
};

// The episode layout's turn: appends appended[i] (a non-empty segment: the next observation
// message) to sequences[i], feeds the model only what its cache lacks, and samples a
// continuation of each row as Generate does (same params, stop rules, row seeds, log-prob and
// entropy definitions; always with the KV cache). Each sequence then holds the appended and
// the sampled tokens, and the cache of all but the last. Rows with caches of different lengths
// share one batch: each row's cached positions are left-padded and masked, its positions
// continue its own sequence, so a row's tokens equal what Generate would sample from the whole
// sequence as one prompt (differential test) and do not depend on the other rows. Rows that
// start here (empty sequences) and begin with the same tokens — a prompt template's header —
// share that prefix: it runs once for all of them.
// Throws InvalidArgument for a mismatched number of segments, an empty segment on an empty
// sequence, out-of-range ids or invalid params.
std::vector<GeneratedSequence> GenerateContinuations(TransformerLMImpl& model,
                                                     const std::vector<CachedSequence*>& sequences,
                                                     const std::vector<std::vector<int32_t>>& appended,
                                                     const SamplingParams& params,
                                                     const Detokenizer& detokenize = nullptr);

// Per-token results of Score, all [B, R] with R the longest response.
struct TokenScores {
  at::Tensor logprobs;   // float32; differentiable when grad mode is on; 0 at padding
  at::Tensor entropies;  // float32; differentiable; 0 at padding
  at::Tensor mask;       // float32 1 = response token, 0 = padding
};

// Teacher-forced log-probs and entropies of `responses` given `prompts` (same definition as
// Generate's; batched, one forward pass). prompts[i] must be non-empty; responses may be empty.
// Gradients flow to the model parameters unless the caller disabled grad mode.
// `temperature` != 1 scores the tempered distribution softmax(z / temperature) instead (log-probs
// and entropies alike): what a trainer optimises when its rollouts sample at that temperature,
// as verl's actor does (it divides the logits by the rollout temperature before log_softmax).
TokenScores Score(TransformerLMImpl& model, const std::vector<std::vector<int32_t>>& prompts,
                  const std::vector<std::vector<int32_t>>& responses, double temperature = 1.0);

// Teacher-forced log-probs and entropies of every response of whole episodes (the episode
// layout's learner: one forward pass per episode, not one per turn). Row k of the result is the
// k-th turn over all episodes in order, [turns, longest response]; a turn's scores equal those of
// Score(its whole preceding context, its response) up to float rounding (differential test).
// Each episode's first turn needs a non-empty context. Gradients flow unless grad mode is off.
// Episodes that begin with the same tokens (every prompt template has a fixed header) share
// that prefix: it runs once per call and the rest of every episode attends to its keys and
// values, so a batch costs its distinct tokens (the numbers and gradients are unchanged: a
// differential test holds them to the unshared path).
TokenScores ScoreEpisodes(TransformerLMImpl& model, const std::vector<const EpisodeTokens*>& episodes,
                          double temperature = 1.0);

// The length of the prefix ScoreEpisodes shares: the tokens all episodes' first contexts begin
// with, short of each one's last context token. Sharing starts at kMinSharedPrefix tokens.
int64_t SharedPrefixLength(const std::vector<const EpisodeTokens*>& episodes);
inline constexpr int64_t kMinSharedPrefix = 16;

// log_softmax(logits)[target] and the entropy, over the last dimension.
//   logits float [..., V], targets int64 [...]  ->  (logprobs [...], entropies [...]) float32.
std::pair<at::Tensor, at::Tensor> TokenLogprobsAndEntropies(const at::Tensor& logits,
                                                            const at::Tensor& targets);

// Sampling primitives, exposed for tests and for other samplers.
//
// Applies temperature (> 0), then top-k, then top-p to float logits [B, V]: returns
// logits / temperature with every excluded entry set to -inf. Top-p keeps, in order of
// decreasing probability, each token whose preceding cumulative mass is < top_p (so the
// smallest prefix reaching top_p, and always the most likely token).
at::Tensor FilterLogits(const at::Tensor& logits, double temperature, int64_t top_k, double top_p);

// Draws one token per row of filtered logits [B, V] (as FilterLogits returns) by inverse CDF
// on the CPU with one rng.UniformDouble() per row. Returns int64 [B] on the CPU.
at::Tensor SampleFromFilteredLogits(const at::Tensor& filtered_logits, Rng& rng);
// As above with one generator per row (rngs.size() == B).
at::Tensor SampleFromFilteredLogits(const at::Tensor& filtered_logits,
                                    const std::vector<Rng*>& rngs);

}  // namespace turnwise

#endif  // TURNWISE_AGENTS_GENERATION_H_
