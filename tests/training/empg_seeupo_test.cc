// EMPG against a hand-computed worked example on the toy batch (zeta 0.1 and 0.05) and its edge
// cases (docs/methods.md "EMPG", behaviour to expect); SeeUPO's advantage and ratio correction
// against a hand-computed worked example.
#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "tests/training/advantage_test_util.h"
#include "training/advantages/advantage.h"
#include "training/advantages/empg.h"
#include "training/advantages/seeupo.h"

namespace turnwise {
namespace {

using testing_util::AdvantagesOf;
using testing_util::kSpecTol;
using testing_util::OneRowPerTrajectory;
using testing_util::RowOf;
using testing_util::ToyRows;

// The EMPG worked example's assumed step entropies (nats).
std::vector<AdvantageRow> EmpgToyRows() {
  const std::map<std::string, std::vector<double>> entropies = {
      {"t1", {0.8, 0.4, 0.3}}, {"t2", {1.2, 1.5}}, {"t3", {0.9, 1.0, 0.6}},
      {"t4", {0.5, 0.2}},      {"t5", {0.6, 0.3}}, {"t6", {0.7, 1.1, 0.4}}};
  auto rows = ToyRows();
  for (auto& row : rows) row.entropy = entropies.at(row.trajectory_id).at(row.turn - 1);
  return rows;
}

// The base of the EMPG worked example is standard GRPO: unbiased std, per-trajectory statistics.
const Json kPaperBase = {{"base", "grpo"}, {"base_config", {{"statistics", "per_trajectory"}}}};

std::vector<RowAdvantage> Empg(double zeta, const std::vector<AdvantageRow>& rows) {
  Json config = kPaperBase;
  config["zeta"] = zeta;
  return MakeAdvantageEstimator("empg", config)->Compute(rows);
}

struct EmpgExpected {
  const char* trajectory;
  std::vector<double> h_norm, g, f, modulated, final;
};

TEST(Empg, WorkedExampleZetaPointOne) {
  const auto rows = EmpgToyRows();
  const auto out = Empg(0.1, rows);
  const std::vector<EmpgExpected> table = {
      {"t1",
       {.4615, .1538, .0769},
       {.8921, 1.2136, 1.3106},
       {.6303, .8574, .9260},
       {1.1159, 1.4939, 1.5134},
       {0.9547, 1.3328, 1.3522}},
      {"t2", {.7692, 1.0}, {.6559, .5207}, {.4634, .3679}, {-0.3419, -0.3006}, {-0.5030, -0.4618}},
      {"t3",
       {.5385, .6154, .3077},
       {.8261, .7649, 1.0405},
       {.5836, .5404, .7351},
       {-0.4229, -0.3681, -0.6007},
       {-0.5841, -0.5293, -0.7619}},
      {"t4", {.2308, 0}, {1.1237, 1.4154}, {.7939, 1.0}, {0.1000, 0}, {-0.0612, -0.1612}},
      {"t5", {.3077, .0769}, {1.0405, 1.3106}, {.7351, .9260}, {0.0926, 0}, {-0.0686, -0.1612}},
      {"t6",
       {.3846, .6923, .1538},
       {.9635, .7083, 1.2136},
       {.6807, .5004, .8574},
       {0.0500, 0.0857, 0},
       {-0.1111, -0.0754, -0.1612}},
  };
  for (const EmpgExpected& e : table) {
    for (size_t k = 0; k < e.g.size(); ++k) {
      const RowAdvantage& r = out[RowOf(rows, e.trajectory, static_cast<int>(k) + 1)];
      SCOPED_TRACE(std::string(e.trajectory) + " turn " + std::to_string(k + 1));
      EXPECT_NEAR(r.Number("entropy_normalized"), e.h_norm[k], kSpecTol);
      EXPECT_NEAR(r.Number("g"), e.g[k], kSpecTol);
      EXPECT_NEAR(r.Number("f"), e.f[k], kSpecTol);
      EXPECT_NEAR(r.Number("modulated_advantage"), e.modulated[k], kSpecTol);
      EXPECT_NEAR(r.advantage, e.final[k], kSpecTol);
    }
  }
  // Batch quantities: min 0.2, max 1.5, mean exp(-H~) 0.7065, mean A_mod 0.1612.
  EXPECT_NEAR(out[0].Number("entropy_min"), 0.2, 1e-12);
  EXPECT_NEAR(out[0].Number("entropy_max"), 1.5, 1e-12);
  EXPECT_NEAR(out[0].Number("g_batch_mean"), 0.7065, kSpecTol);
  EXPECT_NEAR(out[0].Number("batch_mean"), 0.1612, kSpecTol);
  // The base advantages: A(t1) = 1.1547, A(t2) = A(t3) = -0.5773, group B = 0.
  EXPECT_NEAR(out[RowOf(rows, "t1", 2)].Number("base_advantage"), 1.1547, kSpecTol);
  EXPECT_NEAR(out[RowOf(rows, "t3", 1)].Number("base_advantage"), -0.5773, kSpecTol);
  EXPECT_NEAR(out[RowOf(rows, "t3", 1)].Number("base.group_mean"), 1.0 / 3.0, 1e-12);
  // The last step of a trajectory has no bonus.
  EXPECT_FALSE(out[RowOf(rows, "t1", 3)].Find("has_next_step")->get<bool>());
  EXPECT_EQ(out[RowOf(rows, "t1", 3)].Number("f_next"), 0.0);
  EXPECT_NEAR(out[RowOf(rows, "t1", 1)].Number("f_next"), 0.8574, kSpecTol);  // f of turn 2
}

TEST(Empg, WorkedExampleZetaPointZeroFive) {
  const auto rows = EmpgToyRows();
  const auto out = Empg(0.05, rows);
  EXPECT_NEAR(out[0].Number("batch_mean"), 0.1388, kSpecTol);
  EXPECT_ADVANTAGES_NEAR(AdvantagesOf(rows, out, "t1"),
                         (std::vector<double>{0.9342, 1.3088, 1.3746}), kSpecTol);
  EXPECT_ADVANTAGES_NEAR(AdvantagesOf(rows, out, "t2"), (std::vector<double>{-0.499, -0.4394}),
                         kSpecTol);
  EXPECT_ADVANTAGES_NEAR(AdvantagesOf(rows, out, "t3"),
                         (std::vector<double>{-0.5887, -0.5437, -0.7395}), kSpecTol);
  EXPECT_ADVANTAGES_NEAR(AdvantagesOf(rows, out, "t4"), (std::vector<double>{-0.0888, -0.1388}),
                         kSpecTol);
  EXPECT_ADVANTAGES_NEAR(AdvantagesOf(rows, out, "t5"), (std::vector<double>{-0.0925, -0.1388}),
                         kSpecTol);
  EXPECT_ADVANTAGES_NEAR(AdvantagesOf(rows, out, "t6"),
                         (std::vector<double>{-0.1138, -0.0959, -0.1388}), kSpecTol);
}

TEST(Empg, ZeroVarianceGroupStillGetsAdvantages) {
  // Edge case: group B has A = 0 but non-zero EMPG advantages, and the final batch mean is 0.
  const auto rows = EmpgToyRows();
  const auto out = Empg(0.1, rows);
  EXPECT_NE(out[RowOf(rows, "t4", 1)].advantage, 0.0);
  double sum = 0.0;
  for (const auto& r : out) sum += r.advantage;
  EXPECT_NEAR(sum, 0.0, 1e-12);
}

TEST(Empg, EqualEntropiesGiveUnitScalingAndAFlatBonus) {
  // Hand computation (edge case): all H equal -> H~ = 0, g = 1/(1+1e-8), f = 1. Base Dr. GRPO per
  // trajectory: t1 (R=1, 2 steps) 0.5, t2 (R=0, 1 step) -0.5. A_mod = [0.6, 0.5, -0.5], batch
  // mean 0.2, final [0.4, 0.3, -0.7]. The single-step trajectory gets no bonus.
  std::vector<AdvantageRow> rows(3);
  rows[0].trajectory_id = rows[1].trajectory_id = "t1";
  rows[2].trajectory_id = "t2";
  for (int i = 0; i < 3; ++i) {
    rows[i].group_id = "A";
    rows[i].turn = i == 1 ? 1 : 0;
    rows[i].entropy = 0.5;
  }
  rows[1].reward = 1.0;
  const auto out =
      MakeAdvantageEstimator(
          "empg", {{"base", "dr_grpo"}, {"base_config", {{"statistics", "per_trajectory"}}}})
          ->Compute(rows);
  EXPECT_NEAR(out[0].advantage, 0.4, 1e-7);
  EXPECT_NEAR(out[1].advantage, 0.3, 1e-7);
  EXPECT_NEAR(out[2].advantage, -0.7, 1e-7);
  EXPECT_NEAR(out[0].Number("g"), 1.0, 1e-7);
}

TEST(Empg, ModulatesAnyBaseEstimator) {
  // On top of GiGPO the base advantage is per row: rows of one trajectory differ.
  const auto rows = EmpgToyRows();
  const auto out =
      MakeAdvantageEstimator("empg", {{"base", "gigpo"}, {"base_config", {{"gamma", 0.95}}}})
          ->Compute(rows);
  // GiGPO's worked example (kMeanNormCode in gigpo_test.cc).
  EXPECT_NEAR(out[RowOf(rows, "t1", 1)].Number("base_advantage"), 1.2267, kSpecTol);
  EXPECT_NEAR(out[RowOf(rows, "t1", 2)].Number("base_advantage"), 1.1000, kSpecTol);
  EXPECT_EQ(out[RowOf(rows, "t3", 2)].Text("base.step_group_anchor"), "s3");
  // g and f depend on entropies only: the same as with the GRPO base.
  EXPECT_NEAR(out[RowOf(rows, "t1", 1)].Number("g"), 0.8921, kSpecTol);
  const double expected_mod = 0.8921 * 1.2267 + 0.1 * 0.8574;
  EXPECT_NEAR(out[RowOf(rows, "t1", 1)].Number("modulated_advantage"), expected_mod, 1e-3);
}

// SeeUPO worked example: both groups in one batch, max_steps 3 (t1, t3, t6 have 3 turns; t2, t4,
// t5 have 2).
TEST(SeeUpo, WorkedExampleAdvantage) {
  const auto rows = ToyRows();
  const auto out = MakeAdvantageEstimator("seeupo")->Compute(rows);
  EXPECT_ADVANTAGES_NEAR(AdvantagesOf(rows, out, "t1"),
                         (std::vector<double>{1.8257, 1.8257, 1.8257}), kSpecTol);
  EXPECT_ADVANTAGES_NEAR(AdvantagesOf(rows, out, "t2"), (std::vector<double>{-0.9129, -0.9129}),
                         kSpecTol);
  EXPECT_ADVANTAGES_NEAR(AdvantagesOf(rows, out, "t3"),
                         (std::vector<double>{-0.9129, -0.9129, -0.9129}), kSpecTol);
  for (const char* t : {"t4", "t5", "t6"}) {
    for (double a : AdvantagesOf(rows, out, t)) EXPECT_NEAR(a, 0.0, 1e-12) << t;
  }
  const RowAdvantage& r = out[RowOf(rows, "t1", 1)];
  EXPECT_NEAR(r.Number("group_advantage"), 0.6667, kSpecTol);  // mean-only GRPO
  EXPECT_NEAR(r.Number("batch_mean"), 0.0, 1e-12);
  EXPECT_NEAR(r.Number("batch_std"), 0.3651, kSpecTol);
  EXPECT_FALSE(r.Has("group_std"));
}

TEST(SeeUpo, WorkedExampleRatioCorrection) {
  const auto rows = ToyRows();
  const auto advantages = MakeAdvantageEstimator("seeupo")->Compute(rows);
  const std::vector<std::string> ids = {"t1", "t2", "t3", "t4", "t5", "t6"};
  // The rows of one turn, as the sequential scheduler would batch them.
  auto turn_rows = [&](int turn) {
    std::vector<AdvantageRow> r;
    std::vector<RowAdvantage> a;
    for (size_t i = 0; i < rows.size(); ++i) {
      if (rows[i].turn == turn) {
        r.push_back(rows[i]);
        a.push_back(advantages[i]);
      }
    }
    return std::make_pair(r, a);
  };
  auto advantage_of = [](const std::vector<AdvantageRow>& r, const std::vector<RowAdvantage>& a,
                         const std::string& id) {
    for (size_t i = 0; i < r.size(); ++i) {
      if (r[i].trajectory_id == id) return a[i].advantage;
    }
    return 0.0;  // padding turn: loss-masked
  };
  SeeUpoCorrection correction;  // clip 0.2 / 0.2
  // Turn 3 is updated first, with C = 1: [1.8257, 0 (no turn 3), -0.9129, 0, 0, 0].
  auto [r3, a3] = turn_rows(3);
  a3 = correction.Apply(r3, a3);
  const std::vector<double> turn3 = {1.8257, 0, -0.9129, 0, 0, 0};
  for (size_t k = 0; k < ids.size(); ++k) {
    EXPECT_NEAR(advantage_of(r3, a3, ids[k]), turn3[k], kSpecTol) << ids[k];
  }
  const std::vector<double> log_ratio3 = {0.05, 0.0, -0.30, 0.0, 0.0, 0.10};
  const std::vector<double> ratio3 = {1.0513, 1.0, 0.8, 1.0, 1.0, 1.1052};
  for (size_t k = 0; k < ids.size(); ++k) {
    EXPECT_NEAR(correction.Update(ids[k], log_ratio3[k]), ratio3[k], kSpecTol) << ids[k];
    EXPECT_NEAR(correction.Factor(ids[k]), ratio3[k], kSpecTol) << ids[k];
  }
  // Turn 2: [1.9193, -0.9129, -0.7303, 0, 0, 0].
  auto [r2, a2] = turn_rows(2);
  a2 = correction.Apply(r2, a2);
  const std::vector<double> turn2 = {1.9193, -0.9129, -0.7303, 0, 0, 0};
  for (size_t k = 0; k < ids.size(); ++k) {
    EXPECT_NEAR(advantage_of(r2, a2, ids[k]), turn2[k], kSpecTol) << ids[k];
  }
  const std::vector<double> log_ratio2 = {0.25, -0.02, 0.0, 0.03, -0.40, 0.0};
  const std::vector<double> ratio2 = {1.2, 0.9802, 1.0, 1.0305, 0.8, 1.0};
  const std::vector<double> cumulative2 = {1.2, 0.9802, 0.8, 1.0305, 0.8, 1.1052};
  for (size_t k = 0; k < ids.size(); ++k) {
    EXPECT_NEAR(correction.Update(ids[k], log_ratio2[k]), ratio2[k], kSpecTol) << ids[k];
    EXPECT_NEAR(correction.Factor(ids[k]), cumulative2[k], kSpecTol) << ids[k];
  }
  // Turn 1: [2.1909, -0.8948, -0.7303, 0, 0, 0].
  auto [r1, a1] = turn_rows(1);
  a1 = correction.Apply(r1, a1);
  const std::vector<double> turn1 = {2.1909, -0.8948, -0.7303, 0, 0, 0};
  for (size_t k = 0; k < ids.size(); ++k) {
    EXPECT_NEAR(advantage_of(r1, a1, ids[k]), turn1[k], kSpecTol) << ids[k];
  }
  EXPECT_NEAR(a1[0].Number("ratio_correction"), 1.2, kSpecTol);
  correction.Reset();
  EXPECT_EQ(correction.Factor("t1"), 1.0);
}

TEST(SeeUpo, ClampAtThreeAndFlatBatches) {
  // Hand computation: 16 singleton groups (mean 0 rule, A = score), one score 1 and fifteen 0.
  // Batch mean 1/16, unbiased std 0.25: z = 3.75 for the outlier -> clamped to 3; -0.25 else.
  std::vector<double> scores(16, 0.0);
  scores[0] = 1.0;
  std::vector<std::string> groups;
  for (int i = 0; i < 16; ++i) groups.push_back("g" + std::to_string(i));
  const auto rows = OneRowPerTrajectory(scores, groups);
  const auto out = MakeAdvantageEstimator("seeupo")->Compute(rows);
  EXPECT_NEAR(out[0].Number("standardized"), 3.75, 1e-12);
  EXPECT_NEAR(out[0].advantage, 3.0, 1e-12);
  EXPECT_NEAR(out[1].advantage, -0.25, 1e-12);
  // std <= 1e-6: only the mean is subtracted (two singleton groups with score 1 -> 0, not NaN).
  const auto flat =
      MakeAdvantageEstimator("seeupo")->Compute(OneRowPerTrajectory({1.0, 1.0}, {"a", "b"}));
  EXPECT_EQ(flat[0].advantage, 0.0);
  EXPECT_EQ(flat[1].advantage, 0.0);
  // Without special_norm the group-centred score is used as is.
  const auto raw = MakeAdvantageEstimator("seeupo", {{"special_norm", false}})->Compute(ToyRows());
  EXPECT_NEAR(raw[0].advantage, 2.0 / 3.0, 1e-12);
}

}  // namespace
}  // namespace turnwise
