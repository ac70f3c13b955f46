// Policy losses and regularisers over per-token tensors, as docs/methods.md "Losses" gives them
// (verl's `compute_policy_loss_vanilla`, `agg_loss`, `kl_penalty`).
//
// Shapes: every per-token tensor is [B, T] (B training rows, T response tokens, right-padded);
// `mask` is float 1 at response tokens, 0 at padding; advantages are per row [B] (broadcast to the
// row's tokens) or per token [B, T]. All functions are differentiable in `logprobs`.
#ifndef TURNWISE_TRAINING_LOSSES_H_
#define TURNWISE_TRAINING_LOSSES_H_

#include <torch/torch.h>

#include <string>
#include <utility>
#include <vector>

namespace turnwise {

enum class LossAggregation {
  kTokenMean,
  kSeqMeanTokenMean,
  kSeqMeanTokenSum,
  kSeqMeanTokenSumNorm,
  // LOOP (apple/ml-loop `_gradient_step`; docs/methods.md, Losses, "LOOP"): each rollout's loss
  // is the mean over all its tokens (every turn row of the trajectory), the minibatch sums the
  // rollouts and divides by a FIXED number of rollouts (the planned minibatch size), even when
  // filtering left fewer. Without a MinibatchLayout every row is its own rollout and the
  // denominator is the number of non-empty rows (then it equals seq-mean-token-mean).
  kRolloutMeanFixed,
};

// "token-mean", "seq-mean-token-mean", "seq-mean-token-sum", "seq-mean-token-sum-norm",
// "rollout-mean-fixed". Unknown names throw ConfigError at `key_path`, listing the known ones.
LossAggregation ParseAggregation(const std::string& name, const std::string& key_path = "algorithm.loss.aggregation");
const std::vector<std::string>& AggregationNames();

// agg_loss: token-mean Σℓm/Σm; seq-mean-token-mean mean_i(Σ_tℓm/Σ_tm); seq-mean-token-sum
// mean_i Σ_tℓm; seq-mean-token-sum-norm Σℓm/L with L = `norm_length` (0: the padded width T).
// Fully masked rows are left out of the seq-mean denominators. An all-masked batch gives 0.
at::Tensor AggregateLoss(const at::Tensor& loss, const at::Tensor& mask, LossAggregation mode,
                         double norm_length = 0);

// One row of a minibatch as the aggregations and regularisers see it. The trainer accumulates
// gradients over micro-batches, while several normalisers span the whole minibatch (its token
// count, its trajectories, LOOP's fixed denominator): the layout describes the minibatch, and a
// micro-batch is a list of indices into it, so each micro-batch can add exactly its share.
struct MinibatchRow {
  int64_t trajectory = 0;  // any id; the rows of one trajectory (episode) share it
  int turn = 0;            // the row's turn index in its episode (0-based)
  int64_t tokens = 0;      // response tokens of the row (its mask sum)
  double advantage = 0;    // the row's advantage as the loss sees it
  bool last_turn = false;  // the episode's final action (LLDS answer masking)
};

// Totals of one minibatch. Immutable; cheap to query.
class MinibatchLayout {
 public:
  // `rollouts_denominator` is rollout-mean-fixed's fixed count; 0 uses the number of
  // trajectories with tokens in the minibatch.
  explicit MinibatchLayout(std::vector<MinibatchRow> rows, double rollouts_denominator = 0);
  // One row per tensor row of `mask` [B, T], each its own trajectory, advantage 0.
  static MinibatchLayout FromMask(const at::Tensor& mask);

  const std::vector<MinibatchRow>& rows() const { return rows_; }
  double tokens() const { return tokens_; }                   // Σ row tokens
  double nonempty_rows() const { return nonempty_rows_; }     // rows with tokens
  double trajectories() const { return static_cast<double>(trajectory_rows_.size()); }  // with tokens
  double rollouts_denominator() const { return rollouts_denominator_ > 0 ? rollouts_denominator_ : trajectories(); }
  // Non-empty rows / tokens of trajectory `id` in this minibatch (0 when absent).
  double TrajectoryRows(int64_t id) const;
  double TrajectoryTokens(int64_t id) const;
  // The micro-batch that is the whole minibatch: 0, 1, …, rows − 1.
  std::vector<size_t> AllRows() const;

 private:
  std::vector<MinibatchRow> rows_;
  double rollouts_denominator_ = 0;
  double tokens_ = 0;
  double nonempty_rows_ = 0;
  std::vector<std::pair<int64_t, std::pair<double, double>>> trajectory_rows_;  // id -> (rows, tokens), sorted
};

// The share of one micro-batch in the minibatch aggregate, so that summing the shares of the
// micro-batches gives the aggregate of the whole minibatch. `members[i]` is the layout row of
// tensor row i. Per mode (Σ over the micro-batch's masked tokens, sums per row i):
//   token-mean            Σℓ / layout.tokens()
//   seq-mean-token-mean   Σ_i (Σ_tℓ / n_i) / layout.nonempty_rows()
//   seq-mean-token-sum    Σ_i Σ_tℓ / layout.nonempty_rows()
//   seq-mean-token-sum-norm  (Σℓ / L) · (micro non-empty rows / layout.nonempty_rows()), L =
//                         `norm_length` or the micro-batch's padded width (verl divides each
//                         micro-batch by L and by the gradient-accumulation count)
//   rollout-mean-fixed    Σ_i Σ_tℓ / (trajectory tokens of row i · layout.rollouts_denominator())
at::Tensor AggregateShare(const at::Tensor& loss, const at::Tensor& mask, LossAggregation mode,
                          const MinibatchLayout& layout, const std::vector<size_t>& members, double norm_length = 0);

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

// LOOP's clipped surrogate (apple/ml-loop `_ppo_loss`; docs/methods.md, Losses, "LOOP"), per token:
//   obj = min(ρA, g(A)),  g(A) = (1+ε)·A for A >= 0, A/(1+ε) for A < 0;  ℓ = −obj
// i.e. the ratio is clipped to [1/(1+ε), 1+ε] (symmetric in log space, any ε > 0), no dual
// clip. ρ = exp(clamp(logπ − logπ_old, −20, 20)). `loss` uses `aggregation` over the given
// rows (the trainer aggregates `per_token` with AggregateShare instead).
PolicyLoss LoopClipLoss(const at::Tensor& logprobs, const at::Tensor& old_logprobs, const at::Tensor& advantages,
                        const at::Tensor& mask, double epsilon,
                        LossAggregation aggregation = LossAggregation::kRolloutMeanFixed);

struct GspoOptions {
  double clip_low = 3e-4;   // the paper's ε_low
  double clip_high = 4e-4;  // ε_high
};

// GSPO (arXiv 2507.18071; verl `compute_policy_loss_gspo`; docs/methods.md "GSPO") in its
// GSPO-token form: s_i = exp(mean over row i's tokens of (logπ − logπ_old)), and per token
//   log s_it = sg[log s_i] + logπ_t − sg[logπ_t], clamped <= 10;  ℓ = max(−A s_it, −A clip(s_it, 1−ε_l, 1+ε_h))
// Its value is s_i on every token; with per-row advantages the gradient equals that of the
// sequence-level objective. The aggregation is always seq-mean-token-mean (verl forces it);
// `clip_fraction` is the share of rows whose sequence ratio was clipped.
PolicyLoss GspoLoss(const at::Tensor& logprobs, const at::Tensor& old_logprobs, const at::Tensor& advantages,
                    const at::Tensor& mask, const GspoOptions& options);

// Plain REINFORCE, per token: ℓ = −A · logπ (`importance_ratio` false: the on-policy gradient
// A∇logπ), or ℓ = −A · ρ without any clipping (true: the same gradient at ρ = 1, importance-
// weighted on later epochs; ml-loop's `do_ppo_clipping: false`).
PolicyLoss ReinforceLoss(const at::Tensor& logprobs, const at::Tensor& old_logprobs, const at::Tensor& advantages,
                         const at::Tensor& mask, bool importance_ratio, LossAggregation aggregation,
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
