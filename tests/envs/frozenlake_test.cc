#include "envs/frozenlake/frozenlake_env.h"

#include <gtest/gtest.h>

#include "core/error.h"
#include "core/rng.h"
#include "envs/registry.h"

namespace turnwise {
namespace {

// Finds a train task whose map satisfies `pred`.
template <class Pred>
std::string FindTask(FrozenLakeEnv& env, Pred pred) {
  for (int i = 0; i < 5000; ++i) {
    const std::string id = "train/" + std::to_string(i);
    env.Reset({.task_id = id});
    if (pred(env)) return id;
  }
  ADD_FAILURE() << "no map found";
  return "train/0";
}

TEST(FrozenLakeMap, GeneratedMapsHaveAPathAndAreDeterministic) {
  for (uint64_t seed = 0; seed < 200; ++seed) {
    auto map = FrozenLakeEnv::GenerateMap(4, 0.8, seed);
    EXPECT_EQ(map, FrozenLakeEnv::GenerateMap(4, 0.8, seed));
    int starts = 0, goals = 0;
    for (const auto& row : map) {
      EXPECT_EQ(row.size(), 4u);
      starts += std::count(row.begin(), row.end(), 'S');
      goals += std::count(row.begin(), row.end(), 'G');
    }
    EXPECT_EQ(starts, 1);
    EXPECT_EQ(goals, 1);
  }
  EXPECT_NE(FrozenLakeEnv::GenerateMap(4, 0.8, 1), FrozenLakeEnv::GenerateMap(4, 0.8, 2));
  // Frozen with probability p: about 80 % of the non-start, non-goal cells.
  int frozen = 0, cells = 0;
  for (uint64_t seed = 0; seed < 500; ++seed) {
    for (const auto& row : FrozenLakeEnv::GenerateMap(6, 0.8, seed)) {
      for (char c : row) {
        if (c == 'F' || c == 'H') ++cells, frozen += c == 'F';
      }
    }
  }
  // Maps without a path are redrawn, which favours frozen cells a little.
  EXPECT_NEAR(static_cast<double>(frozen) / cells, 0.8, 0.04);
}

TEST(FrozenLakeRules, MovesHolesGoalAndBorders) {
  FrozenLakeEnv env(Json::object());
  // A map with the goal right of the start.
  FindTask(env, [](FrozenLakeEnv& e) {
    const int p = e.player();
    return p % 4 < 3 && e.map()[static_cast<size_t>(p / 4)][static_cast<size_t>(p % 4 + 1)] == 'G';
  });
  const int start = env.player();
  StepResult s = env.Step("right");
  EXPECT_DOUBLE_EQ(s.reward, 1.0);
  EXPECT_TRUE(s.terminated);
  EXPECT_TRUE(s.info["won"].get<bool>());
  EXPECT_NE(s.observation.text.find("√"), std::string::npos);
  EXPECT_EQ(env.player(), start + 1);

  // A hole below the start: falling in ends the episode without reward.
  FindTask(env, [](FrozenLakeEnv& e) {
    const int p = e.player();
    return p / 4 < 3 && e.map()[static_cast<size_t>(p / 4 + 1)][static_cast<size_t>(p % 4)] == 'H';
  });
  s = env.Step("<action>Down</action>");
  EXPECT_DOUBLE_EQ(s.reward, 0.0);
  EXPECT_TRUE(s.terminated);
  EXPECT_FALSE(s.info["won"].get<bool>());
  EXPECT_NE(s.observation.text.find("X"), std::string::npos);

  // The border: walking left from column 0 stays put and counts a step.
  FindTask(env, [](FrozenLakeEnv& e) { return e.player() % 4 == 0; });
  const int before = env.player();
  s = env.Step("left");
  EXPECT_EQ(env.player(), before);
  EXPECT_FALSE(s.info["action_is_effective"].get<bool>());
  EXPECT_TRUE(s.info["is_action_valid"].get<bool>());
}

TEST(FrozenLakeRules, RenderSymbolsAndInvalidActions) {
  FrozenLakeEnv env(Json{{"render", "compact"}, {"max_steps", 1}});
  StepResult s = env.Reset({.task_id = "valid/5"});
  ASSERT_EQ(s.observation.text.size(), 4u * 4u + 3u);
  int players = 0;
  for (char c : s.observation.text) players += c == 'P';
  EXPECT_EQ(players, 1);
  EXPECT_EQ(s.observation.text.find('S'), std::string::npos) << "the start shows as frozen";
  s = env.Step("jump");
  EXPECT_FALSE(s.info["is_action_valid"].get<bool>());
  EXPECT_FALSE(s.done()) << "an invalid action does not count a step";
  s = env.Step(*env.ExpertAction());
  EXPECT_TRUE(s.done());
  EXPECT_EQ(s.admissible_actions, (std::vector<std::string>{"left", "down", "right", "up"}));
}

TEST(FrozenLakeRules, DescribeCoordinatesNamesPlayerAndGoalCells) {
  FrozenLakeEnv env(Json{{"render", "compact"}, {"describe", "coordinates"}});
  StepResult s = env.Reset({.task_id = "valid/5"});
  const std::string& text = s.observation.text;
  const size_t line = text.find("\nYou are at ");
  ASSERT_NE(line, std::string::npos) << text;
  // The line names the cells the grid shows: find P and G in the 4 grid rows above it.
  const std::string grid = text.substr(0, line);
  const auto cell_of = [&](char symbol) {
    const size_t at = grid.find(symbol);
    return std::pair<int, int>(static_cast<int>(at / 5) + 1, static_cast<int>(at % 5) + 1);
  };
  const auto [pr, pc] = cell_of('P');
  const auto [gr, gc] = cell_of('G');
  EXPECT_EQ(text.substr(line + 1), "You are at row " + std::to_string(pr) + ", column " + std::to_string(pc) +
                                       "; the goal is at row " + std::to_string(gr) + ", column " +
                                       std::to_string(gc) + ".");
  EXPECT_EQ(s.anchor_key, text);
  // After a move the line follows the player.
  const int before = env.player();
  s = env.Step(*env.ExpertAction());
  if (!s.done()) {
    EXPECT_NE(env.player(), before);
    EXPECT_NE(s.observation.text.find("You are at row " + std::to_string(env.player() / 4 + 1) + ", column " +
                                      std::to_string(env.player() % 4 + 1) + ";"),
              std::string::npos)
        << s.observation.text;
  }
  // Off by default: RAGEN's observation, the grid alone.
  FrozenLakeEnv plain(Json{{"render", "compact"}});
  EXPECT_EQ(plain.Reset({.task_id = "valid/5"}).observation.text, grid);
}

// The relative line against the grid it describes, on every train map's start: the goal's
// offset in action words and the holes among the four neighbours.
TEST(FrozenLakeRules, DescribeRelativeMatchesTheGrid) {
  FrozenLakeEnv env(Json{{"render", "compact"}, {"describe", "relative"}});
  int with_holes = 0;
  for (int i = 0; i < 200; ++i) {
    const std::string text = env.Reset({.task_id = "train/" + std::to_string(i)}).observation.text;
    const size_t line = text.find("\nGoal: ");
    ASSERT_NE(line, std::string::npos) << text;
    const std::string grid = text.substr(0, line);
    const int p = static_cast<int>(grid.find('P')), g = static_cast<int>(grid.find('G'));
    const int pr = p / 5, pc = p % 5, gr = g / 5, gc = g % 5;
    std::string expected = "Goal: " + std::to_string(std::abs(gr - pr)) + (gr < pr ? " up, " : " down, ") +
                           std::to_string(std::abs(gc - pc)) + (gc < pc ? " left." : " right.") +
                           " Holes next to you:";
    std::string holes;
    const std::pair<int, int> neighbours[4] = {{pr, pc - 1}, {pr + 1, pc}, {pr, pc + 1}, {pr - 1, pc}};
    const char* words[4] = {"left", "down", "right", "up"};
    for (int a = 0; a < 4; ++a) {
      const auto [r, c] = neighbours[a];
      if (r < 0 || r > 3 || c < 0 || c > 3 || grid[static_cast<size_t>(r * 5 + c)] != 'O') continue;
      holes += std::string(holes.empty() ? " " : ", ") + words[a];
    }
    with_holes += !holes.empty();
    expected += holes.empty() ? " none." : holes + ".";
    EXPECT_EQ(text.substr(line + 1), expected) << text;
  }
  EXPECT_GT(with_holes, 20) << "the maps have holes next to the start often enough to test the list";
}

TEST(FrozenLakeConfig, UnknownDescribeModeNamesTheKeyAndTheModes) {
  try {
    FrozenLakeEnv env(Json{{"describe", "words"}});
    FAIL() << "accepted an unknown mode";
  } catch (const ConfigError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("env.config.describe"), std::string::npos) << what;
    EXPECT_NE(what.find("relative"), std::string::npos) << what;
  }
}

// Success of the uniform random policy and of the expert over `n` held-out maps.
std::pair<double, double> Rates(const Json& config, int n) {
  FrozenLakeEnv env(config);
  Rng rng(3);
  int random_won = 0;
  double expert_won = 0;
  for (int i = 0; i < n; ++i) {
    const std::string id = "valid/" + std::to_string(i);
    StepResult s = env.Reset({.task_id = id});
    while (!s.done()) s = env.Step(FrozenLakeEnv::ActionWords()[rng.Uniform(4)]);
    random_won += s.info["won"].get<bool>();
    s = env.Reset({.task_id = id});
    expert_won += env.ExpertSuccessProbability();
  }
  return {static_cast<double>(random_won) / n, expert_won / n};
}

TEST(FrozenLakePolicies, RandomAndExpertMatchTheMeasuredRates) {
  // An earlier measurement, by exact DP over 2,000 random 4x4 maps, 10 actions: random 22.1 %
  // either way; best possible 100 % without slip, 50.4 % with slip.
  auto [random, expert] = Rates(Json::object(), 2000);
  EXPECT_NEAR(random, 0.221, 0.03);
  EXPECT_DOUBLE_EQ(expert, 1.0);
  auto [random_slip, expert_slip] = Rates({{"is_slippery", true}}, 2000);
  EXPECT_NEAR(random_slip, 0.221, 0.03);
  EXPECT_NEAR(expert_slip, 0.504, 0.03);
}

TEST(FrozenLakeExpert, ReachesTheGoalOnEveryMapWithoutSlip) {
  FrozenLakeEnv env(Json::object());
  for (int i = 0; i < 300; ++i) {
    StepResult s = env.Reset({.task_id = "train/" + std::to_string(i)});
    while (!s.done()) s = env.Step(*env.ExpertAction());
    EXPECT_TRUE(s.info["won"].get<bool>()) << i;
  }
}

// Steps of the shortest walk from the start to the goal around the holes (breadth-first search
// written here, independent of the env's solver).
int ShortestWalk(const std::vector<std::string>& map) {
  const int n = static_cast<int>(map.size());
  std::vector<int> dist(static_cast<size_t>(n * n), -1);
  std::vector<int> queue;
  for (int i = 0; i < n * n; ++i) {
    if (map[static_cast<size_t>(i / n)][static_cast<size_t>(i % n)] == 'S') {
      dist[static_cast<size_t>(i)] = 0;
      queue.push_back(i);
    }
  }
  for (size_t head = 0; head < queue.size(); ++head) {
    const int cell = queue[head];
    if (map[static_cast<size_t>(cell / n)][static_cast<size_t>(cell % n)] == 'G') return dist[static_cast<size_t>(cell)];
    const int moves[4][2] = {{0, -1}, {1, 0}, {0, 1}, {-1, 0}};
    for (const auto& m : moves) {
      const int r = cell / n + m[0];
      const int c = cell % n + m[1];
      if (r < 0 || r >= n || c < 0 || c >= n || map[static_cast<size_t>(r)][static_cast<size_t>(c)] == 'H') continue;
      if (dist[static_cast<size_t>(r * n + c)] >= 0) continue;
      dist[static_cast<size_t>(r * n + c)] = dist[static_cast<size_t>(cell)] + 1;
      queue.push_back(r * n + c);
    }
  }
  return -1;
}

TEST(FrozenLakeExpert, WalksAShortestPathWithoutSlip) {
  // Every action that still reaches the goal in time has success probability 1; the expert must
  // still pick the quickest, or its choices depend on the step count and cannot be imitated.
  FrozenLakeEnv env(Json::object());
  for (int i = 0; i < 300; ++i) {
    StepResult s = env.Reset({.task_id = "valid/" + std::to_string(i)});
    const int shortest = ShortestWalk(env.map());
    ASSERT_GT(shortest, 0) << i;
    int steps = 0;
    while (!s.done()) {
      s = env.Step(*env.ExpertAction());
      ++steps;
    }
    EXPECT_TRUE(s.info["won"].get<bool>()) << i;
    EXPECT_EQ(steps, shortest) << "map " << i;
  }
}

TEST(FrozenLakeExpert, SlipperyPlayMatchesTheDpProbability) {
  FrozenLakeEnv env(Json{{"is_slippery", true}});
  // Monte Carlo over many maps: the expert's empirical success equals the DP's mean.
  double predicted = 0;
  int won = 0;
  const int n = 3000;
  for (int i = 0; i < n; ++i) {
    StepResult s = env.Reset({.task_id = "train/" + std::to_string(i)});
    predicted += env.ExpertSuccessProbability();
    while (!s.done()) s = env.Step(*env.ExpertAction());
    won += s.info["won"].get<bool>();
  }
  EXPECT_NEAR(static_cast<double>(won) / n, predicted / n, 0.03);
}

TEST(FrozenLakeConfig, BadKeysNameThePath) {
  try {
    FrozenLakeEnv env(Json{{"size", 40}});
    ADD_FAILURE();
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("env.config.size"), std::string::npos);
  }
  EXPECT_THROW(FrozenLakeEnv(Json{{"slippery", true}}), ConfigError);
  auto env = EnvRegistry::Make("frozenlake", Json::object());
  EXPECT_EQ(env->Spec().max_turns, 10);
}

}  // namespace
}  // namespace turnwise
