// GiGPO against a hand-computed worked example on the toy batch (both modes, both episode
// statistics, exact and similarity matching), its edge cases (docs/methods.md "GiGPO"), a naive
// re-implementation on random batches, and difflib's SequenceMatcher ratio against values printed
// by CPython 3.11's difflib.
#include "training/advantages/gigpo.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <random>

#include "core/error.h"
#include "tests/training/advantage_test_util.h"
#include "training/advantages/advantage.h"
#include "training/advantages/internal/sequence_matcher.h"

namespace turnwise {
namespace {

using testing_util::kSpecTol;
using testing_util::RowOf;
using testing_util::ToyRows;

std::vector<RowAdvantage> Gigpo(const Json& config, const std::vector<AdvantageRow>& rows) {
  return MakeAdvantageEstimator("gigpo", config)->Compute(rows);
}

struct Expected {
  const char* trajectory;
  int turn;
  double step_return;
  double episode_advantage;
  double step_advantage;
  double advantage;
};

void ExpectTable(const std::vector<AdvantageRow>& rows, const std::vector<RowAdvantage>& out,
                 const std::vector<Expected>& table) {
  ASSERT_EQ(table.size(), rows.size());
  for (const Expected& e : table) {
    const RowAdvantage& r = out[RowOf(rows, e.trajectory, e.turn)];
    SCOPED_TRACE(std::string(e.trajectory) + " t" + std::to_string(e.turn));
    EXPECT_NEAR(r.Number("step_return"), e.step_return, kSpecTol);
    EXPECT_NEAR(r.Number("episode_advantage"), e.episode_advantage, kSpecTol);
    EXPECT_NEAR(r.Number("step_advantage"), e.step_advantage, kSpecTol);
    EXPECT_NEAR(r.advantage, e.advantage, kSpecTol);
  }
}

// Worked example, mode = mean_norm, "A code" column (step-weighted episode statistics, the
// default).
const std::vector<Expected> kMeanNormCode = {
    {"t1", 1, 0.9025, 0.625, 0.6017, 1.2267},
    {"t1", 2, 0.95, 0.625, 0.475, 1.1000},
    {"t1", 3, 1.0, 0.625, 0.5, 1.1250},
    {"t2", 1, 0, -0.375, -0.3008, -0.6758},
    {"t2", 2, 0, -0.375, -0.475, -0.8500},
    {"t3", 1, 0, -0.375, -0.3008, -0.6758},
    {"t3", 2, 0, -0.375, 0, -0.3750},
    {"t3", 3, 0, -0.375, -0.5, -0.8750},
    {"t4", 1, 0.95, 0, 0.0158, 0.0158},
    {"t5", 1, 0.95, 0, 0.0158, 0.0158},
    {"t4", 2, 1.0, 0, 0, 0},
    {"t5", 2, 1.0, 0, 0, 0},
    {"t6", 1, 0.9025, 0, -0.0317, -0.0317},
    {"t6", 2, 0.95, 0, 0, 0},
    {"t6", 3, 1.0, 0, 0, 0},
};

TEST(Gigpo, WorkedExampleMeanNormCode) {
  const auto rows = ToyRows();
  const auto out = Gigpo({{"gamma", 0.95}}, rows);
  ExpectTable(rows, out, kMeanNormCode);
  // Episode statistics over the 8 step rows of group A.
  const RowAdvantage& r = out[RowOf(rows, "t3", 2)];
  EXPECT_NEAR(r.Number("episode_group_mean"), 0.375, 1e-12);
  EXPECT_EQ(r.Number("episode_group_size"), 8);
  EXPECT_FALSE(r.Has("episode_group_std"));  // mean_norm divides by nothing
}

TEST(Gigpo, WorkedExampleMeanNormPaperStatistics) {
  const auto rows = ToyRows();
  const auto out = Gigpo({{"gamma", 0.95}, {"statistics", "per_trajectory"}}, rows);
  // "A^E paper" and "A paper-style" columns; A^S is the same as in the code column.
  const std::vector<Expected> paper = {
      {"t1", 1, 0.9025, 0.6667, 0.6017, 1.2683},
      {"t1", 2, 0.95, 0.6667, 0.475, 1.1417},
      {"t1", 3, 1.0, 0.6667, 0.5, 1.1667},
      {"t2", 1, 0, -0.3333, -0.3008, -0.6342},
      {"t2", 2, 0, -0.3333, -0.475, -0.8083},
      {"t3", 1, 0, -0.3333, -0.3008, -0.6342},
      {"t3", 2, 0, -0.3333, 0, -0.3333},
      {"t3", 3, 0, -0.3333, -0.5, -0.8333},
      {"t4", 1, 0.95, 0, 0.0158, 0.0158},
      {"t5", 1, 0.95, 0, 0.0158, 0.0158},
      {"t4", 2, 1.0, 0, 0, 0},
      {"t5", 2, 1.0, 0, 0, 0},
      {"t6", 1, 0.9025, 0, -0.0317, -0.0317},
      {"t6", 2, 0.95, 0, 0, 0},
      {"t6", 3, 1.0, 0, 0, 0},
  };
  ExpectTable(rows, out, paper);
}

// Worked example, mode = mean_std_norm (unbiased std, + 1e-6).
const std::vector<Expected> kMeanStdNormCode = {
    {"t1", 1, 0.9025, 1.2076, 1.1547, 2.3623},
    {"t1", 2, 0.95, 1.2076, 0.7071, 1.9147},
    {"t1", 3, 1.0, 1.2076, 0.7071, 1.9147},
    {"t2", 1, 0, -0.7246, -0.5773, -1.3019},
    {"t2", 2, 0, -0.7246, -0.7071, -1.4317},
    {"t3", 1, 0, -0.7246, -0.5773, -1.3019},
    {"t3", 2, 0, -0.7246, 0, -0.7246},
    {"t3", 3, 0, -0.7246, -0.7071, -1.4317},
    {"t4", 1, 0.95, 0, 0.5773, 0.5773},
    {"t5", 1, 0.95, 0, 0.5773, 0.5773},
    {"t4", 2, 1.0, 0, 0, 0},
    {"t5", 2, 1.0, 0, 0, 0},
    {"t6", 1, 0.9025, 0, -1.1547, -1.1547},
    {"t6", 2, 0.95, 0, 0, 0},
    {"t6", 3, 1.0, 0, 0, 0},
};

TEST(Gigpo, WorkedExampleMeanStdNormCode) {
  const auto rows = ToyRows();
  const auto out = Gigpo({{"gamma", 0.95}, {"mode", "mean_std_norm"}}, rows);
  ExpectTable(rows, out, kMeanStdNormCode);
  EXPECT_NEAR(out[0].Number("episode_group_std"), 0.5175, kSpecTol);
}

TEST(Gigpo, WorkedExampleMeanStdNormPaperStatistics) {
  const auto rows = ToyRows();
  const auto out =
      Gigpo({{"gamma", 0.95}, {"mode", "mean_std_norm"}, {"statistics", "per_trajectory"}}, rows);
  // "A^E paper" column and Appendix A's "A(paper-style)" output.
  const std::vector<Expected> paper = {
      {"t1", 1, 0.9025, 1.1547, 1.1547, 2.3094},
      {"t1", 2, 0.95, 1.1547, 0.7071, 1.8618},
      {"t1", 3, 1.0, 1.1547, 0.7071, 1.8618},
      {"t2", 1, 0, -0.5773, -0.5773, -1.1547},
      {"t2", 2, 0, -0.5773, -0.7071, -1.2845},
      {"t3", 1, 0, -0.5773, -0.5773, -1.1547},
      {"t3", 2, 0, -0.5773, 0, -0.5773},
      {"t3", 3, 0, -0.5773, -0.7071, -1.2845},
      {"t4", 1, 0.95, 0, 0.5773, 0.5773},
      {"t5", 1, 0.95, 0, 0.5773, 0.5773},
      {"t4", 2, 1.0, 0, 0, 0},
      {"t5", 2, 1.0, 0, 0, 0},
      {"t6", 1, 0.9025, 0, -1.1547, -1.1547},
      {"t6", 2, 0.95, 0, 0, 0},
      {"t6", 3, 1.0, 0, 0, 0},
  };
  ExpectTable(rows, out, paper);
}

TEST(Gigpo, StepGroupsSpanAllTurnsOfOneEpisodeGroupOnly) {
  const auto rows = ToyRows();
  const auto out = Gigpo({{"gamma", 0.95}}, rows);
  // A:s2 = {t1 turn 3, t3 turn 3}; A:s0 has three members; singletons s3 and u2.
  EXPECT_EQ(out[RowOf(rows, "t1", 3)].Text("step_group_id"),
            out[RowOf(rows, "t3", 3)].Text("step_group_id"));
  EXPECT_EQ(out[RowOf(rows, "t2", 1)].Number("step_group_size"), 3);
  EXPECT_EQ(out[RowOf(rows, "t3", 2)].Number("step_group_size"), 1);
  EXPECT_EQ(out[RowOf(rows, "t3", 2)].Text("step_group_anchor"), "s3");
  EXPECT_EQ(out[RowOf(rows, "t6", 2)].Number("step_group_size"), 1);
  // The same anchor text in two episode groups makes two step groups.
  auto renamed = rows;
  for (auto& row : renamed) {
    if (row.group_id == "B" && row.anchor_key == "u0") row.anchor_key = "s0";
  }
  const auto out2 = Gigpo({{"gamma", 0.95}}, renamed);
  EXPECT_EQ(out2[RowOf(renamed, "t4", 1)].Number("step_group_size"), 3);
  EXPECT_NE(out2[RowOf(renamed, "t4", 1)].Text("step_group_id"),
            out2[RowOf(renamed, "t1", 1)].Text("step_group_id"));
  EXPECT_NEAR(out2[RowOf(renamed, "t4", 1)].advantage, 0.0158, kSpecTol);
}

TEST(Gigpo, StateRevisitedAtDifferentTurnsIsOneGroup) {
  // Hand computation, gamma 1: trajectory x visits "k" at turns 0 and 2 (returns 1, 1),
  // trajectory y visits it at turn 1 (return 0). Group returns {1, 1, 0}: mean 2/3.
  std::vector<AdvantageRow> rows;
  auto add = [&](const char* t, int turn, const char* anchor, double reward) {
    AdvantageRow row;
    row.group_id = "G";
    row.trajectory_id = t;
    row.turn = turn;
    row.anchor_key = anchor;
    row.reward = reward;
    rows.push_back(row);
  };
  add("x", 0, "k", 0);
  add("x", 1, "m", 0);
  add("x", 2, "k", 1);
  add("y", 0, "n", 0);
  add("y", 1, "k", 0);
  const auto out = Gigpo(Json::object(), rows);
  EXPECT_EQ(out[0].Number("step_group_size"), 3);
  EXPECT_NEAR(out[0].Number("step_advantage"), 1.0 / 3.0, 1e-12);
  EXPECT_NEAR(out[2].Number("step_advantage"), 1.0 / 3.0, 1e-12);
  EXPECT_NEAR(out[4].Number("step_advantage"), -2.0 / 3.0, 1e-12);
  // Episode level, step-weighted: samples [1,1,1,0,0], mean 0.6.
  EXPECT_NEAR(out[4].Number("episode_advantage"), -0.6, 1e-12);
  EXPECT_NEAR(out[4].advantage, -0.6 - 2.0 / 3.0, 1e-12);
}

// Edge case: a singleton EPISODE group keeps its raw score, a singleton STEP group gets 0.
TEST(Gigpo, SingletonRulesAreAsymmetric) {
  AdvantageRow row;
  row.group_id = "solo";
  row.trajectory_id = "t";
  row.reward = 1.0;
  row.anchor_key = "s";
  for (const char* mode : {"mean_norm", "mean_std_norm"}) {
    const auto out = Gigpo({{"mode", mode}}, {row});
    const double expected = std::string(mode) == "mean_norm" ? 1.0 : 1.0 / (1.0 + 1e-6);
    EXPECT_NEAR(out[0].Number("episode_advantage"), expected, 1e-12) << mode;
    EXPECT_EQ(out[0].Number("step_advantage"), 0.0) << mode;
    EXPECT_EQ(out[0].Number("step_group_mean"), 1.0) << mode;  // its own return
  }
}

TEST(Gigpo, InvalidActionPenaltyStaysOnItsRow) {
  // Hand computation from the worked example (gamma 0.95, mean_norm): t3's turn-2 action is
  // invalid, penalty 0.1. Group A's step-weighted scores become [1,1,1,0,0,0,-0.1,0], mean 0.3625.
  // The penalised row's step return is 0 - 0.1; t3's turn-1 return stays 0 (no discounting of
  // the penalty), so the s0 group keeps {0.9025, 0, 0} and mean 0.300833.
  auto rows = ToyRows();
  rows[RowOf(rows, "t3", 2)].invalid_action_penalty = 0.1;
  const auto out = Gigpo({{"gamma", 0.95}}, rows);
  const RowAdvantage& invalid = out[RowOf(rows, "t3", 2)];
  EXPECT_NEAR(invalid.Number("score"), -0.1, 1e-12);
  EXPECT_NEAR(invalid.Number("step_return"), -0.1, 1e-12);
  EXPECT_EQ(invalid.Number("invalid_action_penalty"), 0.1);
  EXPECT_NEAR(invalid.advantage, -0.1 - 0.3625, 1e-12);  // singleton step group: A_S = 0
  const RowAdvantage& before = out[RowOf(rows, "t3", 1)];
  EXPECT_EQ(before.Number("step_return"), 0.0);
  EXPECT_NEAR(before.Number("score"), 0.0, 1e-12);
  EXPECT_FALSE(before.Has("invalid_action_penalty"));
  EXPECT_NEAR(before.advantage, -0.3625 - 0.9025 / 3, 1e-12);
  EXPECT_NEAR(out[RowOf(rows, "t1", 1)].advantage, 0.6375 + 0.9025 - 0.9025 / 3, 1e-12);
}

TEST(Gigpo, OmegaWeighsTheStepTerm) {
  const auto rows = ToyRows();
  const auto out = Gigpo({{"gamma", 0.95}, {"step_advantage_w", 0.5}}, rows);
  EXPECT_NEAR(out[RowOf(rows, "t1", 1)].advantage, 0.625 + 0.5 * 0.6017, kSpecTol);
  EXPECT_NEAR(out[RowOf(rows, "t6", 1)].advantage, 0.5 * -0.0317, kSpecTol);
  EXPECT_EQ(out[0].Number("step_advantage_w"), 0.5);
}

TEST(Gigpo, DefaultGammaIsOne) {
  // gamma = 1 (verl's algorithm.gamma default): every step return of t1 is 1.
  const auto rows = ToyRows();
  const auto out = Gigpo(Json::object(), rows);
  EXPECT_EQ(out[RowOf(rows, "t1", 1)].Number("step_return"), 1.0);
  // B:u0 = {1, 1, 1}: zero variance at both levels, so exactly 0.
  EXPECT_EQ(out[RowOf(rows, "t6", 1)].advantage, 0.0);
}

// Observation texts where exact matching and similarity matching disagree. The "b" variants
// differ from the originals by one character (difflib ratios 0.9907 and 0.9846, printed by
// CPython); distinct states stay below 0.53.
const char* kS0 =
    "You are in the middle of a room. Looking quickly around you, you see a cabinet 1, a desk 1, "
    "and a drawer 2.";
const char* kS0b =
    "You are in the middle of a room. Looking quickly around you, you see a cabinet 1, a desk 1, "
    "and a drawer 3.";
const char* kS1 = "You arrive at desk 1. On the desk 1, you see a pen 2 and a mug 1.";
const char* kS1b = "You arrive at desk 1. On the desk 1, you see a pen 3 and a mug 1.";
const char* kS2 = "You pick up the mug 1 from the desk 1.";
const char* kS3 = "Nothing happens.";
const char* kU0 =
    "Your task is to: put a clean apple in the fridge. You are facing the countertop 1.";
const char* kU1 = "You put the apple 1 in/on the fridge 1.";
const char* kU2 = "You open the fridge 1. The fridge 1 is open. In it, you see a tomato 1.";

std::vector<AdvantageRow> TextToyRows() {
  const std::map<std::pair<std::string, int>, const char*> text = {
      {{"t1", 1}, kS0},  {{"t1", 2}, kS1}, {{"t1", 3}, kS2}, {{"t2", 1}, kS0b}, {{"t2", 2}, kS1b},
      {{"t3", 1}, kS0b}, {{"t3", 2}, kS3}, {{"t3", 3}, kS2}, {{"t4", 1}, kU0},  {{"t4", 2}, kU1},
      {{"t5", 1}, kU0},  {{"t5", 2}, kU1}, {{"t6", 1}, kU0}, {{"t6", 2}, kU2},  {{"t6", 3}, kU1}};
  auto rows = ToyRows();
  for (auto& row : rows) row.anchor_key = text.at({row.trajectory_id, row.turn});
  return rows;
}

TEST(Gigpo, SimilarityMatchingReproducesTheWorkedExample) {
  const auto rows = TextToyRows();
  const auto out =
      Gigpo({{"gamma", 0.95}, {"enable_similarity", true}, {"similarity_thresh", 0.9}}, rows);
  ExpectTable(rows, out, kMeanNormCode);
  // The cluster is named after its first member (t1's text), which the variants joined.
  EXPECT_EQ(out[RowOf(rows, "t2", 1)].Text("step_group_anchor"), kS0);
  const auto std_out = Gigpo({{"gamma", 0.95},
                              {"mode", "mean_std_norm"},
                              {"enable_similarity", true},
                              {"similarity_thresh", 0.9}},
                             rows);
  ExpectTable(rows, std_out, kMeanStdNormCode);
}

TEST(Gigpo, ExactMatchingSplitsNearDuplicates) {
  // Same texts, exact matching: t1's s0 and s1 are singletons (A_S = 0, A = A_E = 0.625),
  // t2/t3's s0 variant is a group of two zero returns (A_S = 0) and t2's s1 variant a
  // singleton. Untouched groups keep their worked-example values.
  const auto rows = TextToyRows();
  const auto out = Gigpo({{"gamma", 0.95}}, rows);
  EXPECT_NEAR(out[RowOf(rows, "t1", 1)].advantage, 0.625, 1e-12);
  EXPECT_NEAR(out[RowOf(rows, "t1", 2)].advantage, 0.625, 1e-12);
  EXPECT_NEAR(out[RowOf(rows, "t2", 1)].advantage, -0.375, 1e-12);
  EXPECT_NEAR(out[RowOf(rows, "t2", 2)].advantage, -0.375, 1e-12);
  EXPECT_NEAR(out[RowOf(rows, "t1", 3)].advantage, 1.125, kSpecTol);
  EXPECT_NEAR(out[RowOf(rows, "t3", 3)].advantage, -0.875, kSpecTol);
  EXPECT_EQ(out[RowOf(rows, "t2", 1)].Number("step_group_size"), 2);
}

TEST(Gigpo, SimilarityIsGreedyFirstFitAgainstTheFirstMember) {
  // "aaaaaaaaaa" vs "aaaaaaaaab": 0.9; "aaaaaaaabb" vs the first: 0.8 (below 0.85), but vs
  // the second 0.9. First-fit compares with the cluster's FIRST member only, so the third
  // row starts a new cluster.
  std::vector<AdvantageRow> rows;
  for (const char* text : {"aaaaaaaaaa", "aaaaaaaaab", "aaaaaaaabb"}) {
    AdvantageRow row;
    row.group_id = "G";
    row.trajectory_id = text;
    row.anchor_key = text;
    rows.push_back(row);
  }
  const auto out = Gigpo({{"enable_similarity", true}, {"similarity_thresh", 0.85}}, rows);
  EXPECT_EQ(out[0].Text("step_group_id"), out[1].Text("step_group_id"));
  EXPECT_NE(out[2].Text("step_group_id"), out[0].Text("step_group_id"));
  EXPECT_EQ(out[2].Number("step_group_size"), 1);
}

TEST(Gigpo, SimilarityThresholdMustBeInsideTheOpenInterval) {
  for (double bad : {0.0, 1.0}) {
    try {
      Gigpo({{"enable_similarity", true}, {"similarity_thresh", bad}}, {});
      FAIL() << "expected ConfigError for " << bad;
    } catch (const ConfigError& e) {
      EXPECT_EQ(e.key_path(), "similarity_thresh");
    }
  }
  // Without similarity the threshold is unused, as in verl-agent.
  EXPECT_NO_THROW(Gigpo({{"similarity_thresh", 1.0}}, {}));
}

// A naive, row-by-row reading of docs/methods.md "GiGPO", compared with the estimator on random
// batches.
struct NaiveGigpo {
  double gamma;
  bool with_std;
  bool step_weighted;

  std::vector<double> Compute(const std::vector<AdvantageRow>& rows) const {
    const size_t n = rows.size();
    auto score = [&](size_t i) {
      double total = 0;
      for (const auto& r : rows) {
        if (r.trajectory_id == rows[i].trajectory_id) total += r.reward;
      }
      return total;
    };
    auto moments = [](const std::vector<double>& v, bool episode) {
      double mean = 0, ss = 0;
      for (double x : v) mean += x;
      mean /= v.size();
      for (double x : v) ss += (x - mean) * (x - mean);
      if (v.size() == 1) return std::make_pair(episode ? 0.0 : v[0], 1.0);
      return std::make_pair(mean, std::sqrt(ss / (v.size() - 1)));
    };
    std::vector<double> out(n);
    for (size_t i = 0; i < n; ++i) {
      // Episode samples: every row of the group, or the first row of each trajectory.
      std::vector<double> samples;
      std::vector<std::string> seen;
      for (size_t j = 0; j < n; ++j) {
        if (rows[j].group_id != rows[i].group_id) continue;
        if (!step_weighted) {
          if (std::find(seen.begin(), seen.end(), rows[j].trajectory_id) != seen.end()) continue;
          seen.push_back(rows[j].trajectory_id);
        }
        samples.push_back(score(j));
      }
      auto [em, es] = moments(samples, true);
      const double a_e = with_std ? (score(i) - em) / (es + 1e-6) : score(i) - em;
      // Step return: sum over later-or-equal turns of the same trajectory, discounted by rank.
      auto step_return = [&](size_t r) {
        std::vector<std::pair<int, double>> later;
        for (const auto& x : rows) {
          if (x.trajectory_id == rows[r].trajectory_id && x.turn >= rows[r].turn) {
            later.emplace_back(x.turn, x.reward);
          }
        }
        std::sort(later.begin(), later.end());
        double g = 0, w = 1;
        for (const auto& [turn, reward] : later) {
          g += w * reward;
          w *= gamma;
        }
        return g;
      };
      std::vector<double> returns;
      for (size_t j = 0; j < n; ++j) {
        if (rows[j].group_id == rows[i].group_id && rows[j].anchor_key == rows[i].anchor_key) {
          returns.push_back(step_return(j));
        }
      }
      auto [sm, ss] = moments(returns, false);
      const double a_s = with_std ? (step_return(i) - sm) / (ss + 1e-6) : step_return(i) - sm;
      out[i] = a_e + a_s;
    }
    return out;
  }
};

TEST(Gigpo, MatchesANaiveImplementationOnRandomBatches) {
  std::mt19937 rng(20260517);
  for (int trial = 0; trial < 40; ++trial) {
    std::vector<AdvantageRow> rows;
    const int groups = 1 + static_cast<int>(rng() % 3);
    for (int g = 0; g < groups; ++g) {
      const int trajectories = 1 + static_cast<int>(rng() % 4);
      for (int t = 0; t < trajectories; ++t) {
        const int steps = 1 + static_cast<int>(rng() % 5);
        for (int s = 0; s < steps; ++s) {
          AdvantageRow row;
          row.group_id = "g" + std::to_string(g);
          row.trajectory_id = row.group_id + "t" + std::to_string(t);
          row.turn = 3 * s + static_cast<int>(rng() % 3);  // gaps in the numbering are fine
          row.reward = (rng() % 4 == 0) ? static_cast<double>(rng() % 5) / 4.0 : 0.0;
          row.anchor_key = "s" + std::to_string(rng() % 4);
          rows.push_back(row);
        }
      }
    }
    std::shuffle(rows.begin(), rows.end(), rng);
    for (bool with_std : {false, true}) {
      for (bool step_weighted : {true, false}) {
        const double gamma = trial % 2 ? 0.95 : 1.0;
        const auto expected = NaiveGigpo{gamma, with_std, step_weighted}.Compute(rows);
        const auto actual =
            Gigpo({{"gamma", gamma},
                   {"mode", with_std ? "mean_std_norm" : "mean_norm"},
                   {"statistics", step_weighted ? "step_weighted" : "per_trajectory"}},
                  rows);
        for (size_t i = 0; i < rows.size(); ++i) {
          ASSERT_NEAR(actual[i].advantage, expected[i], 1e-9)
              << "trial " << trial << " row " << i << " std " << with_std;
        }
      }
    }
  }
}

// CPython 3.11: difflib.SequenceMatcher(None, a, b).ratio() for each pair.
TEST(SequenceMatcher, RatioMatchesCPythonDifflib) {
  using advantages_internal::SequenceMatcherRatio;
  EXPECT_DOUBLE_EQ(SequenceMatcherRatio("abcd", "bcde"), 0.75);
  EXPECT_DOUBLE_EQ(SequenceMatcherRatio("ab", "acab"), 0.6666666666666666);
  EXPECT_DOUBLE_EQ(SequenceMatcherRatio("", ""), 1.0);
  EXPECT_DOUBLE_EQ(SequenceMatcherRatio("abc", ""), 0.0);
  EXPECT_DOUBLE_EQ(SequenceMatcherRatio("private Thread currentThread;",
                                        "private volatile Thread currentThread;"),
                   0.8656716417910447);
  EXPECT_DOUBLE_EQ(SequenceMatcherRatio(kS0, kS0b), 0.9906542056074766);
  EXPECT_DOUBLE_EQ(SequenceMatcherRatio(kS1, kS1b), 0.9846153846153847);
  EXPECT_DOUBLE_EQ(SequenceMatcherRatio(kS1, kS3), 0.2222222222222222);
  EXPECT_DOUBLE_EQ(SequenceMatcherRatio(kU0, kU1), 0.5289256198347108);
  // Code points, not bytes.
  EXPECT_DOUBLE_EQ(SequenceMatcherRatio("café au lait", "cafe au lait"), 0.9166666666666666);
  EXPECT_DOUBLE_EQ(SequenceMatcherRatio("日本語のテキスト", "日本語テキスト"), 0.9333333333333333);
}

TEST(SequenceMatcher, AutojunkAppliesToLongSecondArguments) {
  using advantages_internal::SequenceMatcherRatio;
  const std::string room =
      "You are in the middle of a room. Looking quickly around you, you see a cabinet 6, a "
      "cabinet 5, a cabinet 4, a cabinet 3, a cabinet 2, a cabinet 1, a coffeemachine 1, a "
      "countertop 3, a countertop 2, a countertop 1, a drawer 3, a drawer 2, a drawer 1, a "
      "fridge 1, a garbagecan 1.";
  std::string room2 = room;
  room2[room2.size() - 2] = '2';
  const std::string counter =
      "On the countertop 1, you see a apple 1, a bread 1, a butterknife 2, a cup 1, a "
      "dishsponge 1, a egg 2, a knife 1, a lettuce 1, a mug 2, a peppershaker 1, a saltshaker 2, "
      "a spatula 1, a spoon 3, and a tomato 2. You are holding nothing and the fridge is closed.";
  ASSERT_EQ(room.size(), 277u);
  ASSERT_EQ(counter.size(), 258u);
  EXPECT_DOUBLE_EQ(SequenceMatcherRatio(room, room2), 0.9963898916967509);
  // With autojunk (popular characters of b dropped from the seeds); CPython without autojunk
  // would give 0.2205607476635514 and 0.18317757009345795.
  EXPECT_DOUBLE_EQ(SequenceMatcherRatio(room, counter), 0.037383177570093455);
  EXPECT_DOUBLE_EQ(SequenceMatcherRatio(counter, room), 0.09719626168224299);
  EXPECT_DOUBLE_EQ(SequenceMatcherRatio(room2, room.substr(0, 150)), 0.702576112412178);
}

}  // namespace
}  // namespace turnwise
