// Method composition in the train config: every preset in configs/methods loads and validates,
// presets merge under the user's keys, the legacy keys keep working, and combinations that cannot
// work are refused with the key path and the reason.
#include <gtest/gtest.h>

#include <filesystem>
#include <set>

#include "core/error.h"
#include "core/json.h"
#include "training/regularizers.h"
#include "training/sft.h"
#include "training/trainer.h"

namespace turnwise {
namespace {

namespace fs = std::filesystem;

const fs::path kMethods = fs::path(TURNWISE_SOURCE_DIR) / "configs" / "methods";

Json WithAlgorithm(Json algorithm) {
  return {{"model", {{"checkpoint", "unused"}}}, {"algorithm", std::move(algorithm)}};
}

TEST(MethodPresets, EveryPresetLoadsAndValidates) {
  std::set<std::string> names;
  for (const auto& e : fs::directory_iterator(kMethods)) {
    if (e.path().extension() != ".json") continue;
    names.insert(e.path().stem().string());
    SCOPED_TRACE(e.path().string());
    // By path and by name (the name resolves through the source tree).
    Json by_path = ResolveTrainConfig(WithAlgorithm({{"preset", e.path().string()}}));
    Json by_name = ResolveTrainConfig(WithAlgorithm({{"preset", e.path().stem().string()}}));
    by_name["algorithm"]["preset"] = by_path["algorithm"]["preset"];
    EXPECT_EQ(by_path, by_name);
    // The preset's own keys are what the run uses.
    Json preset = ReadJsonFile(e.path().string())["algorithm"];
    const Json& a = by_path["algorithm"];
    EXPECT_EQ(a["advantage"]["name"], preset["advantage"]["name"]);
    for (auto it = preset["loss"].begin(); it != preset["loss"].end(); ++it) {
      EXPECT_EQ(a["loss"][it.key()], it.value()) << it.key();
    }
    if (preset.contains("regularizers")) {
      EXPECT_EQ(a["regularizers"], preset["regularizers"]);
    }
    if (preset.contains("schedule")) {
      EXPECT_EQ(a["schedule"]["name"], preset["schedule"]["name"]);
    }
  }
  EXPECT_EQ(names, (std::set<std::string>{"dapo", "gigpo", "gigpo_empg", "gigpo_epo", "grpo", "grpo_llds", "gspo",
                                          "loop", "seeupo"}));
}

TEST(MethodPresets, UserKeysWinAndOtherNamesReplaceTheBlock) {
  Json a = ResolveTrainConfig(WithAlgorithm({{"preset", "dapo"}, {"loss", {{"clip_high", 0.3}}}}))["algorithm"];
  EXPECT_EQ(a["loss"]["clip_high"], 0.3);
  EXPECT_EQ(a["loss"]["clip_low"], 0.2);  // from the preset
  EXPECT_EQ(a["schedule"]["name"], "dynamic_sampling");
  EXPECT_EQ(a["schedule"]["max_attempts"], 10);
  // Another loss replaces the preset's loss block: GSPO's tiny ε does not leak into PPO.
  a = ResolveTrainConfig(WithAlgorithm({{"preset", "gspo"}, {"loss", {{"name", "ppo"}}}}))["algorithm"];
  EXPECT_EQ(a["loss"]["clip_low"], 0.2);
  EXPECT_EQ(a["loss"]["aggregation"], "token-mean");
  // Another estimator replaces the advantage block (GiGPO's keys would be unknown to GRPO).
  a = ResolveTrainConfig(WithAlgorithm({{"preset", "gigpo"}, {"advantage", {{"name", "grpo"}}}}))["algorithm"];
  EXPECT_EQ(a["advantage"]["config"], Json::object());
  // The regularizers list replaces the preset's.
  a = ResolveTrainConfig(WithAlgorithm({{"preset", "gigpo_epo"}, {"regularizers", Json::array()}}))["algorithm"];
  EXPECT_TRUE(a["regularizers"].empty());
}

TEST(MethodConfig, DefaultsAndLegacyKeys) {
  // The public schema leaves the algorithm block to the resolution step.
  Json raw = TrainConfigSchema().Validate(Json::object());
  EXPECT_FALSE(raw.contains("algorithm") && raw["algorithm"].contains("loss"));
  Json a = ResolveTrainConfig(WithAlgorithm(Json::object()))["algorithm"];
  EXPECT_EQ(a["loss"]["name"], "ppo");
  EXPECT_EQ(a["loss"]["aggregation"], "token-mean");
  EXPECT_EQ(a["schedule"]["name"], "none");
  EXPECT_EQ(a["advantage"]["name"], "grpo");
  EXPECT_EQ(a["kl"]["coef"], 0.0);
  // Loss-dependent defaults.
  a = ResolveTrainConfig(WithAlgorithm({{"loss", {{"name", "loop"}}}, {"advantage", {{"name", "loop"}}}}))["algorithm"];
  EXPECT_EQ(a["loss"]["aggregation"], "rollout-mean-fixed");
  EXPECT_EQ(a["loss"]["epsilon"], 0.1);
  a = ResolveTrainConfig(WithAlgorithm({{"loss", {{"name", "gspo"}}}}))["algorithm"];
  EXPECT_EQ(a["loss"]["aggregation"], "seq-mean-token-mean");
  EXPECT_EQ(a["loss"]["clip_low"], 3e-4);
  EXPECT_EQ(a["loss"]["clip_high"], 4e-4);
  // The pre-existing keys still configure the run (configs/demo.json's block).
  a = ResolveTrainConfig(WithAlgorithm({{"advantage", {{"name", "grpo"}, {"config", Json::object()}}},
                                        {"invalid_action_penalty", 0.1},
                                        {"loss", {{"clip_low", 0.2}, {"clip_high", 0.28}, {"aggregation", "token-mean"}}},
                                        {"kl", {{"coef", 0.01}}},
                                        {"entropy_coef", 0.001}}))["algorithm"];
  EXPECT_EQ(a["loss"]["clip_high"], 0.28);
  EXPECT_EQ(a["kl"]["coef"], 0.01);
  EXPECT_EQ(a["schedule"], (Json{{"name", "none"}}));
}

std::string KeyOf(const Json& algorithm, Json extra = Json::object()) {
  Json c = WithAlgorithm(algorithm);
  for (auto it = extra.begin(); it != extra.end(); ++it) c[it.key()] = it.value();
  try {
    ResolveTrainConfig(c);
  } catch (const ConfigError& e) {
    EXPECT_FALSE(e.detail().empty());
    return e.key_path();
  }
  return "(accepted)";
}

TEST(MethodConfig, InvalidCombinationsNameTheKey) {
  EXPECT_EQ(KeyOf({{"preset", "no_such_method"}}), "algorithm.preset");
  EXPECT_EQ(KeyOf({{"preset", "/nonexistent/x.json"}}), "algorithm.preset");
  EXPECT_EQ(KeyOf({{"loss", {{"name", "gspo"}, {"aggregation", "token-mean"}}}}), "algorithm.loss.aggregation");
  EXPECT_EQ(KeyOf({{"preset", "gspo"}, {"loss", {{"aggregation", "seq-mean-token-sum"}}}}),
            "algorithm.loss.aggregation");
  EXPECT_EQ(KeyOf({{"loss", {{"name", "gspo"}, {"dual_clip_c", 3.0}}}}), "algorithm.loss.dual_clip_c");
  EXPECT_EQ(KeyOf({{"loss", {{"name", "loop"}, {"clip_low", 0.1}}}}), "algorithm.loss.clip_low");
  EXPECT_EQ(KeyOf({{"loss", {{"name", "reinforce"}, {"clip_high", 0.1}}}}), "algorithm.loss.clip_high");
  EXPECT_EQ(KeyOf({{"loss", {{"epsilon", 0.2}}}}), "algorithm.loss.epsilon");
  EXPECT_EQ(KeyOf({{"loss", {{"importance_ratio", true}}}}), "algorithm.loss.importance_ratio");
  EXPECT_EQ(KeyOf({{"loss", {{"name", "lop"}}}}), "algorithm.loss.name");
  EXPECT_EQ(KeyOf({{"loss", {{"rollouts_per_minibatch", 32}}}}), "algorithm.loss.rollouts_per_minibatch");
  EXPECT_EQ(KeyOf({{"zero_advantage_threshold", 0.02}}), "algorithm.zero_advantage_threshold");
  EXPECT_EQ(KeyOf({{"overlong", {{"penalty_factor", 0.5}}}}), "algorithm.overlong.buffer");
  EXPECT_EQ(KeyOf({{"overlong", {{"buffer", 100}}}}), "algorithm.overlong.buffer");  // > max_new_tokens 48
  EXPECT_EQ(KeyOf({{"schedule", {{"name", "seeupo"}}}, {"advantage", {{"name", "gae"}}}}), "algorithm.schedule.name");
  EXPECT_EQ(KeyOf({{"schedule", {{"name", "seeupo"}}},
                   {"advantage", {{"name", "reinforce_plus_plus"}}}}), "algorithm.schedule.name");
  EXPECT_EQ(KeyOf({{"advantage", {{"name", "seeupo"}}}}), "algorithm.advantage.name");
  EXPECT_EQ(KeyOf({{"schedule", {{"name", "dynamic_sampling"}}}, {"advantage", {{"name", "gae"}}}}),
            "algorithm.schedule.name");
  EXPECT_EQ(KeyOf({{"schedule", {{"name", "sequential"}}}}), "algorithm.schedule.name");
  EXPECT_EQ(KeyOf({{"schedule", {{"name", "dynamic_sampling"}, {"max_atempts", 3}}}}),
            "algorithm.schedule.max_atempts");
  EXPECT_EQ(KeyOf({{"schedule", {{"name", "seeupo"}, {"clip_low", 0.2}}}, {"advantage", {{"name", "seeupo"}}}}),
            "(accepted)");
  EXPECT_EQ(KeyOf({{"regularizers", {{{"name", "epo"}, {"kappa_lo", 0.1}}}}}), "algorithm.regularizers[0].kappa_lo");
  EXPECT_EQ(KeyOf({{"regularizers", {{{"name", "llds"}}, {{"name", "llds"}, {"coef", 0.1}}}}}),
            "algorithm.regularizers[1].name");
  EXPECT_EQ(KeyOf({{"regularizers", {{{"name", "kl"}, {"coef", 0.1}}}}, {"kl", {{"coef", 0.01}}}}),
            "algorithm.kl.coef");
  EXPECT_EQ(KeyOf({{"regularizers", {{{"name", "entropy"}, {"coef", 0.1}}}}, {"entropy_coef", 0.01}}),
            "algorithm.entropy_coef");
  EXPECT_EQ(KeyOf({{"regularizers", {{{"name", "epo"}, {"form", "code"}, {"beta_gamma", 3.0}}}}}),
            "algorithm.regularizers[0].beta_gamma");
  EXPECT_EQ(KeyOf({{"regularizers", {{{"name", "kl"}, {"coef", 0.1}}, {{"name", "epo"}}, {{"name", "llds"}},
                                     {{"name", "entropy"}, {"coef", 0.001}}}}}),
            "(accepted)");
}

// The shipped run configs stay valid as the schemas evolve: the main job (its warm start is an
// SFT config), the household SFT recipes and the learning benchmarks' base configs.
TEST(ShippedConfigs, DemoAndSftRecipeValidate) {
  const fs::path configs = fs::path(TURNWISE_SOURCE_DIR) / "configs";
  Json demo = ReadJsonFile((configs / "demo.json").string());
  Json resolved;
  ASSERT_NO_THROW(resolved = ResolveTrainConfig(demo));
  EXPECT_EQ(resolved["algorithm"]["advantage"]["name"], "gigpo");  // through the preset
  EXPECT_EQ(resolved["algorithm"]["kl"]["coef"], 0.0);            // the demo's own key wins
  EXPECT_NO_THROW(SftConfigSchema().Validate(demo["warm_start"]));
  // The start learns the format and not the task: the random policy's episodes, the admissible
  // set as the action's target, in the layout the RL run uses.
  EXPECT_EQ(demo["warm_start"]["data"]["policy"], "random");
  EXPECT_EQ(demo["warm_start"]["train"]["action_target"], "admissible");
  EXPECT_EQ(demo["warm_start"]["prompt"]["layout"], demo["rollout"]["layout"]);
  EXPECT_EQ(demo["warm_start"]["prompt"]["history_length"], demo["rollout"]["history_length"]);
  EXPECT_EQ(demo["warm_start"]["prompt"]["compact"], demo["rollout"]["compact_prompt"]);
  EXPECT_EQ(demo["warm_start"]["env"]["config"], demo["env"]["config"]);
  EXPECT_NO_THROW(SftConfigSchema().Validate(ReadJsonFile((configs / "sft_frozenlake_expert.json").string())));
  EXPECT_NO_THROW(SftConfigSchema().Validate(ReadJsonFile((configs / "sft_household.json").string())));
  const Json pick = ReadJsonFile((configs / "sft_household_pick.json").string());
  EXPECT_NO_THROW(SftConfigSchema().Validate(pick));
  EXPECT_EQ(pick["data"]["think"], "observe");
  // The learning benchmarks' RL configs (bench/learning) resolve too.
  const fs::path bench = fs::path(TURNWISE_SOURCE_DIR) / "bench" / "learning";
  for (const char* name : {"household.json", "household_pick.json"}) {
    Json c = ReadJsonFile((bench / name).string());
    c["algorithm"]["preset"] = c["algorithm"].value("preset", "grpo");
    EXPECT_NO_THROW(ResolveTrainConfig(c)) << name;
  }
}

}  // namespace
}  // namespace turnwise
