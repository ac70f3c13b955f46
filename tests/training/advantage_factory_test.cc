// The factory, config validation, defaults, row validation and the JSON form of an output.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>

#include "core/error.h"
#include "tests/training/advantage_test_util.h"
#include "training/advantages/advantage.h"

namespace turnwise {
namespace {

using testing_util::RowOf;
using testing_util::ToyRows;

template <typename E>
E Catch(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const E& e) {
    return e;
  }
  ADD_FAILURE() << "no exception";
  return E("", "none");
}

InvalidArgument CatchInvalid(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const InvalidArgument& e) {
    return e;
  }
  ADD_FAILURE() << "no InvalidArgument";
  return InvalidArgument("none");
}

TEST(AdvantageFactory, KnowsEveryEstimator) {
  EXPECT_EQ(AdvantageEstimatorNames(),
            (std::vector<std::string>{"dr_grpo", "empg", "gae", "gigpo", "grpo", "loop",
                                      "reinforce_plus_plus", "reinforce_plus_plus_baseline", "rloo",
                                      "seeupo"}));
  for (const std::string& name : AdvantageEstimatorNames()) {
    EXPECT_EQ(MakeAdvantageEstimator(name)->Name(), name);
    EXPECT_EQ(MakeAdvantageEstimator(name, nullptr)->Name(), name);  // null config = {}
  }
}

TEST(AdvantageFactory, UnknownNameListsTheKnownOnes) {
  ConfigError e = Catch<ConfigError>([] { MakeAdvantageEstimator("grpoo"); });
  EXPECT_EQ(std::string(e.what()),
            "config: unknown advantage estimator 'grpoo' (did you mean 'grpo'?); known: dr_grpo, "
            "empg, gae, gigpo, grpo, loop, reinforce_plus_plus, reinforce_plus_plus_baseline, "
            "rloo, seeupo");
  EXPECT_EQ(e.key_path(), "");
  EXPECT_EQ(std::string(e.Under("algorithm.adv_estimator").what())
                .rfind("config: algorithm.adv_estimator: unknown advantage estimator 'grpoo'", 0),
            0u);
  EXPECT_THROW(AdvantageEstimatorSchema("ppo"), ConfigError);
}

TEST(AdvantageFactory, BadKeyNamesItsPath) {
  ConfigError e = Catch<ConfigError>([] { MakeAdvantageEstimator("gigpo", {{"gama", 0.9}}); });
  EXPECT_EQ(e.key_path(), "gama");
  EXPECT_EQ(std::string(e.what()),
            "config: gama: unknown key (did you mean 'gamma'?); known keys: enable_similarity, "
            "epsilon, gamma, mode, similarity_thresh, statistics, step_advantage_w");
  e = Catch<ConfigError>([] { MakeAdvantageEstimator("gigpo", {{"mode", "mean"}}); });
  EXPECT_EQ(e.key_path(), "mode");
  e = Catch<ConfigError>([] { MakeAdvantageEstimator("grpo", {{"epsilon", "small"}}); });
  EXPECT_EQ(e.key_path(), "epsilon");
  e = Catch<ConfigError>([] { MakeAdvantageEstimator("gae", {{"lam", 1.5}}); });
  EXPECT_EQ(e.key_path(), "lam");
  // Dr. GRPO has no std, so no std key.
  e = Catch<ConfigError>([] { MakeAdvantageEstimator("dr_grpo", {{"norm_adv_by_std", true}}); });
  EXPECT_EQ(e.key_path(), "norm_adv_by_std");
  e = Catch<ConfigError>([] { MakeAdvantageEstimator("grpo", Json::array()); });
  EXPECT_EQ(e.key_path(), "");
}

TEST(AdvantageFactory, EmpgBaseErrorsAreNested) {
  ConfigError e = Catch<ConfigError>([] {
    MakeAdvantageEstimator("empg", {{"base_config", {{"statistcs", "per_trajectory"}}}});
  });
  EXPECT_EQ(e.key_path(), "base_config.statistcs");
  EXPECT_EQ(std::string(e.what()).rfind("config: base_config.statistcs: unknown key", 0), 0u)
      << e.what();
  e = Catch<ConfigError>([] { MakeAdvantageEstimator("empg", {{"base", "gigp"}}); });
  EXPECT_EQ(e.key_path(), "base");
  EXPECT_NE(std::string(e.what()).find("did you mean 'gigpo'?"), std::string::npos) << e.what();
  e = Catch<ConfigError>([] { MakeAdvantageEstimator("empg", {{"base", "empg"}}); });
  EXPECT_EQ(e.key_path(), "base");
}

// Defaults are the official code's (docs/methods.md, each method's options table).
TEST(AdvantageFactory, DefaultsAreTheOfficialCodes) {
  EXPECT_EQ(MakeAdvantageEstimator("gigpo")->Config(), (Json{{"step_advantage_w", 1.0},
                                                             {"mode", "mean_norm"},
                                                             {"gamma", 1.0},
                                                             {"enable_similarity", false},
                                                             {"similarity_thresh", 0.95},
                                                             {"statistics", "step_weighted"},
                                                             {"epsilon", 1e-6}}));
  EXPECT_EQ(MakeAdvantageEstimator("empg")->Config(), (Json{{"base", "grpo"},
                                                            {"base_config",
                                                             {{"statistics", "step_weighted"},
                                                              {"norm_adv_by_std", true},
                                                              {"std_estimator", "unbiased"},
                                                              {"epsilon", 1e-6}}},
                                                            {"k", 1.0},
                                                            {"k_f", 1.0},
                                                            {"zeta", 0.1},
                                                            {"epsilon", 1e-8}}));
  EXPECT_EQ(MakeAdvantageEstimator("loop")->Config(),
            (Json{{"baseline", "leave_one_out"}, {"adv_normalization", false}}));
  EXPECT_EQ(MakeAdvantageEstimator("seeupo")->Config(),
            (Json{{"norm_adv_by_std", false}, {"special_norm", true}, {"special_norm_clip", 3.0}}));
  EXPECT_EQ(MakeAdvantageEstimator("gae")->Config(),
            (Json{{"gamma", 1.0}, {"lam", 1.0}, {"whiten", true}, {"reward", "step"}}));
  EXPECT_EQ(MakeAdvantageEstimator("dr_grpo")->Config(), (Json{{"statistics", "step_weighted"}}));
  // The schema's defaults and Config() agree.
  for (const std::string& name : AdvantageEstimatorNames()) {
    if (name == "empg") continue;  // base_config is filled from the base's own defaults
    EXPECT_EQ(AdvantageEstimatorSchema(name).Defaults(), MakeAdvantageEstimator(name)->Config())
        << name;
  }
}

TEST(AdvantageRows, InconsistentRowsNameTheRow) {
  auto rows = ToyRows();
  rows[1].turn = 1;  // t1 now has two rows at turn 1
  EXPECT_EQ(
      std::string(CatchInvalid([&] { MakeAdvantageEstimator("grpo")->Compute(rows); }).what()),
      "row 1 (trajectory 't1', turn 1): duplicate turn (also row 0 (trajectory 't1', turn 1))");

  rows = ToyRows();
  rows[RowOf(rows, "t4", 2)].group_id = "A";
  EXPECT_EQ(
      std::string(CatchInvalid([&] { MakeAdvantageEstimator("grpo")->Compute(rows); }).what()),
      "row 9 (trajectory 't4', turn 2): group 'A' differs from the trajectory's group 'B'");

  rows = ToyRows();
  rows[0].done = true;  // but turns 2 and 3 follow
  EXPECT_EQ(
      std::string(CatchInvalid([&] { MakeAdvantageEstimator("gigpo")->Compute(rows); }).what()),
      "row 0 (trajectory 't1', turn 1) is marked done but turn 2 follows it");

  rows = ToyRows();
  rows[2].reward = std::numeric_limits<double>::quiet_NaN();
  EXPECT_EQ(
      std::string(CatchInvalid([&] { MakeAdvantageEstimator("rloo")->Compute(rows); }).what()),
      "row 2 (trajectory 't1', turn 3): reward is not a finite number");

  rows = ToyRows();
  rows[3].trajectory_id.clear();
  EXPECT_THROW(MakeAdvantageEstimator("empg")->Compute(rows), InvalidArgument);
  rows = ToyRows();
  rows[3].num_tokens = -1;
  EXPECT_THROW(MakeAdvantageEstimator("seeupo")->Compute(rows), InvalidArgument);
}

TEST(AdvantageRows, InputOrderDoesNotMatter) {
  const auto rows = ToyRows();
  std::vector<AdvantageRow> reversed(rows.rbegin(), rows.rend());
  for (const std::string name : {"gigpo", "empg", "grpo", "rloo", "seeupo"}) {
    Json config = name == "gigpo" ? Json{{"gamma", 0.95}} : Json::object();
    if (name == "grpo" || name == "rloo") config["statistics"] = "per_trajectory";
    const auto a = MakeAdvantageEstimator(name, config)->Compute(rows);
    const auto b = MakeAdvantageEstimator(name, config)->Compute(reversed);
    for (size_t i = 0; i < rows.size(); ++i) {
      EXPECT_NEAR(a[i].advantage, b[rows.size() - 1 - i].advantage, 1e-12) << name << " " << i;
    }
  }
  for (const std::string& name : AdvantageEstimatorNames()) {
    if (name == "reinforce_plus_plus" || name == "reinforce_plus_plus_baseline") continue;
    EXPECT_TRUE(MakeAdvantageEstimator(name)->Compute({}).empty()) << name;
  }
}

TEST(RowAdvantage, ToJsonCarriesTheAdvantageAndItsParts) {
  const auto rows = ToyRows();
  const auto out = MakeAdvantageEstimator("gigpo", {{"gamma", 0.95}})->Compute(rows);
  const Json j = out[RowOf(rows, "t3", 2)].ToJson();
  EXPECT_NEAR(j["advantage"].get<double>(), -0.375, 1e-12);
  EXPECT_EQ(j["parts"]["step_group_anchor"], "s3");
  EXPECT_EQ(j["parts"]["step_group_size"], 1);
  EXPECT_EQ(j["parts"]["step_advantage"].get<double>(), 0.0);
  EXPECT_NEAR(j["parts"]["episode_advantage"].get<double>(), -0.375, 1e-12);
  // The C++ side keeps the computation order: episode term before step term.
  const auto& parts = out[0].parts;
  auto position = [&](const std::string& name) {
    for (size_t k = 0; k < parts.size(); ++k) {
      if (parts[k].name == name) return k;
    }
    return parts.size();
  };
  EXPECT_LT(position("episode_advantage"), position("step_advantage"));
  EXPECT_THROW(out[0].Number("no_such_part"), NotFound);
  EXPECT_THROW(out[0].Number("step_group_anchor"), InvalidArgument);
}

}  // namespace
}  // namespace turnwise
