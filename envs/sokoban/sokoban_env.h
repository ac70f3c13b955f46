// `sokoban`: gym-sokoban as verl-agent and RAGEN use it for LLM agents, in text.
//
// Levels come from gym-sokoban's generator (envs/sokoban/room.h: random-walk topology, reverse
// play with RAGEN's fix). Actions are the words up, down, left, right; the action text is read
// as verl-agent's projection reads a model's answer (envs/internal/direction_action.h: inside
// <action>…</action> when tagged, the first direction word found, in that order). Anything else
// — no direction word, "still", one tag without the other — is invalid: nothing moves, the
// reward is 0, info.is_action_valid is false and the step counter does not advance (verl-agent;
// its trainer then subtracts the invalid-action penalty, as ours does).
//
// Rewards (gym-sokoban): -0.1 every valid step; +1 when the count of boxes on targets rises,
// -1 when it falls; +10 when every box is on a target (so the winning push of a one-box level
// earns -0.1 + 1 + 10 = 10.9). gym-sokoban counts boxes on targets as num_boxes minus the targets
// left uncovered, a target under the player counting as uncovered.
// The episode ends when every box is on a target (terminated, won) or after `max_steps` valid
// steps (truncated).
//
// Observation: the grid with the peers' symbols — # wall, _ floor, O target, X box, √ box on
// target, P player, S player on target — rows joined by "\n". `render` chooses the cell layout:
// "spaced" (default; verl-agent's 'list' mode: cells separated by one space, so a tokenizer
// sees one cell per word), "compact" (RAGEN: cells side by side), "tabbed" (verl-agent's
// 'tiny_rgb_array' text: each cell as " c \t"). Anchor key (GiGPO) = the observation.
// Admissible actions: ["up", "down", "left", "right"] in every state (verl-agent's list, in its
// order).
//
// Tasks: "train/i" is the level of generator seed i (i < 2^16), "valid/i" that of seed 2^16 + i
// (verl-agent draws training seeds in [0, 2^16) and validation seeds from 2^16 up). A seed whose
// draw yields no level is retried with the next stream of the same seed, as the peers retry;
// info.generation_retries counts the retries (at reset). Levels are a pure function of the task.
//
// Expert: a breadth-first solver over (player, boxes) states (room.h Solve); ExpertAction is the
// first move of a shortest solution. From a state with no solution (a box in a corner) it
// answers the first direction that still moves the player, so noisy demonstrations go on.
//
// Config keys: preset ("verl-agent" default: 6x6, 1 box, 15 steps, search_depth 30;
// "ragen-simple": 6x6, 1 box, 10 steps, search_depth 300; "ragen-larger": 8x8, 2 boxes,
// 10 steps, search_depth 10), and, overriding the preset: dim_room ([rows, cols], each 5..16),
// num_boxes (1..4), max_steps, search_depth, num_gen_steps (0 = gym-sokoban's
// int(1.7 * (rows + cols))), render. Unknown keys and values fail with ConfigError naming
// env.config.<key>.
#ifndef TURNWISE_ENVS_SOKOBAN_SOKOBAN_ENV_H_
#define TURNWISE_ENVS_SOKOBAN_SOKOBAN_ENV_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "envs/env.h"
#include "envs/sokoban/room.h"

namespace turnwise {

class SokobanEnv : public Env {
 public:
  // Throws ConfigError naming env.config.<key>.
  explicit SokobanEnv(const Json& config);

  StepResult Reset(const ResetOptions& options) override;
  StepResult Step(const std::string& action) override;
  EnvSpec Spec() const override;
  std::optional<std::string> ExpertAction() override;
  std::string TaskId() const override { return task_id_; }
  std::string TaskType() const override { return task_type_; }

  static const std::vector<std::string>& ActionWords();  // up, down, left, right
  static const std::vector<std::string>& PresetNames();
  // The grid of `room` in a render layout ("spaced", "compact", "tabbed").
  static std::string Render(const sokoban::Room& room, const std::string& layout);
  // Starts an episode on a given room (hand-made levels, tests) with task id `task_id`.
  StepResult StartLevel(sokoban::Room room, const std::string& task_id);
  // The current room (tests).
  const sokoban::Room& room() const { return room_; }
  static constexpr uint64_t kValidSeedBase = 1ull << 16;

 private:
  StepResult MakeStep(double reward, bool valid, bool effective);

  sokoban::GenerateOptions gen_;
  int64_t max_steps_ = 15;
  std::string render_;
  std::string preset_;
  sokoban::Room room_;
  bool started_ = false;
  bool done_ = true;
  int64_t steps_ = 0;      // valid steps (gym-sokoban's num_env_steps)
  int64_t calls_ = 0;      // Step() calls, valid or not
  std::string task_id_;
  std::string task_type_;
};

}  // namespace turnwise

#endif  // TURNWISE_ENVS_SOKOBAN_SOKOBAN_ENV_H_
