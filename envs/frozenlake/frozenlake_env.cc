#include "envs/frozenlake/frozenlake_env.h"

#include <algorithm>

#include "core/config.h"
#include "core/error.h"
#include "envs/internal/direction_action.h"
#include "envs/internal/grid_env_util.h"

namespace turnwise {
namespace {

using envs_internal::GridLayouts;
using envs_internal::ParseDirectionAction;
using envs_internal::RenderGrid;
using envs_internal::ResolveTask;
using envs_internal::SeedSplits;
using envs_internal::SplitSeed;

const std::vector<std::string>& DescribeModes() {
  static const std::vector<std::string> kModes = {"none", "coordinates", "relative"};
  return kModes;
}

const ConfigSchema& Schema() {
  static const ConfigSchema schema = [] {
    ConfigSchema s;
    s.Add({.path = "size", .type = FieldType::kInt, .default_value = 4, .help = "the map is size x size",
           .min = 2, .max = 12});
    s.Add({.path = "p", .type = FieldType::kNumber, .default_value = 0.8,
           .help = "probability that a cell is frozen (else a hole)", .min = 0.05, .max = 1.0});
    s.Add("is_slippery", FieldType::kBool, false,
          "slide: the intended direction with probability 1/3, each perpendicular one with 1/3 (RAGEN: true)");
    s.Add({.path = "max_steps", .type = FieldType::kInt, .default_value = 10,
           .help = "valid steps before the episode is truncated (RAGEN's max_actions_per_traj)", .min = 1,
           .max = 10000});
    s.Add({.path = "render", .type = FieldType::kString, .default_value = "spaced",
           .help = "grid text: spaced (cells separated by a space), compact (RAGEN), tabbed",
           .choices = GridLayouts()});
    s.Add({.path = "describe", .type = FieldType::kString, .default_value = "none",
           .help = "a line under the grid: none (RAGEN's observation), coordinates (the player's and the "
                   "goal's row and column), relative (how far the goal lies in each direction, and the holes "
                   "next to the player)",
           .choices = DescribeModes()});
    return s;
  }();
  return schema;
}

// Gymnasium's moves: left, down, right, up, clipped at the border.
constexpr int kRowStep[4] = {0, 1, 0, -1};
constexpr int kColStep[4] = {-1, 0, 1, 0};

bool PathExists(const std::vector<std::string>& board) {
  const int n = static_cast<int>(board.size());
  std::vector<int> frontier;
  std::vector<bool> seen(static_cast<size_t>(n * n), false);
  for (int i = 0; i < n * n; ++i) {
    if (board[static_cast<size_t>(i / n)][static_cast<size_t>(i % n)] == 'S') frontier.push_back(i);
  }
  while (!frontier.empty()) {
    const int cell = frontier.back();
    frontier.pop_back();
    if (seen[static_cast<size_t>(cell)]) continue;
    seen[static_cast<size_t>(cell)] = true;
    for (int d = 0; d < 4; ++d) {
      const int r = cell / n + kRowStep[d], c = cell % n + kColStep[d];
      if (r < 0 || r >= n || c < 0 || c >= n) continue;
      const char v = board[static_cast<size_t>(r)][static_cast<size_t>(c)];
      if (v == 'G') return true;
      if (v != 'H') frontier.push_back(r * n + c);
    }
  }
  return false;
}

}  // namespace

const std::vector<std::string>& FrozenLakeEnv::ActionWords() {
  static const std::vector<std::string> kWords = {"left", "down", "right", "up"};
  return kWords;
}

FrozenLakeEnv::FrozenLakeEnv(const Json& config) {
  Json c;
  try {
    c = Schema().Validate(config);
  } catch (const ConfigError& e) {
    throw e.Under("env.config");
  }
  size_ = c["size"].get<int>();
  p_ = c["p"].get<double>();
  slippery_ = c["is_slippery"].get<bool>();
  max_steps_ = c["max_steps"].get<int64_t>();
  render_ = c["render"].get<std::string>();
  describe_ = c["describe"].get<std::string>();
  task_type_ = std::to_string(size_) + "x" + std::to_string(size_) + (slippery_ ? "-slippery" : "");
}

std::vector<std::string> FrozenLakeEnv::GenerateMap(int size, double p, uint64_t seed) {
  Rng rng(seed);
  while (true) {
    std::vector<std::string> board(static_cast<size_t>(size), std::string(static_cast<size_t>(size), 'F'));
    for (auto& row : board) {
      for (char& cell : row) cell = rng.UniformDouble() < p ? 'F' : 'H';
    }
    const int sr = static_cast<int>(rng.Uniform(static_cast<uint64_t>(size)));
    const int sc = static_cast<int>(rng.Uniform(static_cast<uint64_t>(size)));
    const int gr = static_cast<int>(rng.Uniform(static_cast<uint64_t>(size)));
    const int gc = static_cast<int>(rng.Uniform(static_cast<uint64_t>(size)));
    if (sr == gr && sc == gc) continue;
    board[static_cast<size_t>(sr)][static_cast<size_t>(sc)] = 'S';
    board[static_cast<size_t>(gr)][static_cast<size_t>(gc)] = 'G';
    if (PathExists(board)) return board;
  }
}

EnvSpec FrozenLakeEnv::Spec() const {
  EnvSpec spec;
  spec.name = "frozenlake";
  spec.version = "1.0 (RAGEN's FrozenLake, Gymnasium dynamics)";
  spec.description = "FrozenLake on a random " + task_type_ + " map: walk from the start to the goal without "
                     "falling into a hole; " + std::to_string(max_steps_) + " steps.";
  spec.splits = SeedSplits();
  spec.max_turns = max_steps_;
  spec.action_format = "one of left, down, right, up";
  spec.config_defaults = Schema().Defaults();
  return spec;
}

int FrozenLakeEnv::Move(int cell, int direction) const {
  const int r = std::clamp(cell / size_ + kRowStep[direction], 0, size_ - 1);
  const int c = std::clamp(cell % size_ + kColStep[direction], 0, size_ - 1);
  return r * size_ + c;
}

void FrozenLakeEnv::SolveMap() {
  // Two tables solved together: the success probability (what the expert maximises) and the
  // success discounted by kSoonness per step (how it breaks ties). Without the second, every action
  // that still reaches the goal within the horizon ties, and the expert dawdles — a teacher whose
  // choice depends on the step count is one no policy that reads the grid can imitate.
  constexpr double kSoonness = 0.95;
  const int cells = size_ * size_;
  value_.assign(static_cast<size_t>(max_steps_ + 1), std::vector<double>(static_cast<size_t>(cells), 0.0));
  std::vector<std::vector<double>> soon(value_);
  best_action_.assign(static_cast<size_t>(max_steps_ + 1), std::vector<int>(static_cast<size_t>(cells), 0));
  auto worth = [&](const std::vector<std::vector<double>>& table, int64_t k, int cell) {
    const char v = CellAt(cell);  // value of arriving in `cell` with k steps left
    return v == 'G' ? 1.0 : v == 'H' ? 0.0 : table[static_cast<size_t>(k)][static_cast<size_t>(cell)];
  };
  for (int64_t k = 1; k <= max_steps_; ++k) {
    for (int cell = 0; cell < cells; ++cell) {
      double best = -1.0;
      double best_soon = -1.0;
      for (int a = 0; a < 4; ++a) {
        double q = 0.0;
        double q_soon = 0.0;
        // Where the move may take you: the intended cell, or (slippery) either side as likely.
        const int slides[3] = {a, (a + 3) % 4, (a + 1) % 4};
        const int n = slippery_ ? 3 : 1;
        for (int i = 0; i < n; ++i) {
          q += worth(value_, k - 1, Move(cell, slides[i])) / n;
          q_soon += kSoonness * worth(soon, k - 1, Move(cell, slides[i])) / n;
        }
        if (q > best + 1e-12 || (q > best - 1e-12 && q_soon > best_soon + 1e-12)) {
          best = std::max(best, q);
          best_soon = q_soon;
          best_action_[static_cast<size_t>(k)][static_cast<size_t>(cell)] = a;
        }
      }
      value_[static_cast<size_t>(k)][static_cast<size_t>(cell)] = best;
      soon[static_cast<size_t>(k)][static_cast<size_t>(cell)] = best_soon;
    }
  }
}

StepResult FrozenLakeEnv::Reset(const ResetOptions& options) {
  const auto [split, index] = ResolveTask("frozenlake", options, SeedSplits());
  const uint64_t seed = SplitSeed(split, index);
  map_ = GenerateMap(size_, p_, seed);
  for (int cell = 0; cell < size_ * size_; ++cell) {
    if (CellAt(cell) == 'S') player_ = cell;
  }
  SolveMap();
  slip_rng_ = Rng(seed, 0x51195ull);
  task_id_ = split + "/" + std::to_string(index);
  started_ = true;
  done_ = false;
  steps_ = 0;
  calls_ = 0;
  StepResult s = MakeStep(0.0, true, false);
  s.info["level_seed"] = seed;
  return s;
}

StepResult FrozenLakeEnv::Step(const std::string& action) {
  if (!started_) throw FailedPrecondition("frozenlake: Step() before Reset()");
  if (done_) throw FailedPrecondition("frozenlake: the episode has finished; reset it first");
  ++calls_;
  const int a = ParseDirectionAction(action, ActionWords());
  if (a < 0) return MakeStep(0.0, false, false);
  ++steps_;
  int direction = a;
  if (slippery_) {
    // Gymnasium's categorical draw over [(a - 1) mod 4, a, (a + 1) mod 4], 1/3 each.
    const double u = slip_rng_.UniformDouble();
    direction = u < 1.0 / 3.0 ? (a + 3) % 4 : u < 2.0 / 3.0 ? a : (a + 1) % 4;
  }
  const int before = player_;
  player_ = Move(player_, direction);
  return MakeStep(CellAt(player_) == 'G' ? 1.0 : 0.0, true, player_ != before);
}

StepResult FrozenLakeEnv::MakeStep(double reward, bool valid, bool effective) {
  StepResult s;
  const char here = CellAt(player_);
  const bool won = here == 'G';
  s.reward = reward;
  s.terminated = won || here == 'H';
  s.truncated = !s.terminated && steps_ >= max_steps_;
  done_ = s.terminated || s.truncated;
  s.turn = calls_;
  s.admissible_actions = ActionWords();
  std::vector<std::vector<std::string>> rows(static_cast<size_t>(size_));
  for (int cell = 0; cell < size_ * size_; ++cell) {
    const char v = CellAt(cell);
    std::string symbol = v == 'H' ? "O" : v == 'G' ? "G" : "_";
    if (cell == player_) symbol = v == 'H' ? "X" : v == 'G' ? "√" : "P";
    rows[static_cast<size_t>(cell / size_)].push_back(std::move(symbol));
  }
  s.observation.text = RenderGrid(rows, render_);
  if (describe_ != "none") s.observation.text += "\n" + DescriptionLine();
  s.anchor_key = s.observation.text;
  auto& info = s.info;
  info["action_is_effective"] = effective;
  info["is_action_valid"] = valid;
  info["task_id"] = task_id_;
  info["task_score"] = won ? 1.0 : 0.0;
  info["task_type"] = task_type_;
  info["won"] = won;
  return s;
}

std::string FrozenLakeEnv::DescriptionLine() const {
  int goal = 0;
  while (CellAt(goal) != 'G') ++goal;
  const int row = player_ / size_, col = player_ % size_;
  if (describe_ == "coordinates") {
    const auto at = [this](int cell) {
      return "row " + std::to_string(cell / size_ + 1) + ", column " + std::to_string(cell % size_ + 1);
    };
    return "You are at " + at(player_) + "; the goal is at " + at(goal) + ".";
  }
  // relative: "Goal: 2 down, 1 left. Holes next to you: up." (words of the actions).
  const auto offset = [](int delta, const char* minus, const char* plus) {
    return std::to_string(delta < 0 ? -delta : delta) + " " + (delta < 0 ? minus : plus);
  };
  std::string line = "Goal: " + offset(goal / size_ - row, "up", "down") + ", " +
                     offset(goal % size_ - col, "left", "right") + ". Holes next to you:";
  bool any = false;
  for (int a = 0; a < 4; ++a) {
    const int r = row + kRowStep[a], c = col + kColStep[a];
    if (r < 0 || r >= size_ || c < 0 || c >= size_ || CellAt(r * size_ + c) != 'H') continue;
    line += std::string(any ? ", " : " ") + ActionWords()[static_cast<size_t>(a)];
    any = true;
  }
  return line + (any ? "." : " none.");
}

double FrozenLakeEnv::ExpertSuccessProbability() const {
  if (!started_) return 0.0;
  if (CellAt(player_) == 'G') return 1.0;
  if (done_) return 0.0;
  return value_[static_cast<size_t>(max_steps_ - steps_)][static_cast<size_t>(player_)];
}

std::optional<std::string> FrozenLakeEnv::ExpertAction() {
  if (!started_ || done_) return std::nullopt;
  return ActionWords()[static_cast<size_t>(best_action_[static_cast<size_t>(max_steps_ - steps_)][static_cast<size_t>(player_)])];
}

}  // namespace turnwise
