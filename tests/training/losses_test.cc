// Policy losses and KL estimators against the worked examples of research/algorithms.md §7.1, and
// their gradients against finite differences.
#include "training/losses.h"

#include <gtest/gtest.h>

#include "core/error.h"

namespace turnwise {
namespace {

at::Tensor T(std::vector<double> v, int64_t rows = 1) {
  auto t = torch::tensor(v, torch::kFloat64);
  return t.reshape({rows, static_cast<int64_t>(v.size()) / rows});
}

// One token with advantage `a` and ratio `rho`.
double TokenLoss(double a, double rho, PpoClipOptions o) {
  at::Tensor logp = T({std::log(rho)});
  at::Tensor old = T({0.0});
  return PpoClipLoss(logp, old, T({a}).reshape({1}), T({1.0}), o, LossAggregation::kTokenMean).loss.item<double>();
}

TEST(PpoClip, WorkedExamples) {
  PpoClipOptions standard;                 // ε = (0.2, 0.2), c = 3
  PpoClipOptions dapo{0.2, 0.28, 3.0};     // clip-higher
  EXPECT_NEAR(TokenLoss(+1, 1.25, standard), -1.20, 1e-9);
  EXPECT_NEAR(TokenLoss(+1, 1.25, dapo), -1.25, 1e-9);
  EXPECT_NEAR(TokenLoss(+1, 1.35, standard), -1.20, 1e-9);
  EXPECT_NEAR(TokenLoss(+1, 1.35, dapo), -1.28, 1e-9);
  EXPECT_NEAR(TokenLoss(-1, 0.7, standard), 0.80, 1e-9);
  EXPECT_NEAR(TokenLoss(-1, 0.7, dapo), 0.80, 1e-9);
  EXPECT_NEAR(TokenLoss(-1, 4.0, standard), 3.0, 1e-9);                        // dual clip caps it
  EXPECT_NEAR(TokenLoss(-1, 4.0, PpoClipOptions{0.2, 0.2, 0.0}), 4.0, 1e-9);  // dual clip off
}

TEST(PpoClip, ClipFractionCountsTokensWhereTheClippedTermWins) {
  at::Tensor logp = T({std::log(1.25), std::log(1.0), std::log(0.7), 0.0}, 2);
  at::Tensor old = at::zeros_like(logp);
  at::Tensor adv = torch::tensor({1.0, -1.0}, torch::kFloat64);
  at::Tensor mask = T({1, 1, 1, 0}, 2);
  PolicyLoss l = PpoClipLoss(logp, old, adv, mask, {}, LossAggregation::kTokenMean);
  // Token 1 (A=+1, ρ=1.25) and token 3 (A=−1, ρ=0.7) are clipped; 2 of 3 real tokens.
  EXPECT_NEAR(l.clip_fraction, 2.0 / 3.0, 1e-9);
  EXPECT_NEAR(l.loss.item<double>(), (-1.2 + -1.0 + 0.8) / 3.0, 1e-9);
  EXPECT_EQ(l.per_token[1][1].item<double>(), 0.0);
}

TEST(Aggregation, WorkedExample) {
  at::Tensor loss = T({1, 1, 0, 0, 0.5, 0.5, 0.5, 0.5}, 2);
  at::Tensor mask = T({1, 1, 0, 0, 1, 1, 1, 1}, 2);
  EXPECT_NEAR(AggregateLoss(loss, mask, LossAggregation::kTokenMean).item<double>(), 4.0 / 6.0, 1e-9);
  EXPECT_NEAR(AggregateLoss(loss, mask, LossAggregation::kSeqMeanTokenMean).item<double>(), 0.75, 1e-9);
  EXPECT_NEAR(AggregateLoss(loss, mask, LossAggregation::kSeqMeanTokenSum).item<double>(), 2.0, 1e-9);
  EXPECT_NEAR(AggregateLoss(loss, mask, LossAggregation::kSeqMeanTokenSumNorm).item<double>(), 1.0, 1e-9);
  EXPECT_NEAR(AggregateLoss(loss, mask, LossAggregation::kSeqMeanTokenSumNorm, 8).item<double>(), 0.5, 1e-9);
}

TEST(Aggregation, FullyMaskedRowsLeaveTheSeqMeans) {
  at::Tensor loss = T({2, 2, 9, 9}, 2);
  at::Tensor mask = T({1, 1, 0, 0}, 2);
  EXPECT_NEAR(AggregateLoss(loss, mask, LossAggregation::kSeqMeanTokenMean).item<double>(), 2.0, 1e-9);
  EXPECT_NEAR(AggregateLoss(loss, mask, LossAggregation::kSeqMeanTokenSum).item<double>(), 4.0, 1e-9);
  EXPECT_NEAR(AggregateLoss(loss, at::zeros_like(mask), LossAggregation::kTokenMean).item<double>(), 0.0, 1e-12);
}

TEST(Aggregation, NamesAndErrors) {
  for (const auto& n : AggregationNames()) EXPECT_EQ(AggregationNames()[static_cast<size_t>(ParseAggregation(n))], n);
  try {
    ParseAggregation("token_mean");
    FAIL();
  } catch (const ConfigError& e) {
    EXPECT_EQ(e.key_path(), "algorithm.loss.aggregation");
    EXPECT_NE(std::string(e.what()).find("token-mean"), std::string::npos);
  }
}

TEST(Kl, WorkedExample) {
  at::Tensor logp = T({-1.0});
  at::Tensor ref = T({-1.2});
  EXPECT_NEAR(KlPenalty(logp, ref, KlEstimator::kK1).item<double>(), 0.2, 1e-9);
  EXPECT_NEAR(KlPenalty(logp, ref, KlEstimator::kK2).item<double>(), 0.02, 1e-9);
  EXPECT_NEAR(KlPenalty(logp, ref, KlEstimator::kK3).item<double>(), std::exp(-0.2) + 0.2 - 1.0, 1e-12);
  EXPECT_NEAR(KlPenalty(logp, ref, KlEstimator::kK3).item<double>(), 0.0187, 1e-4);
  EXPECT_NEAR(KlPenalty(logp, ref, KlEstimator::kK3StraightThrough).item<double>(), 0.0187, 1e-4);
  EXPECT_NEAR(KlPenalty(T({-30.0}), T({0.0}), KlEstimator::kK3).item<double>(), 10.0, 1e-9);  // clamped
  EXPECT_EQ(ParseKlEstimator("low_var_kl"), KlEstimator::kK3);
  EXPECT_THROW(ParseKlEstimator("k4"), ConfigError);
}

// d loss / d logprobs by autograd vs central differences, in float64.
void GradCheck(const std::function<at::Tensor(const at::Tensor&)>& f, const at::Tensor& at_point) {
  at::Tensor x = at_point.clone().set_requires_grad(true);
  f(x).backward();
  at::Tensor analytic = x.grad();
  const double h = 1e-6;
  auto flat = at_point.reshape({-1});
  for (int64_t i = 0; i < flat.numel(); ++i) {
    at::Tensor up = flat.clone(), down = flat.clone();
    up[i] += h;
    down[i] -= h;
    double numeric = (f(up.reshape(at_point.sizes())).item<double>() - f(down.reshape(at_point.sizes())).item<double>()) /
                     (2 * h);
    EXPECT_NEAR(analytic.reshape({-1})[i].item<double>(), numeric, 1e-6) << "element " << i;
  }
}

TEST(Gradients, LossesMatchFiniteDifferences) {
  // Ratios chosen away from the clip boundaries (the loss has kinks there).
  at::Tensor old = T({-1.0, -2.0, -0.5, -1.5, -0.7, -3.0}, 2);
  at::Tensor logp = old + T({0.05, -0.4, 0.3, 0.1, -0.05, 1.6}, 2);
  at::Tensor adv = torch::tensor({0.8, -1.3}, torch::kFloat64);
  at::Tensor mask = T({1, 1, 1, 1, 1, 0}, 2);
  for (auto agg : {LossAggregation::kTokenMean, LossAggregation::kSeqMeanTokenMean, LossAggregation::kSeqMeanTokenSum,
                   LossAggregation::kSeqMeanTokenSumNorm}) {
    GradCheck([&](const at::Tensor& x) { return PpoClipLoss(x, old, adv, mask, {}, agg).loss; }, logp);
  }
  at::Tensor ref = old - 0.3;
  for (auto est : {KlEstimator::kK1, KlEstimator::kK2, KlEstimator::kK3}) {
    GradCheck([&](const at::Tensor& x) { return AggregateLoss(KlPenalty(x, ref, est), mask, LossAggregation::kTokenMean); },
              logp);
  }
  // k3+: k2's gradient.
  at::Tensor x = logp.clone().set_requires_grad(true);
  KlPenalty(x, ref, KlEstimator::kK3StraightThrough).sum().backward();
  EXPECT_TRUE(torch::allclose(x.grad(), logp - ref));
}

TEST(Gradients, ClippedTokensCarryNoGradient) {
  at::Tensor old = T({0.0, 0.0});
  at::Tensor logp = T({std::log(1.5), std::log(1.1)}).set_requires_grad(true);
  PpoClipLoss(logp, old, torch::tensor({1.0}, torch::kFloat64), T({1, 1}), {}, LossAggregation::kTokenMean).loss.backward();
  EXPECT_EQ(logp.grad()[0][0].item<double>(), 0.0);                       // clipped at 1.2
  EXPECT_NEAR(logp.grad()[0][1].item<double>(), -1.1 / 2.0, 1e-12);       // −A ρ / tokens
}

}  // namespace
}  // namespace turnwise
