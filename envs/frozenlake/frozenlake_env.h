// `frozenlake`: RAGEN's FrozenLake (ragen/env/frozen_lake @ 5eb79b8): Gymnasium's FrozenLake
// dynamics on a new random map per task, in text.
//
// Map (RAGEN's generate_random_map): a size x size board whose cells are frozen with probability
// `p` (the docstring says hole probability; the code draws frozen with p), a start and a goal on
// two distinct random cells, redrawn until a path of non-hole cells joins them.
// Dynamics (Gymnasium): actions left, down, right, up; moving into the border leaves the player
// in place; with `is_slippery` the player goes the intended way with probability 1/3 and each
// perpendicular way with 1/3. A hole or the goal ends the episode (terminated); reward 1 on
// reaching the goal, else 0; after `max_steps` valid steps the episode is truncated (RAGEN's
// max_actions_per_traj, 10). Slips draw from a generator seeded by the task, so an episode is a
// pure function of the task and the actions.
// Actions are read as in `sokoban` (envs/internal/direction_action.h, words in RAGEN's order
// left, down, right, up); anything else is invalid: no move, reward 0, the step counter does not
// advance, info.is_action_valid false.
//
// Observation (RAGEN's symbols): P player, _ frozen, O hole, G goal, X player in a hole,
// √ player on the goal; the start cell shows as frozen. `render` as in sokoban ("spaced"
// default, "compact" = RAGEN's text, "tabbed"). `describe` adds a line under the grid (not in
// RAGEN; for models trained from scratch, docs/environments.md): "coordinates" = "You are at
// row 4, column 2; the goal is at row 2, column 3." (1-based, rows from the top), "relative" =
// "Goal: 2 up, 1 right. Holes next to you: left, down." (or "none."). Anchor key = the
// observation.
//
// Tasks: "train/i" = map seed i (i < 2^16), "valid/i" = map seed 2^16 + i, as sokoban.
//
// Expert: exact dynamic programming over (cell, steps left): the action that maximises the
// probability of reaching the goal within the remaining steps; ties go to the action that reaches
// it soonest (success discounted by 0.95 a step), then to left, down, right, up. Not slippery,
// that is a shortest path. ExpertSuccessProbability() gives the optimum
// (RAGEN's 4x4 maps: 100 % without slip; ~50 % with slip in 10 steps).
//
// Config keys: size (2..12, default 4), p (frozen probability in (0, 1], 0.8), is_slippery
// (default false: RAGEN's default is true, which caps even a perfect policy near 50 %),
// max_steps (10), render, describe ("none"). Unknown keys fail with ConfigError naming env.config.<key>.
#ifndef TURNWISE_ENVS_FROZENLAKE_FROZENLAKE_ENV_H_
#define TURNWISE_ENVS_FROZENLAKE_FROZENLAKE_ENV_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/rng.h"
#include "envs/env.h"

namespace turnwise {

class FrozenLakeEnv : public Env {
 public:
  explicit FrozenLakeEnv(const Json& config);

  StepResult Reset(const ResetOptions& options) override;
  StepResult Step(const std::string& action) override;
  EnvSpec Spec() const override;
  std::optional<std::string> ExpertAction() override;
  std::string TaskId() const override { return task_id_; }
  std::string TaskType() const override { return task_type_; }

  static const std::vector<std::string>& ActionWords();  // left, down, right, up
  // The map of a seed: `size` strings over S (start), F (frozen), H (hole), G (goal).
  static std::vector<std::string> GenerateMap(int size, double p, uint64_t seed);
  // Probability that the optimal policy reaches the goal from the current state within the
  // steps left.
  double ExpertSuccessProbability() const;
  const std::vector<std::string>& map() const { return map_; }
  int player() const { return player_; }

 private:
  StepResult MakeStep(double reward, bool valid, bool effective);
  std::string DescriptionLine() const;  // the `describe` line (not "none")
  // Optimal success probabilities: value[k][cell] with k steps left (k = 0..max_steps).
  void SolveMap();
  char CellAt(int cell) const { return map_[static_cast<size_t>(cell / size_)][static_cast<size_t>(cell % size_)]; }
  int Move(int cell, int direction) const;

  int size_ = 4;
  double p_ = 0.8;
  bool slippery_ = false;
  int64_t max_steps_ = 10;
  std::string render_;
  std::string describe_ = "none";
  std::vector<std::string> map_;
  std::vector<std::vector<double>> value_;
  std::vector<std::vector<int>> best_action_;
  int player_ = 0;
  bool started_ = false;
  bool done_ = true;
  int64_t steps_ = 0;
  int64_t calls_ = 0;
  Rng slip_rng_;
  std::string task_id_;
  std::string task_type_;
};

}  // namespace turnwise

#endif  // TURNWISE_ENVS_FROZENLAKE_FROZENLAKE_ENV_H_
