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
  at::Tensor loss;          // scalar float32: mean NLL per response token; differentiable
  int64_t response_tokens;  // tokens the loss averages over (the mask's sum)
  int64_t total_tokens;     // prompt + response tokens of the batch (no padding)
};

// Teacher-forced loss of `batch`: Score(model, prompts, responses), then
// -sum(logprobs * mask) / sum(mask). Only response tokens count — the prompt is context, and
// padding is masked — so the gradient is exactly that of the response tokens' likelihood.
SftBatchLoss SftLoss(TransformerLMImpl& model, const std::vector<const SftExample*>& batch);

}  // namespace turnwise

#endif  // TURNWISE_TRAINING_SFT_LOSS_H_
