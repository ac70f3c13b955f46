// GRPO, Dr. GRPO, RLOO, LOOP, REINFORCE++ and GAE against hand-computed worked examples (the toy
// summary on the toy batch of advantage_test_util.h, LOOP's leave-one-out, REINFORCE++'s
// whitening, GAE's recursion; docs/methods.md quotes some of their values), plus their edge
// cases. Numbers not marked as a worked example are hand computations written out next to the
// assertion.
#include <gtest/gtest.h>

#include <cmath>

#include "core/error.h"
#include "tests/training/advantage_test_util.h"
#include "training/advantages/advantage.h"
#include "training/advantages/grpo.h"
#include "training/advantages/rloo.h"

namespace turnwise {
namespace {

using testing_util::AdvantagesOf;
using testing_util::kSpecTol;
using testing_util::OneRowPerTrajectory;
using testing_util::RowOf;
using testing_util::ToyRows;

std::vector<RowAdvantage> Estimate(const std::string& name, const Json& config,
                                   const std::vector<AdvantageRow>& rows) {
  return MakeAdvantageEstimator(name, config)->Compute(rows);
}

// The toy summary (each method's advantages on the toy batch), one column per test. The toy
// batch is given in the per-step layout (15 rows); the per-trajectory columns must come out the
// same for every step of a trajectory.
TEST(Grpo, ToySummaryUnbiasedStdPerTrajectory) {
  const auto rows = ToyRows();
  const auto out = Estimate("grpo", {{"statistics", "per_trajectory"}}, rows);
  EXPECT_ADVANTAGES_NEAR(AdvantagesOf(rows, out, "t1"),
                         (std::vector<double>{1.1547, 1.1547, 1.1547}), kSpecTol);
  EXPECT_ADVANTAGES_NEAR(AdvantagesOf(rows, out, "t2"), (std::vector<double>{-0.5773, -0.5773}),
                         kSpecTol);
  EXPECT_ADVANTAGES_NEAR(AdvantagesOf(rows, out, "t3"),
                         (std::vector<double>{-0.5773, -0.5773, -0.5773}), kSpecTol);
  // Zero-variance group B: exactly 0, not merely small.
  for (const char* t : {"t4", "t5", "t6"}) {
    for (double a : AdvantagesOf(rows, out, t)) EXPECT_EQ(a, 0.0) << t;
  }
  const RowAdvantage& r = out[RowOf(rows, "t1", 2)];
  EXPECT_NEAR(r.Number("group_mean"), 1.0 / 3.0, 1e-12);
  EXPECT_NEAR(r.Number("group_std"), 0.5774, kSpecTol);  // per-trajectory std of {1, 0, 0}
  EXPECT_EQ(r.Number("group_size"), 3);
}

TEST(Grpo, ToySummaryPopulationStd) {
  const auto rows = ToyRows();
  const auto out =
      Estimate("grpo", {{"statistics", "per_trajectory"}, {"std_estimator", "population"}}, rows);
  EXPECT_NEAR(out[RowOf(rows, "t1", 1)].advantage, 1.4142, kSpecTol);
  EXPECT_NEAR(out[RowOf(rows, "t2", 1)].advantage, -0.7071, kSpecTol);
  EXPECT_NEAR(out[RowOf(rows, "t3", 3)].advantage, -0.7071, kSpecTol);
  EXPECT_EQ(out[RowOf(rows, "t6", 3)].advantage, 0.0);
}

TEST(Grpo, ToySummaryStepWeightedIsTheDefault) {
  const auto rows = ToyRows();
  const auto out = Estimate("grpo", Json::object(), rows);
  // verl-agent cross-steps statistics: group A samples [1,1,1,0,0,0,0,0], mean 0.375, std 0.5175.
  EXPECT_ADVANTAGES_NEAR(AdvantagesOf(rows, out, "t1"),
                         (std::vector<double>{1.2076, 1.2076, 1.2076}), kSpecTol);
  EXPECT_ADVANTAGES_NEAR(AdvantagesOf(rows, out, "t2"), (std::vector<double>{-0.7246, -0.7246}),
                         kSpecTol);
  EXPECT_ADVANTAGES_NEAR(AdvantagesOf(rows, out, "t3"),
                         (std::vector<double>{-0.7246, -0.7246, -0.7246}), kSpecTol);
  EXPECT_EQ(out[RowOf(rows, "t5", 2)].advantage, 0.0);
  EXPECT_NEAR(out[0].Number("group_mean"), 0.375, 1e-12);
  EXPECT_NEAR(out[0].Number("group_std"), 0.5175, kSpecTol);
  EXPECT_EQ(out[0].Number("group_size"), 8);
}

TEST(DrGrpo, ToySummaryMeanOnly) {
  const auto rows = ToyRows();
  const auto out = Estimate("dr_grpo", {{"statistics", "per_trajectory"}}, rows);
  EXPECT_NEAR(out[RowOf(rows, "t1", 3)].advantage, 0.6667, kSpecTol);
  EXPECT_NEAR(out[RowOf(rows, "t2", 2)].advantage, -0.3333, kSpecTol);
  EXPECT_NEAR(out[RowOf(rows, "t3", 1)].advantage, -0.3333, kSpecTol);
  EXPECT_EQ(out[RowOf(rows, "t4", 1)].advantage, 0.0);
  EXPECT_FALSE(out[0].Has("group_std"));
  // Step-weighted default: 1 - 0.375 and 0 - 0.375 (GiGPO's episode term, gigpo_test.cc).
  const auto weighted = Estimate("dr_grpo", Json::object(), rows);
  EXPECT_NEAR(weighted[RowOf(rows, "t1", 1)].advantage, 0.625, 1e-12);
  EXPECT_NEAR(weighted[RowOf(rows, "t3", 2)].advantage, -0.375, 1e-12);
}

TEST(Rloo, ToySummaryPerTrajectory) {
  const auto rows = ToyRows();
  const auto out = Estimate("rloo", {{"statistics", "per_trajectory"}}, rows);
  EXPECT_ADVANTAGES_NEAR(AdvantagesOf(rows, out, "t1"), (std::vector<double>{1.0, 1.0, 1.0}),
                         kSpecTol);
  EXPECT_ADVANTAGES_NEAR(AdvantagesOf(rows, out, "t2"), (std::vector<double>{-0.5, -0.5}),
                         kSpecTol);
  EXPECT_ADVANTAGES_NEAR(AdvantagesOf(rows, out, "t3"), (std::vector<double>{-0.5, -0.5, -0.5}),
                         kSpecTol);
  EXPECT_NEAR(out[RowOf(rows, "t6", 2)].advantage, 0.0, 1e-12);
  EXPECT_NEAR(out[RowOf(rows, "t2", 1)].Number("baseline"), 0.5, 1e-12);  // (1 + 0) / 2
}

TEST(Rloo, StepWeightedCountsRowsAsSamples) {
  // Hand computation: group A has K = 8 step rows, mean 0.375; A = 8/7 (score - 0.375).
  const auto rows = ToyRows();
  const auto out = Estimate("rloo", Json::object(), rows);
  EXPECT_NEAR(out[RowOf(rows, "t1", 1)].advantage, 8.0 / 7.0 * 0.625, 1e-12);
  EXPECT_NEAR(out[RowOf(rows, "t2", 2)].advantage, -8.0 / 7.0 * 0.375, 1e-12);
  EXPECT_NEAR(out[RowOf(rows, "t4", 1)].advantage, 0.0, 1e-12);
  EXPECT_EQ(out[RowOf(rows, "t1", 1)].Number("group_size"), 8);
}

// LOOP's worked example: LOO advantages 1.0, -0.5, -0.5 and 0 for group B, also from the
// per-step layout.
TEST(Loop, WorkedExampleLeaveOneOut) {
  const auto rows = ToyRows();
  const auto out = Estimate("loop", Json::object(), rows);
  EXPECT_ADVANTAGES_NEAR(AdvantagesOf(rows, out, "t1"), (std::vector<double>{1.0, 1.0, 1.0}),
                         kSpecTol);
  EXPECT_ADVANTAGES_NEAR(AdvantagesOf(rows, out, "t2"), (std::vector<double>{-0.5, -0.5}),
                         kSpecTol);
  EXPECT_ADVANTAGES_NEAR(AdvantagesOf(rows, out, "t3"), (std::vector<double>{-0.5, -0.5, -0.5}),
                         kSpecTol);
  for (const char* t : {"t4", "t5", "t6"}) {
    for (double a : AdvantagesOf(rows, out, t)) EXPECT_NEAR(a, 0.0, 1e-12) << t;
  }
  EXPECT_EQ(out[0].Number("group_size"), 3);  // trajectories, not rows
}

TEST(Loop, LeaveNoneOutAndStdNormalisation) {
  const auto rows = ToyRows();
  // leave_none_out: R - mean = 2/3, -1/3 (the Dr. GRPO column of the toy summary).
  const auto lno = Estimate("loop", {{"baseline", "leave_none_out"}}, rows);
  EXPECT_NEAR(lno[RowOf(rows, "t1", 1)].advantage, 0.6667, kSpecTol);
  EXPECT_NEAR(lno[RowOf(rows, "t3", 1)].advantage, -0.3333, kSpecTol);
  // adv_normalization: divide by np.std([1,0,0]) = sqrt(2)/3 = 0.4714 -> 2.1213, -1.0607;
  // group B has std 0, floored at 1e-7, and stays 0.
  const auto norm = Estimate("loop", {{"adv_normalization", true}}, rows);
  EXPECT_NEAR(norm[RowOf(rows, "t1", 2)].advantage, 1.0 / (std::sqrt(2.0) / 3.0), 1e-9);
  EXPECT_NEAR(norm[RowOf(rows, "t2", 2)].advantage, -0.5 / (std::sqrt(2.0) / 3.0), 1e-9);
  EXPECT_EQ(norm[RowOf(rows, "t5", 1)].advantage, 0.0);
}

TEST(Loop, GroupWithOneTrajectoryIsRejected) {
  auto rows = OneRowPerTrajectory({1.0, 0.0, 1.0}, {"A", "A", "solo"});
  try {
    Estimate("loop", Json::object(), rows);
    FAIL() << "expected InvalidArgument";
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("group 'solo' has one trajectory"), std::string::npos)
        << e.what();
  }
}

// Singleton groups: verl's mean 0 / std 1 rule keeps the raw score (not 0).
TEST(Baselines, SingletonGroupKeepsTheRawScore) {
  const auto rows = OneRowPerTrajectory({0.7, 1.0, 0.0}, {"solo", "A", "A"});
  EXPECT_NEAR(Estimate("grpo", Json::object(), rows)[0].advantage, 0.7 / (1.0 + 1e-6), 1e-12);
  EXPECT_NEAR(Estimate("dr_grpo", Json::object(), rows)[0].advantage, 0.7, 1e-12);
  EXPECT_NEAR(Estimate("rloo", Json::object(), rows)[0].advantage, 0.7, 1e-12);
  const RowAdvantage r = Estimate("grpo", Json::object(), rows)[0];
  EXPECT_EQ(r.Number("group_size"), 1);
  EXPECT_EQ(r.Number("group_mean"), 0.0);
  EXPECT_EQ(r.Number("group_std"), 1.0);
}

// One trajectory of two steps alone in its group: per-trajectory it is a singleton (raw
// score), step-weighted its two rows are two equal samples (exactly 0). This asymmetry is
// what verl-agent's code does.
TEST(Baselines, LoneMultiStepTrajectoryDependsOnStatistics) {
  std::vector<AdvantageRow> rows(2);
  for (int k = 0; k < 2; ++k) {
    rows[k].group_id = "solo";
    rows[k].trajectory_id = "t";
    rows[k].turn = k;
    rows[k].reward = k == 1 ? 1.0 : 0.0;
  }
  const auto per_trajectory = Estimate("grpo", {{"statistics", "per_trajectory"}}, rows);
  EXPECT_NEAR(per_trajectory[0].advantage, 1.0 / (1.0 + 1e-6), 1e-12);
  const auto step_weighted = Estimate("grpo", Json::object(), rows);
  EXPECT_EQ(step_weighted[0].advantage, 0.0);
  EXPECT_EQ(step_weighted[1].advantage, 0.0);
}

// Truncated episodes are plain failures: flipping the flag changes nothing.
TEST(Baselines, TruncationFlagDoesNotChangeAdvantages) {
  auto truncated = ToyRows();
  auto done = truncated;
  for (auto& row : done) {
    if (row.truncated) {
      row.truncated = false;
      row.done = true;
    }
  }
  for (const char* name : {"grpo", "dr_grpo", "rloo", "loop", "gigpo", "seeupo"}) {
    const auto a = Estimate(name, Json::object(), truncated);
    const auto b = Estimate(name, Json::object(), done);
    for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i].advantage, b[i].advantage) << name << i;
  }
  // And t2 (truncated, reward 0) is a failure: below the group mean.
  EXPECT_LT(Estimate("grpo", Json::object(), truncated)[RowOf(truncated, "t2", 2)].advantage, 0.0);
}

// The per-row episode score is used as given (e.g. an invalid-action penalty on one row).
TEST(Grpo, UsesEachRowsOwnEpisodeReturn) {
  auto rows = OneRowPerTrajectory({1.0, 0.0}, {"A", "A"});
  rows[0].episode_return = 0.9;  // overrides the reward sum
  const auto out = Estimate("dr_grpo", {{"statistics", "per_trajectory"}}, rows);
  EXPECT_NEAR(out[0].advantage, 0.45, 1e-12);  // 0.9 - (0.9 + 0) / 2
  EXPECT_NEAR(out[0].Number("score"), 0.9, 1e-12);
}

TEST(Baselines, InvalidActionPenaltyLowersOnlyItsRowsScore) {
  // verl-agent subtracts the penalty from the row's score: scores [1, -0.1], mean 0.45.
  auto rows = OneRowPerTrajectory({1.0, 0.0}, {"A", "A"});
  rows[1].invalid_action_penalty = 0.1;
  const auto dr = Estimate("dr_grpo", {{"statistics", "per_trajectory"}}, rows);
  EXPECT_NEAR(dr[0].advantage, 0.55, 1e-12);
  EXPECT_NEAR(dr[1].advantage, -0.55, 1e-12);
  EXPECT_EQ(dr[1].Number("invalid_action_penalty"), 0.1);
  // LOOP has no penalty in its code and ignores it: 1 - 0 and 0 - 1.
  const auto loop = Estimate("loop", Json::object(), rows);
  EXPECT_NEAR(loop[0].advantage, 1.0, 1e-12);
  EXPECT_NEAR(loop[1].advantage, -1.0, 1e-12);
}

// REINFORCE++ worked example: REINFORCE++(-baseline), one row per trajectory with 3,2,3,2,2,3
// response tokens.
TEST(ReinforcePlusPlus, WorkedExampleBaselineWhitened) {
  const auto rows =
      OneRowPerTrajectory({1, 0, 0, 1, 1, 1}, {"A", "A", "A", "B", "B", "B"}, {3, 2, 3, 2, 2, 3});
  const auto out = Estimate("reinforce_plus_plus_baseline", Json::object(), rows);
  const std::vector<double> expected = {1.7579, -0.9699, -0.9699, -0.0606, -0.0606, -0.0606};
  for (size_t i = 0; i < rows.size(); ++i)
    EXPECT_NEAR(out[i].advantage, expected[i], kSpecTol) << i;
  EXPECT_NEAR(out[0].Number("batch_token_mean"), 0.0222, kSpecTol);
  EXPECT_NEAR(std::pow(out[0].Number("batch_token_std"), 2) - 1e-8, 0.1344, kSpecTol);
  EXPECT_EQ(out[0].Number("batch_tokens"), 15);
  // The zero-variance group B is shifted below 0 by the global whitening.
  EXPECT_LT(out[3].advantage, 0.0);
}

TEST(ReinforcePlusPlus, WorkedExamplePlainWhitened) {
  const auto rows =
      OneRowPerTrajectory({1, 0, 0, 1, 1, 1}, {"A", "A", "A", "B", "B", "B"}, {3, 2, 3, 2, 2, 3});
  const auto out = Estimate("reinforce_plus_plus", Json::object(), rows);
  const std::vector<double> expected = {0.6831, -1.3663, -1.3663, 0.6831, 0.6831, 0.6831};
  for (size_t i = 0; i < rows.size(); ++i)
    EXPECT_NEAR(out[i].advantage, expected[i], kSpecTol) << i;
}

TEST(ReinforcePlusPlus, StepRowsWeighByTokens) {
  // The toy's step counts equal the worked example's token lengths above, so plain REINFORCE++ on
  // the 15 step rows with one token each reproduces its numbers.
  const auto rows = ToyRows();
  const auto plain = Estimate("reinforce_plus_plus", Json::object(), rows);
  EXPECT_NEAR(plain[RowOf(rows, "t1", 2)].advantage, 0.6831, kSpecTol);
  EXPECT_NEAR(plain[RowOf(rows, "t3", 3)].advantage, -1.3663, kSpecTol);
  // Baseline, step-weighted group means (hand computation): centred scores 0.625 (3 rows),
  // -0.375 (5 rows), 0 (7 rows); token mean 0; unbiased var 1.875/14 -> std 0.365963.
  const auto baseline = Estimate("reinforce_plus_plus_baseline", Json::object(), rows);
  EXPECT_NEAR(baseline[RowOf(rows, "t1", 1)].advantage, 0.625 / std::sqrt(1.875 / 14 + 1e-8), 1e-9);
  EXPECT_NEAR(baseline[RowOf(rows, "t2", 1)].advantage, -0.375 / std::sqrt(1.875 / 14 + 1e-8),
              1e-9);
  EXPECT_NEAR(baseline[RowOf(rows, "t6", 2)].advantage, 0.0, 1e-12);
}

TEST(ReinforcePlusPlus, NeedsTwoTokensToWhiten) {
  const auto rows = OneRowPerTrajectory({1.0}, {"A"});
  EXPECT_THROW(Estimate("reinforce_plus_plus", Json::object(), rows), InvalidArgument);
  EXPECT_TRUE(Estimate("reinforce_plus_plus", Json::object(), {}).empty());
}

std::vector<AdvantageRow> GaeRows(const std::vector<double>& rewards,
                                  const std::vector<double>& values) {
  std::vector<AdvantageRow> rows;
  for (size_t k = 0; k < rewards.size(); ++k) {
    AdvantageRow row;
    row.group_id = "A";
    row.trajectory_id = "t";
    row.turn = static_cast<int>(k);
    row.reward = rewards[k];
    row.value = values[k];
    rows.push_back(row);
  }
  rows.back().done = true;
  return rows;
}

// GAE worked example: rewards [0,0,1], V = [0.5,0.6,0.7], before whitening.
TEST(Gae, WorkedExampleBeforeWhitening) {
  const auto rows = GaeRows({0, 0, 1}, {0.5, 0.6, 0.7});
  auto advantages = [&](double gamma, double lam) {
    std::vector<double> a;
    for (const auto& r :
         Estimate("gae", {{"gamma", gamma}, {"lam", lam}, {"whiten", false}}, rows)) {
      a.push_back(r.advantage);
    }
    return a;
  };
  EXPECT_ADVANTAGES_NEAR(advantages(1.0, 1.0), (std::vector<double>{0.5, 0.4, 0.3}), kSpecTol);
  EXPECT_ADVANTAGES_NEAR(advantages(1.0, 0.95), (std::vector<double>{0.4657, 0.385, 0.3}),
                         kSpecTol);
  EXPECT_ADVANTAGES_NEAR(advantages(0.99, 0.95), (std::vector<double>{0.4468, 0.3752, 0.3}),
                         kSpecTol);
  // returns = A + V = [1, 1, 1] at gamma = lambda = 1.
  for (const auto& r : Estimate("gae", {{"whiten", false}}, rows)) {
    EXPECT_NEAR(r.Number("return"), 1.0, 1e-12);
  }
}

TEST(Gae, WhiteningIsTokenWeighted) {
  auto rows = GaeRows({0, 0, 1}, {0.5, 0.6, 0.7});
  // Defaults whiten: [0.5,0.4,0.3] -> mean 0.4, unbiased var 0.01 -> [1, 0, -1].
  auto out = Estimate("gae", Json::object(), rows);
  EXPECT_NEAR(out[0].advantage, 0.1 / std::sqrt(0.01 + 1e-8), 1e-9);
  EXPECT_NEAR(out[1].advantage, 0.0, 1e-9);
  EXPECT_NEAR(out[2].advantage, -0.1 / std::sqrt(0.01 + 1e-8), 1e-9);
  // Tokens [2,1,1]: mean 1.7/4 = 0.425; var (2*0.075^2 + 0.025^2 + 0.125^2)/3 = 0.0275/3.
  rows[0].num_tokens = 2;
  out = Estimate("gae", Json::object(), rows);
  const double scale = std::sqrt(0.0275 / 3 + 1e-8);
  EXPECT_NEAR(out[0].advantage, 0.075 / scale, 1e-9);
  EXPECT_NEAR(out[1].advantage, -0.025 / scale, 1e-9);
  EXPECT_NEAR(out[2].advantage, -0.125 / scale, 1e-9);
  EXPECT_NEAR(out[0].Number("whiten_mean"), 0.425, 1e-12);
}

TEST(Gae, TruncatedEpisodeIsNotBootstrapped) {
  auto rows = GaeRows({0, 0}, {0.5, 0.6});
  rows.back().done = false;
  rows.back().truncated = true;
  // Hand computation, gamma 0.99, lambda 0.95: delta_1 = 0 - 0.6; delta_0 = 0.99*0.6 - 0.5 =
  // 0.094; A_0 = 0.094 + 0.99*0.95*(-0.6) = -0.4703.
  const auto out = Estimate("gae", {{"gamma", 0.99}, {"lam", 0.95}, {"whiten", false}}, rows);
  EXPECT_NEAR(out[1].advantage, -0.6, 1e-12);
  EXPECT_NEAR(out[0].advantage, -0.4703, 1e-12);
  EXPECT_EQ(out[1].Number("next_value"), 0.0);
}

TEST(Gae, EpisodeRewardModeCreditsTheWholeScoreToEveryRow) {
  // Intermediate reward 0.5 at turn 0, 1 at the end: "step" uses the reward-to-go
  // [1.5, 1, 1] - V; "episode" (verl-agent) uses the episode score 1.5 - V on every row.
  const auto rows = GaeRows({0.5, 0, 1}, {0.5, 0.6, 0.7});
  const auto step = Estimate("gae", {{"whiten", false}}, rows);
  const auto episode = Estimate("gae", {{"whiten", false}, {"reward", "episode"}}, rows);
  const std::vector<double> step_expected = {1.0, 0.4, 0.3};
  const std::vector<double> episode_expected = {1.0, 0.9, 0.8};
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_NEAR(step[i].advantage, step_expected[i], 1e-12) << i;
    EXPECT_NEAR(episode[i].advantage, episode_expected[i], 1e-12) << i;
  }
}

TEST(Gae, MissingValueNamesTheRow) {
  auto rows = GaeRows({0, 1}, {0.5, 0.6});
  rows[1].value.reset();
  try {
    Estimate("gae", Json::object(), rows);
    FAIL() << "expected InvalidArgument";
  } catch (const InvalidArgument& e) {
    EXPECT_EQ(std::string(e.what()), "gae: row 1 (trajectory 't', turn 1) has no value estimate");
  }
}

}  // namespace
}  // namespace turnwise
