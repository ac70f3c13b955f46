#include "envs/sokoban/sokoban_env.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "core/error.h"
#include "core/rng.h"
#include "envs/registry.h"
#include "envs/sokoban/room.h"

namespace turnwise {
namespace {

using sokoban::ParseRoom;
using sokoban::Room;

SokobanEnv MakeEnv(Json config = Json::object()) { return SokobanEnv(config); }

// A corridor: player, box, target in a row.
//   #######
//   #P X O#      (spaced: "# P _ X _ O #")
//   #######
Room Corridor() { return ParseRoom({"#######", "#P_X_O#", "#######"}); }

TEST(SokobanRules, PushOntoTargetWinsWithGymRewards) {
  SokobanEnv env = MakeEnv();
  StepResult s = env.StartLevel(Corridor(), "hand/0");
  EXPECT_EQ(s.observation.text, "# # # # # # #\n# P _ X _ O #\n# # # # # # #");
  EXPECT_EQ(s.admissible_actions, (std::vector<std::string>{"up", "down", "left", "right"}));
  s = env.Step("right");  // walk
  EXPECT_DOUBLE_EQ(s.reward, -0.1);
  EXPECT_FALSE(s.done());
  s = env.Step("right");  // push the box one cell
  EXPECT_DOUBLE_EQ(s.reward, -0.1);
  EXPECT_TRUE(s.info["action_is_effective"].get<bool>());
  s = env.Step("right");  // push it onto the target: -0.1 + 1 + 10
  EXPECT_NEAR(s.reward, 10.9, 1e-12);
  EXPECT_TRUE(s.terminated);
  EXPECT_TRUE(s.info["won"].get<bool>());
  EXPECT_DOUBLE_EQ(s.info["task_score"].get<double>(), 1.0);
  EXPECT_EQ(s.observation.text, "# # # # # # #\n# _ _ _ P √ #\n# # # # # # #");
  EXPECT_THROW(env.Step("left"), FailedPrecondition);
}

TEST(SokobanRules, PushOffTargetCostsOne) {
  SokobanEnv env = MakeEnv();
  // Two boxes, one already on a target: pushing it off costs 1.
  env.StartLevel(ParseRoom({"########", "#P√_XO_#", "########"}), "hand/1");
  EXPECT_EQ(env.room().boxes_on_target(), 1);
  StepResult s = env.Step("right");
  EXPECT_NEAR(s.reward, -0.1 - 1.0, 1e-12);
  EXPECT_EQ(s.info["boxes_on_target"].get<int>(), 0);
  EXPECT_EQ(s.observation.text, "# # # # # # # #\n# _ S X X O _ #\n# # # # # # # #");
  s = env.Step("left");  // stepping off the empty target changes no count
  EXPECT_NEAR(s.reward, -0.1, 1e-12);
}

TEST(SokobanRules, WallsAndBoxesBlock) {
  SokobanEnv env = MakeEnv();
  env.StartLevel(ParseRoom({"######", "#PXX_#", "#___O#", "#___O#", "######"}), "hand/3");
  StepResult s = env.Step("up");  // wall
  EXPECT_FALSE(s.info["action_is_effective"].get<bool>());
  EXPECT_DOUBLE_EQ(s.reward, -0.1);
  EXPECT_TRUE(s.info["is_action_valid"].get<bool>());
  s = env.Step("right");  // a box behind a box does not move
  EXPECT_FALSE(s.info["action_is_effective"].get<bool>());
  EXPECT_EQ(env.room().player, 1 * 6 + 1);
  env.StartLevel(ParseRoom({"#####", "#_PX#", "#O__#", "#####"}), "hand/4");
  s = env.Step("right");  // box against the wall
  EXPECT_FALSE(s.info["action_is_effective"].get<bool>());
}

TEST(SokobanRules, InvalidTextDoesNotMoveOrCountAStep) {
  SokobanEnv env = MakeEnv({{"max_steps", 2}});
  env.StartLevel(Corridor(), "hand/5");
  for (const char* bad : {"jump", "still", "<action>up", "", "<think>x</think><action></action>"}) {
    StepResult s = env.Step(bad);
    EXPECT_FALSE(s.info["is_action_valid"].get<bool>()) << bad;
    EXPECT_DOUBLE_EQ(s.reward, 0.0) << bad;
    EXPECT_FALSE(s.done()) << bad;
  }
  EXPECT_EQ(env.room().player, 7 + 1);
  // verl-agent's projection: tags, any case, the first word in up/down/left/right order.
  StepResult s = env.Step("<think>go</think><action>RIGHT</action>");
  EXPECT_TRUE(s.info["is_action_valid"].get<bool>());
  EXPECT_EQ(env.room().player, 7 + 2);
  s = env.Step("<action>left then up</action>");  // "up" is checked before "left"
  EXPECT_EQ(env.room().player, 7 + 2);             // up is a wall
  EXPECT_TRUE(s.truncated);                        // two valid steps = max_steps
}

TEST(SokobanGenerator, SameSeedSameLevelAndTaskIds) {
  SokobanEnv a = MakeEnv(), b = MakeEnv();
  for (int i = 0; i < 20; ++i) {
    StepResult x = a.Reset({.task_id = "train/" + std::to_string(i)});
    StepResult y = b.Reset({.seed = static_cast<uint64_t>(i), .split = "train"});
    EXPECT_EQ(x.observation.text, y.observation.text);
    EXPECT_EQ(a.TaskId(), "train/" + std::to_string(i));
  }
  StepResult t = a.Reset({.task_id = "train/3"});
  StepResult v = a.Reset({.task_id = "valid/3"});
  EXPECT_NE(t.observation.text, v.observation.text);
  EXPECT_EQ(v.info["level_seed"].get<uint64_t>(), (1ull << 16) + 3);
  EXPECT_THROW(a.Reset({.task_id = "test/1"}), InvalidArgument);
  EXPECT_THROW(a.Reset({.task_id = "train/65536"}), InvalidArgument);
  EXPECT_THROW(a.Reset({.task_id = "train"}), InvalidArgument);
}

TEST(SokobanGenerator, LevelsAreWellFormed) {
  for (const char* preset : {"verl-agent", "ragen-larger"}) {
    SokobanEnv env = MakeEnv({{"preset", preset}});
    for (int i = 0; i < 60; ++i) {
      env.Reset({.task_id = "train/" + std::to_string(i)});
      const Room& room = env.room();
      int targets = 0;
      for (size_t k = 0; k < room.fixed.size(); ++k) targets += room.fixed[k] == sokoban::kTarget;
      EXPECT_EQ(room.num_boxes(), std::string(preset) == "verl-agent" ? 1 : 2);
      EXPECT_EQ(targets, room.num_boxes());
      EXPECT_EQ(room.boxes_on_target(), 0) << "boxes start off target";
      for (int c = 0; c < room.cols; ++c) {
        EXPECT_EQ(room.fixed[static_cast<size_t>(c)], sokoban::kWall);
        EXPECT_EQ(room.fixed[static_cast<size_t>((room.rows - 1) * room.cols + c)], sokoban::kWall);
      }
    }
  }
}

// Plays the expert to the end of every level of the first `n` train tasks.
struct ExpertRun {
  int won = 0;
  std::vector<int> lengths;
  int retries = 0;
};
ExpertRun PlayExpert(const Json& config, int n) {
  SokobanEnv env = MakeEnv(config);
  ExpertRun run;
  for (int i = 0; i < n; ++i) {
    StepResult s = env.Reset({.task_id = "train/" + std::to_string(i)});
    run.retries += s.info["generation_retries"].get<int>();
    auto solution = sokoban::Solve(env.room());
    EXPECT_TRUE(solution.has_value()) << "train/" << i;
    if (solution) run.lengths.push_back(static_cast<int>(solution->size()));
    while (!s.done()) s = env.Step(*env.ExpertAction());
    run.won += s.info["won"].get<bool>();
  }
  return run;
}

TEST(SokobanExpert, SolvesEveryGeneratedLevelOptimally) {
  ExpertRun small = PlayExpert({{"max_steps", 100}}, 300);
  EXPECT_EQ(small.won, 300);
  std::vector<int> lengths = small.lengths;
  std::sort(lengths.begin(), lengths.end());
  // An earlier measurement: median 4 optimal moves on verl-agent's setting.
  EXPECT_GE(lengths[lengths.size() / 2], 2);
  EXPECT_LE(lengths[lengths.size() / 2], 6);
  ExpertRun larger = PlayExpert({{"preset", "ragen-larger"}, {"max_steps", 100}}, 60);
  EXPECT_EQ(larger.won, 60);
}

TEST(SokobanExpert, FollowsAShortestPath) {
  SokobanEnv env = MakeEnv();
  env.StartLevel(Corridor(), "hand/6");
  EXPECT_EQ(*env.ExpertAction(), "right");
  auto path = sokoban::Solve(Corridor());
  ASSERT_TRUE(path);
  EXPECT_EQ(*path, (std::vector<int>{3, 3, 3}));
  // A box in a corner: no solution; the expert still answers a move.
  Room stuck = ParseRoom({"#####", "#X__#", "#_PO#", "#####"});
  EXPECT_FALSE(sokoban::Solve(stuck).has_value());
  env.StartLevel(stuck, "hand/7");
  EXPECT_TRUE(env.ExpertAction().has_value());
}

// The random policy's success on verl-agent's setting lands where gym-sokoban's generator puts
// it (research measured 16-30 % over independent ports, 15 steps).
double RandomSuccess(const Json& config, int n) {
  SokobanEnv env = MakeEnv(config);
  Rng rng(7);
  int won = 0;
  for (int i = 0; i < n; ++i) {
    StepResult s = env.Reset({.task_id = "valid/" + std::to_string(i)});
    while (!s.done()) s = env.Step(SokobanEnv::ActionWords()[rng.Uniform(4)]);
    won += s.info["won"].get<bool>();
  }
  return static_cast<double>(won) / n;
}

TEST(SokobanRandomPolicy, SuccessWithinThePeersRange) {
  const double small = RandomSuccess(Json::object(), 600);
  EXPECT_GE(small, 0.16);
  EXPECT_LE(small, 0.30);
  const double larger = RandomSuccess({{"preset", "ragen-larger"}}, 400);
  EXPECT_GE(larger, 0.005);
  EXPECT_LE(larger, 0.07);
}

TEST(SokobanConfig, BadKeysNameThePath) {
  auto message = [](const Json& config) {
    try {
      SokobanEnv env(config);
    } catch (const ConfigError& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  EXPECT_NE(message({{"preset", "huge"}}).find("env.config.preset"), std::string::npos);
  EXPECT_NE(message({{"preset", "huge"}}).find("verl-agent"), std::string::npos);
  EXPECT_NE(message({{"dim_room", {3, 9}}}).find("env.config.dim_room"), std::string::npos);
  EXPECT_NE(message({{"num_boxes", 4}, {"dim_room", {5, 5}}}).find("env.config.num_boxes"), std::string::npos);
  EXPECT_NE(message({{"boxes", 2}}).find("env.config.boxes"), std::string::npos);
  EXPECT_NE(message({{"render", "pretty"}}).find("env.config.render"), std::string::npos);
}

TEST(SokobanGenerator, RetriesAreCounted) {
  // A shallow reverse play often ends with score 0: those draws are retried and counted.
  SokobanEnv env = MakeEnv({{"search_depth", 3}});
  int retries = 0;
  for (int i = 0; i < 30; ++i) retries += env.Reset({.task_id = "train/" + std::to_string(i)}).info["generation_retries"].get<int>();
  EXPECT_GT(retries, 0);
  // Depth 2 explores the start state only (score 0): no level can be made, and the error says
  // which keys decide it.
  SokobanEnv hopeless = MakeEnv({{"search_depth", 2}});
  try {
    hopeless.Reset({.task_id = "train/0"});
    ADD_FAILURE();
  } catch (const FailedPrecondition& e) {
    EXPECT_NE(std::string(e.what()).find("env.config.search_depth"), std::string::npos);
  }
}

TEST(SokobanRegistry, RegisteredWithPresetsAndRenders) {
  auto env = EnvRegistry::Make("sokoban", {{"preset", "ragen-larger"}, {"render", "compact"}});
  StepResult s = env->Reset({.task_id = "train/0"});
  EXPECT_EQ(s.observation.text.size() - 7, 8u * 8u + std::count(s.observation.text.begin(), s.observation.text.end(), '\xe2') * 2);
  EXPECT_EQ(env->Spec().splits.at("train"), 65536);
  EXPECT_EQ(env->Spec().max_turns, 10);
  EXPECT_EQ(s.anchor_key, s.observation.text);
  auto tabbed = EnvRegistry::Make("sokoban", {{"render", "tabbed"}});
  EXPECT_EQ(tabbed->Reset({.task_id = "train/0"}).observation.text.substr(0, 8), " # \t # \t");
}

}  // namespace
}  // namespace turnwise
