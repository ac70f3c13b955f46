// Method presets without the trainer: where a name is looked up, what a malformed preset says,
// and how a run config's algorithm keys merge onto its preset's.
#include "training/advantages/method_preset.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "core/error.h"

namespace turnwise {
namespace {

namespace fs = std::filesystem;

// Two preset directories under a fresh temp dir, removed afterwards.
class MethodPresetTest : public testing::Test {
 protected:
  void SetUp() override {
    root_ =
        fs::temp_directory_path() / ("turnwise-method-preset-" + std::to_string(::getpid()) + "-" +
                                     testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    fs::create_directories(root_ / "first");
    fs::create_directories(root_ / "second");
  }
  void TearDown() override { fs::remove_all(root_); }

  std::string Dir(const std::string& name) const { return (root_ / name).string(); }
  std::string Write(const std::string& dir, const std::string& name,
                    const std::string& text) const {
    std::string path = (root_ / dir / (name + ".json")).string();
    std::ofstream(path) << text;
    return path;
  }
  static std::string Estimator(const std::string& name) {
    return "// A test preset.\n{\"algorithm\": {\"advantage\": {\"name\": \"" + name + "\"}}}";
  }
  // The message of the ConfigError loading `preset` throws (checked to be on algorithm.preset),
  // or "" when it loads.
  static std::string Failure(const std::string& preset, const MethodPresetSearch& search) {
    try {
      LoadMethodPreset(preset, search);
    } catch (const ConfigError& e) {
      EXPECT_EQ(e.key_path(), "algorithm.preset");
      return e.detail();
    }
    return "";
  }

  fs::path root_;
};

TEST_F(MethodPresetTest, DirectoriesInOrderThenBuiltIn) {
  const std::string built_in_text = Estimator("rloo");
  MethodPresetSearch search{
      .dirs = {Dir("missing"), Dir("first"), Dir("second")},
      .built_in = {{"both", built_in_text}, {"only_built_in", built_in_text}}};
  Write("first", "both", Estimator("grpo"));
  Write("second", "both", Estimator("gigpo"));
  Write("second", "only_second", Estimator("gigpo"));

  LoadedMethodPreset both = LoadMethodPreset("both", search);
  EXPECT_EQ(both.source, Dir("first") + "/both.json");
  EXPECT_EQ(both.algorithm["advantage"]["name"], "grpo");
  EXPECT_EQ(LoadMethodPreset("only_second", search).algorithm["advantage"]["name"], "gigpo");
  LoadedMethodPreset built_in = LoadMethodPreset("only_built_in", search);
  EXPECT_EQ(built_in.source, "built-in preset 'only_built_in'");
  EXPECT_EQ(built_in.algorithm["advantage"]["name"], "rloo");
  // A path is read as given, whatever the directories hold.
  std::string path = Write("second", "elsewhere", Estimator("empg"));
  EXPECT_EQ(LoadMethodPreset(path, search).algorithm["advantage"]["name"], "empg");
}

TEST_F(MethodPresetTest, ErrorsNameTheKeyAndWhatToDo) {
  const std::string nested = R"({"algorithm": {"preset": "grpo"}})";
  MethodPresetSearch search{.dirs = {Dir("first"), Dir("second")},
                            .built_in = {{"nested", nested}}};
  Write("first", "gigpo", Estimator("gigpo"));
  Write("second", "grpo", Estimator("grpo"));
  Write("second", "shape", R"({"advantage": {"name": "grpo"}})");
  Write("second", "broken", R"({"algorithm": )");

  // An unknown name lists every name any place holds.
  EXPECT_EQ(Failure("gipgo", search),
            "unknown method preset 'gipgo' (did you mean 'gigpo'?); known: broken, gigpo, grpo, "
            "nested, shape");
  EXPECT_NE(Failure(Dir("second") + "/nope.json", search).find("no such file"), std::string::npos);
  EXPECT_NE(Failure("shape", search).find("must hold one object, {\"algorithm\": {...}}"),
            std::string::npos);
  EXPECT_NE(Failure("broken", search).find("broken.json"), std::string::npos);
  EXPECT_NE(Failure("nested", search)
                .find("'built-in preset 'nested'' names another preset; presets do not nest"),
            std::string::npos);
}

TEST(MethodBlockMerge, UserKeysWin) {
  Json preset = Json::parse(
      R"({"advantage": {"name": "gigpo", "config": {"mode": "mean_std_norm", "gamma": 0.95}},
                                "loss": {"name": "ppo", "clip_low": 0.2, "clip_high": 0.28}})");
  Json user = Json::parse(
      R"({"advantage": {"config": {"mode": "mean_norm"}}, "loss": {"clip_high": 0.3}})");
  Json merged = MergeMethodBlock(preset, user);
  EXPECT_EQ(merged["advantage"]["name"], "gigpo");
  EXPECT_EQ(merged["advantage"]["config"]["mode"], "mean_norm");
  EXPECT_EQ(merged["advantage"]["config"]["gamma"], 0.95);
  EXPECT_EQ(merged["loss"], Json::parse(R"({"name": "ppo", "clip_low": 0.2, "clip_high": 0.3})"));
  // Naming the preset's own estimator keeps its options.
  user["advantage"]["name"] = "gigpo";
  EXPECT_EQ(MergeMethodBlock(preset, user)["advantage"]["config"]["gamma"], 0.95);
  // Keys only one side has are kept.
  EXPECT_EQ(MergeMethodBlock(preset, Json::object()), preset);
  EXPECT_EQ(MergeMethodBlock(Json::object(), user), user);
}

TEST(MethodBlockMerge, AnotherNameReplacesTheBlockWhole) {
  Json preset = Json::parse(
      R"({"advantage": {"name": "gigpo", "config": {"mode": "mean_norm", "gamma": 0.95}},
                                "schedule": {"name": "dynamic_sampling", "max_attempts": 3}})");
  Json user = Json::parse(R"({"advantage": {"name": "rloo"}, "schedule": {"name": "none"}})");
  Json merged = MergeMethodBlock(preset, user);
  EXPECT_EQ(merged["advantage"], Json::parse(R"({"name": "rloo"})"));  // no GiGPO option leaks
  EXPECT_EQ(merged["schedule"], Json::parse(R"({"name": "none"})"));
}

TEST(MethodBlockMerge, ListsAndScalarsReplaceWhole) {
  Json preset = Json::parse(R"({"regularizers": [{"name": "epo", "beta": 0.1}, {"name": "kl"}],
                                "advantage": {"name": "grpo", "config": {"epsilon": 1e-6}}})");
  Json user = Json::parse(
      R"({"regularizers": [{"name": "epo", "beta": 0.5}], "advantage": {"config": 3}})");
  Json merged = MergeMethodBlock(preset, user);
  EXPECT_EQ(merged["regularizers"], Json::parse(R"([{"name": "epo", "beta": 0.5}])"));
  EXPECT_EQ(merged["advantage"]["config"], 3);
  EXPECT_EQ(MergeMethodBlock(preset, Json::parse(R"({"regularizers": []})"))["regularizers"],
            Json::array());
}

}  // namespace
}  // namespace turnwise
