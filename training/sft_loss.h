// The SFT objective on LibTorch tensors (kept apart from training/sft.h so that code which only
// runs SFT — the CLI — does not parse LibTorch headers).
#ifndef TURNWISE_TRAINING_SFT_LOSS_H_
#define TURNWISE_TRAINING_SFT_LOSS_H_

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <vector>

#include "training/sft.h"

namespace turnwise {

class TransformerLMImpl;

struct SftBatchLoss {
  at::Tensor loss;          // scalar float32, differentiable: mean response NLL (+ prompt term)
  double response_nll = 0;  // mean NLL per response token (what `loss` is without a prompt term)
  int64_t response_tokens;  // tokens the loss averages over (the mask's sum)
  int64_t total_tokens;     // prompt + response tokens of the batch (no padding)
};

// Teacher-forced loss of `batch`: ScoreEpisodes over the examples, then -sum(logprobs * mask) /
// sum(mask) over the responses of trained turns. Only those tokens count — prompts and untrained
// turns are context, padding is masked — so the gradient is exactly that of the targets'
// likelihood.
// With prompt_weight w > 0 the loss adds w × the mean NLL of the prompt tokens (each predicted
// from the ones before it; the first token of a prompt has no prediction): language modelling of
// what the environment shows, an auxiliary objective that uses the ~90 % of the compute spent
// reading prompts.
// At a turn's choice position (SftExample::choices) the response term is
// (1 - label_weight) * log sum_{c in choice} p(c) + label_weight * log p(label).
// With balance_weight b > 0 the loss adds b × the balance term: over the batch's choice positions
// that offer the same tokens, q̄ = the mean of the distributions within the choice
// (p(c) / sum p), and the term is -mean_c log q̄(c) - log |choice| (0 when q̄ is uniform). It pulls
// the average preference among the actions toward even, and leaves each state's own preference
// free — random labels instead make every state's choice uniform, which teaches the model to
// ignore the observation.
SftBatchLoss SftLoss(TransformerLMImpl& model, const std::vector<const SftExample*>& batch,
                     double prompt_weight = 0.0, double label_weight = 0.0, double balance_weight = 0.0);

}  // namespace turnwise

#endif  // TURNWISE_TRAINING_SFT_LOSS_H_
