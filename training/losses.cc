#include "training/losses.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "core/error.h"

namespace turnwise {

const std::vector<std::string>& AggregationNames() {
  static const std::vector<std::string> names = {"token-mean", "seq-mean-token-mean", "seq-mean-token-sum",
                                                 "seq-mean-token-sum-norm", "rollout-mean-fixed"};
  return names;
}

LossAggregation ParseAggregation(const std::string& name, const std::string& key_path) {
  const auto& names = AggregationNames();
  for (size_t i = 0; i < names.size(); ++i) {
    if (names[i] == name) return static_cast<LossAggregation>(i);
  }
  throw ConfigError(key_path, UnknownNameMessage("loss aggregation", name, names));
}

at::Tensor AggregateLoss(const at::Tensor& loss, const at::Tensor& mask, LossAggregation mode, double norm_length) {
  TORCH_CHECK(loss.sizes() == mask.sizes(), "loss and mask shapes differ");
  at::Tensor masked = loss * mask;
  switch (mode) {
    case LossAggregation::kTokenMean:
      return masked.sum() / mask.sum().clamp_min(1.0);
    case LossAggregation::kSeqMeanTokenMean:
    case LossAggregation::kRolloutMeanFixed:  // each row its own rollout, denominator = rows
    case LossAggregation::kSeqMeanTokenSum: {
      at::Tensor tokens = mask.sum(1);
      at::Tensor present = (tokens > 0).to(loss.scalar_type());
      at::Tensor per_seq = masked.sum(1);
      if (mode != LossAggregation::kSeqMeanTokenSum) per_seq = per_seq / tokens.clamp_min(1.0);
      return (per_seq * present).sum() / present.sum().clamp_min(1.0);
    }
    case LossAggregation::kSeqMeanTokenSumNorm: {
      double l = norm_length > 0 ? norm_length : static_cast<double>(loss.size(1));
      return masked.sum() / l;
    }
  }
  throw InvalidArgument("unknown loss aggregation");
}

MinibatchLayout::MinibatchLayout(std::vector<MinibatchRow> rows, double rollouts_denominator)
    : rows_(std::move(rows)), rollouts_denominator_(rollouts_denominator) {
  std::map<int64_t, std::pair<double, double>> per_trajectory;
  for (const auto& r : rows_) {
    tokens_ += static_cast<double>(r.tokens);
    if (r.tokens <= 0) continue;
    nonempty_rows_ += 1;
    auto& t = per_trajectory[r.trajectory];
    t.first += 1;
    t.second += static_cast<double>(r.tokens);
  }
  trajectory_rows_.assign(per_trajectory.begin(), per_trajectory.end());
}

MinibatchLayout MinibatchLayout::FromMask(const at::Tensor& mask) {
  at::Tensor tokens = mask.sum(1).to(at::kDouble).contiguous();
  std::vector<MinibatchRow> rows;
  for (int64_t i = 0; i < tokens.size(0); ++i) {
    MinibatchRow r;
    r.trajectory = i;
    r.tokens = static_cast<int64_t>(std::llround(tokens[i].item<double>()));
    rows.push_back(r);
  }
  return MinibatchLayout(std::move(rows));
}

double MinibatchLayout::TrajectoryRows(int64_t id) const {
  auto it = std::lower_bound(trajectory_rows_.begin(), trajectory_rows_.end(), id,
                             [](const auto& e, int64_t key) { return e.first < key; });
  return it != trajectory_rows_.end() && it->first == id ? it->second.first : 0.0;
}

double MinibatchLayout::TrajectoryTokens(int64_t id) const {
  auto it = std::lower_bound(trajectory_rows_.begin(), trajectory_rows_.end(), id,
                             [](const auto& e, int64_t key) { return e.first < key; });
  return it != trajectory_rows_.end() && it->first == id ? it->second.second : 0.0;
}

std::vector<size_t> MinibatchLayout::AllRows() const {
  std::vector<size_t> all(rows_.size());
  for (size_t i = 0; i < all.size(); ++i) all[i] = i;
  return all;
}

at::Tensor AggregateShare(const at::Tensor& loss, const at::Tensor& mask, LossAggregation mode,
                          const MinibatchLayout& layout, const std::vector<size_t>& members, double norm_length) {
  TORCH_CHECK(loss.sizes() == mask.sizes(), "loss and mask shapes differ");
  TORCH_CHECK(static_cast<int64_t>(members.size()) == mask.size(0), "one layout row per tensor row");
  at::Tensor masked = loss * mask;
  at::Tensor per_row = masked.sum(1);
  at::Tensor tokens = mask.sum(1);
  switch (mode) {
    case LossAggregation::kTokenMean:
      return masked.sum() / std::max(1.0, layout.tokens());
    case LossAggregation::kSeqMeanTokenMean:
      return (per_row / tokens.clamp_min(1.0)).sum() / std::max(1.0, layout.nonempty_rows());
    case LossAggregation::kSeqMeanTokenSum:
      return per_row.sum() / std::max(1.0, layout.nonempty_rows());
    case LossAggregation::kSeqMeanTokenSumNorm: {
      double l = norm_length > 0 ? norm_length : static_cast<double>(loss.size(1));
      double micro_rows = (tokens > 0).sum().item<double>();
      return masked.sum() / l * (micro_rows / std::max(1.0, layout.nonempty_rows()));
    }
    case LossAggregation::kRolloutMeanFixed: {
      std::vector<double> weights(members.size(), 0.0);
      double denominator = std::max(1.0, layout.rollouts_denominator());
      for (size_t i = 0; i < members.size(); ++i) {
        double traj_tokens = layout.TrajectoryTokens(layout.rows().at(members[i]).trajectory);
        weights[i] = traj_tokens > 0 ? 1.0 / (traj_tokens * denominator) : 0.0;
      }
      return (per_row * torch::tensor(weights, loss.options().requires_grad(false))).sum();
    }
  }
  throw InvalidArgument("unknown loss aggregation");
}

at::Tensor TokenAdvantages(const at::Tensor& advantages, const at::Tensor& mask) {
  if (advantages.dim() == 1) return advantages.unsqueeze(1).expand_as(mask);
  TORCH_CHECK(advantages.sizes() == mask.sizes(), "per-token advantages must match the mask's shape");
  return advantages;
}

PolicyLoss PpoClipLoss(const at::Tensor& logprobs, const at::Tensor& old_logprobs, const at::Tensor& advantages,
                       const at::Tensor& mask, const PpoClipOptions& o, LossAggregation aggregation,
                       double norm_length) {
  at::Tensor adv = TokenAdvantages(advantages, mask);
  at::Tensor log_ratio = (logprobs - old_logprobs).clamp(-20.0, 20.0);
  at::Tensor ratio = log_ratio.exp();
  at::Tensor l1 = -adv * ratio;
  at::Tensor l2 = -adv * ratio.clamp(1.0 - o.clip_low, 1.0 + o.clip_high);
  at::Tensor clipped = at::maximum(l1, l2);
  at::Tensor loss = clipped;
  at::Tensor dual_active = at::zeros_like(mask, mask.options().dtype(at::kBool));
  if (o.dual_clip_c > 1.0) {
    at::Tensor cap = -adv * o.dual_clip_c;
    at::Tensor negative = adv < 0;
    dual_active = negative & (clipped > cap);
    loss = at::where(negative, at::minimum(clipped, cap), clipped);
  }
  PolicyLoss out;
  out.per_token = loss * mask;
  out.loss = AggregateLoss(loss, mask, aggregation, norm_length);
  at::NoGradGuard no_grad;
  double tokens = std::max(1.0, mask.sum().item<double>());
  out.clip_fraction = ((l2 > l1).to(mask.scalar_type()) * mask).sum().item<double>() / tokens;
  out.dual_clip_fraction = (dual_active.to(mask.scalar_type()) * mask).sum().item<double>() / tokens;
  out.approx_kl = ((-log_ratio) * mask).sum().item<double>() / tokens;
  return out;
}

namespace {

void FillMonitors(PolicyLoss& out, const at::Tensor& clipped, const at::Tensor& log_ratio, const at::Tensor& mask) {
  at::NoGradGuard no_grad;
  double tokens = std::max(1.0, mask.sum().item<double>());
  out.clip_fraction = (clipped.to(mask.scalar_type()) * mask).sum().item<double>() / tokens;
  out.approx_kl = ((-log_ratio) * mask).sum().item<double>() / tokens;
}

}  // namespace

PolicyLoss LoopClipLoss(const at::Tensor& logprobs, const at::Tensor& old_logprobs, const at::Tensor& advantages,
                        const at::Tensor& mask, double epsilon, LossAggregation aggregation) {
  TORCH_CHECK(epsilon > 0, "LOOP epsilon must be positive");
  at::Tensor adv = TokenAdvantages(advantages, mask);
  at::Tensor log_ratio = (logprobs - old_logprobs).clamp(-20.0, 20.0);
  at::Tensor ratio = log_ratio.exp();
  at::Tensor unclipped = ratio * adv;
  at::Tensor bound = at::where(adv >= 0, adv * (1.0 + epsilon), adv / (1.0 + epsilon));
  at::Tensor loss = -at::minimum(unclipped, bound);
  PolicyLoss out;
  out.per_token = loss * mask;
  out.loss = AggregateLoss(loss, mask, aggregation);
  FillMonitors(out, bound < unclipped, log_ratio, mask);
  return out;
}

PolicyLoss GspoLoss(const at::Tensor& logprobs, const at::Tensor& old_logprobs, const at::Tensor& advantages,
                    const at::Tensor& mask, const GspoOptions& o) {
  at::Tensor adv = TokenAdvantages(advantages, mask);
  at::Tensor log_ratio = logprobs - old_logprobs;
  at::Tensor lengths = mask.sum(1, /*keepdim=*/true);
  at::Tensor seq_log_ratio = (log_ratio * mask).sum(1, true) / lengths.clamp_min(1.0);
  at::Tensor token_log_s = (seq_log_ratio.detach() + logprobs - logprobs.detach()).clamp_max(10.0);
  at::Tensor s = token_log_s.exp();
  at::Tensor l1 = -adv * s;
  at::Tensor l2 = -adv * s.clamp(1.0 - o.clip_low, 1.0 + o.clip_high);
  at::Tensor loss = at::maximum(l1, l2);
  PolicyLoss out;
  out.per_token = loss * mask;
  out.loss = AggregateLoss(loss, mask, LossAggregation::kSeqMeanTokenMean);
  at::NoGradGuard no_grad;
  at::Tensor present = (lengths.squeeze(1) > 0).to(mask.scalar_type());
  at::Tensor row_clipped = ((l2 > l1).to(mask.scalar_type()) * mask).amax(1);
  out.clip_fraction = (row_clipped * present).sum().item<double>() / std::max(1.0, present.sum().item<double>());
  double tokens = std::max(1.0, mask.sum().item<double>());
  out.approx_kl = ((-log_ratio) * mask).sum().item<double>() / tokens;
  return out;
}

PolicyLoss ReinforceLoss(const at::Tensor& logprobs, const at::Tensor& old_logprobs, const at::Tensor& advantages,
                         const at::Tensor& mask, bool importance_ratio, LossAggregation aggregation,
                         double norm_length) {
  at::Tensor adv = TokenAdvantages(advantages, mask);
  at::Tensor log_ratio = (logprobs - old_logprobs).clamp(-20.0, 20.0);
  at::Tensor loss = importance_ratio ? -adv * log_ratio.exp() : -adv * logprobs;
  PolicyLoss out;
  out.per_token = loss * mask;
  out.loss = AggregateLoss(loss, mask, aggregation, norm_length);
  FillMonitors(out, at::zeros_like(mask, mask.options().dtype(at::kBool)), log_ratio, mask);
  return out;
}

KlEstimator ParseKlEstimator(const std::string& name, const std::string& key_path) {
  if (name == "k1") return KlEstimator::kK1;
  if (name == "k2") return KlEstimator::kK2;
  if (name == "k3" || name == "low_var_kl") return KlEstimator::kK3;
  if (name == "k3+") return KlEstimator::kK3StraightThrough;
  throw ConfigError(key_path, UnknownNameMessage("KL estimator", name, {"k1", "k2", "k3", "k3+", "low_var_kl"}));
}

at::Tensor KlPenalty(const at::Tensor& logprobs, const at::Tensor& ref_logprobs, KlEstimator estimator) {
  at::Tensor diff = logprobs - ref_logprobs;
  switch (estimator) {
    case KlEstimator::kK1:
      return diff;
    case KlEstimator::kK2:
      return 0.5 * diff.pow(2);
    case KlEstimator::kK3:
    case KlEstimator::kK3StraightThrough: {
      at::Tensor d = (ref_logprobs - logprobs).clamp(-20.0, 20.0);
      at::Tensor k3 = (d.exp() - d - 1.0).clamp(-10.0, 10.0);
      if (estimator == KlEstimator::kK3) return k3;
      at::Tensor k2 = 0.5 * diff.pow(2);
      return k2 + (k3 - k2).detach();
    }
  }
  throw InvalidArgument("unknown KL estimator");
}

}  // namespace turnwise
