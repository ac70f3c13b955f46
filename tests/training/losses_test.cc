// Policy losses and KL estimators against hand-computed worked examples (docs/methods.md
// "Losses"), and their gradients against finite differences.
#include "training/losses.h"

#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <set>

#include "core/error.h"
#include "training/schedules.h"

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

// ---- LOOP (docs/methods.md, Losses, "LOOP"; ε = 0.1 → clip [0.9091, 1.1]) ----

at::Tensor LogRatios(std::vector<double> ratios) {
  for (double& r : ratios) r = std::log(r);
  return T(ratios);
}

TEST(LoopClip, WorkedExample) {
  at::Tensor old = at::zeros({1, 3}, torch::kFloat64);
  at::Tensor mask = at::ones({1, 3}, torch::kFloat64);
  at::Tensor logp = LogRatios({1.05, 1.2, 0.85});
  PolicyLoss win = LoopClipLoss(logp, old, T({1.0}).reshape({1}), mask, 0.1);
  EXPECT_NEAR(win.per_token[0][0].item<double>(), -1.05, 1e-9);
  EXPECT_NEAR(win.per_token[0][1].item<double>(), -1.1, 1e-9);  // clipped at 1 + ε
  EXPECT_NEAR(win.per_token[0][2].item<double>(), -0.85, 1e-9);
  EXPECT_NEAR(win.loss.item<double>(), -1.0, 1e-9);
  EXPECT_NEAR(win.clip_fraction, 1.0 / 3.0, 1e-9);
  PolicyLoss lose = LoopClipLoss(logp, old, T({-0.5}).reshape({1}), mask, 0.1);
  EXPECT_NEAR(lose.per_token[0][0].item<double>(), 0.525, 1e-9);
  EXPECT_NEAR(lose.per_token[0][1].item<double>(), 0.6, 1e-9);
  EXPECT_NEAR(lose.per_token[0][2].item<double>(), 0.5 / 1.1, 1e-9);  // clipped at 1/(1 + ε)
  EXPECT_NEAR(lose.per_token[0][2].item<double>(), 0.4545, 1e-4);
  EXPECT_NEAR(lose.loss.item<double>(), 0.5265, 1e-4);

  // The mini-batch of these two rollouts under LOOP's fixed denominator of 32.
  at::Tensor both_logp = at::cat({logp, logp});
  at::Tensor both_old = at::zeros({2, 3}, torch::kFloat64);
  at::Tensor both_mask = at::ones({2, 3}, torch::kFloat64);
  at::Tensor adv = torch::tensor({1.0, -0.5}, torch::kFloat64);
  PolicyLoss l = LoopClipLoss(both_logp, both_old, adv, both_mask, 0.1);
  MinibatchLayout layout({{.trajectory = 0, .tokens = 3}, {.trajectory = 1, .tokens = 3}}, 32);
  double share = AggregateShare(l.per_token, both_mask, LossAggregation::kRolloutMeanFixed, layout, {0, 1}).item<double>();
  EXPECT_NEAR(share, (-1.0 + 0.5265) / 32, 1e-4);
  EXPECT_NEAR(share, -0.0148, 1e-4);
}

TEST(LoopClip, EqualsPpoClipWithTheLogSymmetricInterval) {
  // Differential: LOOP's [1/(1+ε), 1+ε] is PPO's clip with ε_low = ε/(1+ε), ε_high = ε, no dual clip.
  at::Tensor old = T({-1.0, -2.0, -0.5, -1.5, -0.7, -3.0, -0.2, -0.9}, 2);
  at::Tensor logp = old + T({0.05, -0.4, 0.3, 0.1, -0.05, 1.6, -2.5, 0.01}, 2);
  at::Tensor mask = T({1, 1, 1, 1, 1, 1, 1, 0}, 2);
  for (double eps : {0.1, 0.5, 2.0}) {
    for (double a : {1.3, -0.7}) {
      at::Tensor adv = torch::tensor({a, -a}, torch::kFloat64);
      PolicyLoss loop = LoopClipLoss(logp, old, adv, mask, eps, LossAggregation::kTokenMean);
      PolicyLoss ppo = PpoClipLoss(logp, old, adv, mask, {eps / (1 + eps), eps, 0.0}, LossAggregation::kTokenMean);
      EXPECT_TRUE(torch::allclose(loop.per_token, ppo.per_token, 1e-12, 1e-12)) << eps << " " << a;
    }
  }
}

TEST(RolloutMeanFixed, PoolsATrajectorysTurnsAndKeepsTheDenominatorFixed) {
  // Trajectory 7 has two turn rows (2 + 3 tokens), trajectory 9 one row (1 token).
  at::Tensor loss = T({1, 1, 0, 2, 2, 2, 6, 0, 0}, 3);
  at::Tensor mask = T({1, 1, 0, 1, 1, 1, 1, 0, 0}, 3);
  MinibatchLayout layout({{.trajectory = 7, .tokens = 2}, {.trajectory = 7, .tokens = 3}, {.trajectory = 9, .tokens = 1}}, 4);
  double whole = AggregateShare(loss, mask, LossAggregation::kRolloutMeanFixed, layout, layout.AllRows()).item<double>();
  EXPECT_NEAR(whole, ((1 + 1 + 2 + 2 + 2) / 5.0 + 6.0) / 4.0, 1e-12);
  // Without a layout: every row its own rollout, denominator = rows (seq-mean-token-mean).
  EXPECT_NEAR(AggregateLoss(loss, mask, LossAggregation::kRolloutMeanFixed).item<double>(),
              AggregateLoss(loss, mask, LossAggregation::kSeqMeanTokenMean).item<double>(), 1e-12);
  EXPECT_EQ(ParseAggregation("rollout-mean-fixed"), LossAggregation::kRolloutMeanFixed);
}

TEST(AggregateShare, MicroBatchSharesAddUpToTheMinibatch) {
  at::Tensor loss = T({1, 2, 0, 3, 4, 5, 6, 0, 0, 7, 0, 0, 0, 0, 0, 8, 9, 1}, 6);
  at::Tensor mask = T({1, 1, 0, 1, 1, 1, 1, 0, 0, 1, 0, 0, 0, 0, 0, 1, 1, 1}, 6);
  std::vector<MinibatchRow> rows = {{.trajectory = 0, .tokens = 2}, {.trajectory = 0, .tokens = 3},
                                    {.trajectory = 1, .tokens = 1}, {.trajectory = 2, .tokens = 1},
                                    {.trajectory = 2, .tokens = 0}, {.trajectory = 3, .tokens = 3}};
  MinibatchLayout layout(rows, 3);
  for (auto mode : {LossAggregation::kTokenMean, LossAggregation::kSeqMeanTokenMean, LossAggregation::kSeqMeanTokenSum,
                    LossAggregation::kRolloutMeanFixed}) {
    double whole = AggregateShare(loss, mask, mode, layout, layout.AllRows()).item<double>();
    double parts = AggregateShare(loss.slice(0, 0, 2), mask.slice(0, 0, 2), mode, layout, {0, 1}).item<double>() +
                   AggregateShare(loss.slice(0, 2, 6), mask.slice(0, 2, 6), mode, layout, {2, 3, 4, 5}).item<double>();
    EXPECT_NEAR(whole, parts, 1e-12) << static_cast<int>(mode);
    if (mode != LossAggregation::kRolloutMeanFixed) {
      EXPECT_NEAR(whole, AggregateLoss(loss, mask, mode).item<double>(), 1e-12) << static_cast<int>(mode);
    }
  }
}

// ---- GSPO (docs/methods.md "GSPO"; ε = 3e-4 / 4e-4) ----

TEST(Gspo, WorkedExamples) {
  at::Tensor old = at::zeros({1, 4}, torch::kFloat64);
  at::Tensor mask = at::ones({1, 4}, torch::kFloat64);
  at::Tensor far = T({0.02, -0.01, 0.03, 0.0});
  at::Tensor x = far.clone().set_requires_grad(true);
  PolicyLoss up = GspoLoss(x, old, T({1.0}).reshape({1}), mask, {});
  EXPECT_NEAR(std::exp(0.01), 1.01005, 1e-5);
  EXPECT_NEAR(up.loss.item<double>(), -1.0004, 1e-9);  // clipped to 1 + 4e-4
  EXPECT_NEAR(up.clip_fraction, 1.0, 1e-12);
  up.loss.backward();
  EXPECT_EQ(x.grad().abs().sum().item<double>(), 0.0);  // no gradient when clipped
  at::Tensor y = far.clone().set_requires_grad(true);
  PolicyLoss down = GspoLoss(y, old, T({-1.0}).reshape({1}), mask, {});
  EXPECT_NEAR(down.loss.item<double>(), std::exp(0.01), 1e-12);  // unclipped: −A·s
  EXPECT_NEAR(down.loss.item<double>(), 1.01005, 1e-5);
  down.loss.backward();
  // d s / d logπ_t = s / |y| for every token.
  for (int t = 0; t < 4; ++t) EXPECT_NEAR(y.grad()[0][t].item<double>(), std::exp(0.01) / 4, 1e-12);
  PolicyLoss inside = GspoLoss(T({4e-4, 0.0, 2e-4, 2e-4}), old, T({1.0}).reshape({1}), mask, {});
  EXPECT_NEAR(inside.loss.item<double>(), -1.0002, 1e-6);
  EXPECT_EQ(inside.clip_fraction, 0.0);
}

TEST(Gspo, IsASequenceMeanAndIgnoresPadding) {
  // Row 0: 2 tokens; row 1: 3 tokens + padding; row 2: empty (left out of the mean).
  at::Tensor old = T({0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0}, 3);
  at::Tensor logp = T({0.1, 0.3, 9.0, 9.0, -0.2, 0.0, 0.2, 9.0, 9.0, 9.0, 9.0, 9.0}, 3);
  at::Tensor mask = T({1, 1, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0}, 3);
  GspoOptions wide{0.5, 0.5};
  PolicyLoss l = GspoLoss(logp, old, torch::tensor({1.0, 2.0, 5.0}, torch::kFloat64), mask, wide);
  double s0 = std::exp(0.2), s1 = std::exp(0.0);
  EXPECT_NEAR(l.loss.item<double>(), (-1.0 * s0 + -2.0 * s1) / 2.0, 1e-12);
}

// ---- REINFORCE ----

TEST(Reinforce, ValueAndGradient) {
  at::Tensor old = T({-1.0, -2.0});
  at::Tensor logp = T({-0.5, -2.5}).set_requires_grad(true);
  at::Tensor mask = T({1, 1});
  PolicyLoss plain = ReinforceLoss(logp, old, torch::tensor({2.0}, torch::kFloat64), mask, false,
                                   LossAggregation::kTokenMean);
  EXPECT_NEAR(plain.loss.item<double>(), -2.0 * (-0.5 - 2.5) / 2.0, 1e-12);
  plain.loss.backward();
  EXPECT_NEAR(logp.grad()[0][0].item<double>(), -1.0, 1e-12);  // −A / tokens
  PolicyLoss weighted = ReinforceLoss(logp, old, torch::tensor({2.0}, torch::kFloat64), mask, true,
                                      LossAggregation::kTokenMean);
  EXPECT_NEAR(weighted.loss.item<double>(), -2.0 * (std::exp(0.5) + std::exp(-0.5)) / 2.0, 1e-12);
  EXPECT_EQ(weighted.clip_fraction, 0.0);
}

TEST(Losses, AllZeroAdvantagesGiveZeroLossAndGradient) {
  at::Tensor old = T({-1.0, -2.0, -0.5, -1.5}, 2);
  at::Tensor mask = T({1, 1, 1, 0}, 2);
  at::Tensor zero = torch::zeros({2}, torch::kFloat64);
  std::vector<std::function<PolicyLoss(const at::Tensor&)>> losses = {
      [&](const at::Tensor& x) { return PpoClipLoss(x, old, zero, mask, {}, LossAggregation::kTokenMean); },
      [&](const at::Tensor& x) { return LoopClipLoss(x, old, zero, mask, 0.1); },
      [&](const at::Tensor& x) { return GspoLoss(x, old, zero, mask, {}); },
      [&](const at::Tensor& x) { return ReinforceLoss(x, old, zero, mask, false, LossAggregation::kTokenMean); }};
  for (size_t i = 0; i < losses.size(); ++i) {
    at::Tensor x = (old + 0.3).set_requires_grad(true);
    PolicyLoss l = losses[i](x);
    EXPECT_EQ(l.loss.item<double>(), 0.0) << i;
    l.loss.backward();
    EXPECT_EQ(x.grad().abs().sum().item<double>(), 0.0) << i;
  }
}

TEST(Losses, AnEmptyBatchGivesZero) {
  at::Tensor empty = torch::zeros({0, 4}, torch::kFloat64);
  at::Tensor adv = torch::zeros({0}, torch::kFloat64);
  EXPECT_EQ(LoopClipLoss(empty, empty, adv, empty, 0.1).loss.item<double>(), 0.0);
  EXPECT_EQ(GspoLoss(empty, empty, adv, empty, {}).loss.item<double>(), 0.0);
  EXPECT_EQ(PpoClipLoss(empty, empty, adv, empty, {}, LossAggregation::kSeqMeanTokenMean).loss.item<double>(), 0.0);
}

// ---- DAPO overlong shaping (docs/methods.md "DAPO overlong shaping") ----

TEST(Overlong, WorkedExample) {
  EXPECT_NEAR(OverlongPenalty(16000, 20480, 4096, 1.0), 0.0, 1e-12);
  EXPECT_NEAR(OverlongPenalty(18000, 20480, 4096, 1.0), -0.3945, 1e-4);
  EXPECT_NEAR(OverlongPenalty(20480, 20480, 4096, 1.0), -1.0, 1e-12);
  EXPECT_NEAR(OverlongPenalty(16384, 20480, 4096, 1.0), 0.0, 1e-12);  // the buffer's edge
  EXPECT_NEAR(OverlongPenalty(20480, 20480, 4096, 0.5), -0.5, 1e-12);
  EXPECT_EQ(OverlongPenalty(20480, 20480, 0, 1.0), 0.0);  // off
}

TEST(Schedules, ZeroVarianceGroupsAndFilters) {
  auto dead = ZeroVarianceGroups({{"A", 1}, {"A", 0}, {"A", 0}, {"B", 1}, {"B", 1}, {"B", 1}, {"C", 0}});
  EXPECT_EQ(dead, (std::set<std::string>{"B"}));  // the toy example's group B; singleton C kept
  EXPECT_TRUE(ZeroVarianceGroups({}).empty());
  EXPECT_EQ(ReverseTurnOrder({0, 2, 1, 0, 2}), (std::vector<int>{2, 1, 0}));
  // LOOP advantages of the toy example: group B's rollouts (0) are dropped.
  EXPECT_EQ(KeepNonZeroAdvantage({1.0, -0.5, -0.5, 0.0, 0.0, 0.005}, 0.01),
            (std::vector<bool>{true, true, true, false, false, false}));
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
  // The new losses and the fixed-denominator aggregation.
  GradCheck([&](const at::Tensor& x) { return LoopClipLoss(x, old, adv, mask, 0.1, LossAggregation::kTokenMean).loss; },
            logp);
  GradCheck([&](const at::Tensor& x) { return LoopClipLoss(x, old, adv, mask, 2.0).loss; }, logp);
  MinibatchLayout layout({{.trajectory = 4, .tokens = 3}, {.trajectory = 4, .tokens = 2}}, 32);
  GradCheck(
      [&](const at::Tensor& x) {
        return AggregateShare(LoopClipLoss(x, old, adv, mask, 0.1).per_token, mask,
                              LossAggregation::kRolloutMeanFixed, layout, {0, 1});
      },
      logp);
  GradCheck([&](const at::Tensor& x) { return GspoLoss(x, old, adv, mask, {0.2, 0.28}).loss; }, logp);
  GradCheck([&](const at::Tensor& x) { return GspoLoss(x, old, -adv, mask, {0.05, 0.05}).loss; }, logp);
  for (bool is : {false, true}) {
    GradCheck([&](const at::Tensor& x) {
      return ReinforceLoss(x, old, adv, mask, is, LossAggregation::kSeqMeanTokenMean).loss;
    }, logp);
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
