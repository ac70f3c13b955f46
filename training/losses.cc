#include "training/losses.h"

#include "core/error.h"

namespace turnwise {

const std::vector<std::string>& AggregationNames() {
  static const std::vector<std::string> names = {"token-mean", "seq-mean-token-mean", "seq-mean-token-sum",
                                                 "seq-mean-token-sum-norm"};
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
    case LossAggregation::kSeqMeanTokenSum: {
      at::Tensor tokens = mask.sum(1);
      at::Tensor present = (tokens > 0).to(loss.scalar_type());
      at::Tensor per_seq = masked.sum(1);
      if (mode == LossAggregation::kSeqMeanTokenMean) per_seq = per_seq / tokens.clamp_min(1.0);
      return (per_seq * present).sum() / present.sum().clamp_min(1.0);
    }
    case LossAggregation::kSeqMeanTokenSumNorm: {
      double l = norm_length > 0 ? norm_length : static_cast<double>(loss.size(1));
      return masked.sum() / l;
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
