// Policy losses and regularisers over per-token tensors, as research/algorithms.md §7.1 gives them
// (verl's `compute_policy_loss_vanilla`, `agg_loss`, `kl_penalty`).
//
// Shapes: every per-token tensor is [B, T] (B training rows, T response tokens, right-padded);
// `mask` is float 1 at response tokens, 0 at padding; advantages are per row [B] (broadcast to the
// row's tokens) or per token [B, T]. All functions are differentiable in `logprobs`.
#ifndef TURNWISE_TRAINING_LOSSES_H_
#define TURNWISE_TRAINING_LOSSES_H_

#include <torch/torch.h>

#include <string>
#include <vector>

namespace turnwise {

enum class LossAggregation { kTokenMean, kSeqMeanTokenMean, kSeqMeanTokenSum, kSeqMeanTokenSumNorm };

// "token-mean", "seq-mean-token-mean", "seq-mean-token-sum", "seq-mean-token-sum-norm". Unknown
// names throw ConfigError at `key_path`, listing the known ones.
LossAggregation ParseAggregation(const std::string& name, const std::string& key_path = "algorithm.loss.aggregation");
const std::vector<std::string>& AggregationNames();

// agg_loss: token-mean Σℓm/Σm; seq-mean-token-mean mean_i(Σ_tℓm/Σ_tm); seq-mean-token-sum
// mean_i Σ_tℓm; seq-mean-token-sum-norm Σℓm/L with L = `norm_length` (0: the padded width T).
// Fully masked rows are left out of the seq-mean denominators. An all-masked batch gives 0.
at::Tensor AggregateLoss(const at::Tensor& loss, const at::Tensor& mask, LossAggregation mode,
                         double norm_length = 0);

struct PpoClipOptions {
  double clip_low = 0.2;     // ε_low
  double clip_high = 0.2;    // ε_high (DAPO's clip-higher: 0.28)
  double dual_clip_c = 3.0;  // caps −A·ρ for A < 0; <= 1 turns the dual clip off
};

struct PolicyLoss {
  at::Tensor loss;            // scalar, aggregated
  at::Tensor per_token;       // [B, T] ℓ before aggregation (masked positions 0)
  double clip_fraction = 0;   // share of tokens where the clipped term was the active one
  double dual_clip_fraction = 0;
  double approx_kl = 0;       // mean over tokens of (log π_old − log π), a drift monitor
};

// ρ = exp(clamp(logπ − logπ_old, −20, 20)); ℓ = max(−Aρ, −A·clip(ρ, 1−ε_low, 1+ε_high)); for
// A < 0, ℓ = min(ℓ, −A·c).
PolicyLoss PpoClipLoss(const at::Tensor& logprobs, const at::Tensor& old_logprobs, const at::Tensor& advantages,
                       const at::Tensor& mask, const PpoClipOptions& options, LossAggregation aggregation,
                       double norm_length = 0);

enum class KlEstimator { kK1, kK2, kK3, kK3StraightThrough };

// "k1", "k2", "k3" (alias "low_var_kl"), "k3+". Unknown → ConfigError at `key_path`.
KlEstimator ParseKlEstimator(const std::string& name, const std::string& key_path = "algorithm.kl.estimator");

// Per-token KL estimate of π from π_ref: k1 = logπ − logπ_ref; k2 = ½(logπ − logπ_ref)²;
// k3 = e^d − d − 1 with d = logπ_ref − logπ clamped to [−20, 20] and the result to [−10, 10];
// k3+ has k3's value and k2's gradient.
at::Tensor KlPenalty(const at::Tensor& logprobs, const at::Tensor& ref_logprobs, KlEstimator estimator);

// Broadcasts per-row advantages [B] to [B, T]; per-token [B, T] pass through.
at::Tensor TokenAdvantages(const at::Tensor& advantages, const at::Tensor& mask);

}  // namespace turnwise

#endif  // TURNWISE_TRAINING_LOSSES_H_
