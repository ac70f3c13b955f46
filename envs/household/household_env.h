// `household`: ALFWorld's text household tasks (TextWorld text mode), generated procedurally.
//
// A room (kitchen, living room, bedroom, bathroom) holds numbered receptacles ("countertop 1",
// "drawer 3"; fridges, cabinets, drawers, microwaves, safes and boxes start closed) and typed
// objects placed where ALFWorld's canContain table would allow them. One of ALFWorld's six task
// types is drawn with its goal templates and goal conditions:
//   pick_and_place_simple, look_at_obj_in_light, pick_clean_then_place_in_recep,
//   pick_heat_then_place_in_recep, pick_cool_then_place_in_recep, pick_two_obj_and_place.
// Commands and feedback strings follow ALFWorld: `grammar_version` "0.4" (default; `move {o}
// to {r}`, `You arrive at {r}.`, `help`) or "0.3" (`put {o} in/on {r}`, `You arrive at loc N.`).
// A command that is not admissible (exact match after trimming) answers `Nothing happens.` and
// changes nothing. Admissible commands are sorted. won = goal condition holds; reward =
// `reward_on_win` (10, as verl-agent) on the winning step, else 0; info.task_score = 1/0; the
// episode ends when won or after `max_steps` steps (50; truncated). anchor key = the
// observation text of the step.
//
// Tasks: "train/i", "valid_seen/i", "valid_unseen/i" with verl-agent's split sizes
// (3553/140/134). valid_unseen draws (object type, goal receptacle type) combinations that
// train and valid_seen never use. A task is a pure function of its id.
//
// Config keys: grammar_version ("0.4" | "0.3"), max_steps (int >= 1), reward_on_win (number),
// banner (bool: start the first observation with TextWorld's welcome line, as verl-agent
// shows it; AgentGym and ReAct drop it), expert ("oracle": plans over the hidden state and
// solves every task; "search": decides from observations only, see World::SearchAction).
// task_types (array of type names, default []: all six; ALFWorld's env.task_types): only
// tasks of these types; each split then holds its tasks of those types, in order, and "train/i"
// is the i-th of them (as ALFWorld indexes its filtered game list). With a single type the
// model sees one goal structure (configs/sft_household_pick.json).
// Unknown keys fail with ConfigError.
#ifndef TURNWISE_ENVS_HOUSEHOLD_HOUSEHOLD_ENV_H_
#define TURNWISE_ENVS_HOUSEHOLD_HOUSEHOLD_ENV_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "envs/env.h"
#include "envs/household/world.h"

namespace turnwise {

class HouseholdEnv : public Env {
 public:
  // Throws ConfigError naming the key for an unknown key or a bad value.
  explicit HouseholdEnv(const Json& config);
  ~HouseholdEnv() override;

  StepResult Reset(const ResetOptions& options) override;
  StepResult Step(const std::string& action) override;
  EnvSpec Spec() const override;
  std::optional<std::string> ExpertAction() override;
  std::string TaskId() const override;
  std::string TaskType() const override;

  // The six task type names, in ALFWorld's numbering order.
  static const std::vector<std::string>& TaskTypes();
  // The config schema's defaults, as a JSON object.
  static Json DefaultConfig();

 private:
  StepResult MakeStep(std::string text, bool valid);
  // The size of a split with the configured task types.
  int64_t SplitSize(const std::string& split) const;
  // The index in the full split of the configured split's task `index`.
  int64_t FullIndex(int64_t index) const;

  std::string grammar_version_;
  int64_t max_steps_;
  double reward_on_win_;
  bool banner_;
  bool search_expert_ = false;
  std::unique_ptr<household::World> world_;
  bool new_grammar_ = true;  // grammar_version_ == "0.4"
  // What the next Step needs of the current state's admissible commands: what each does and a
  // hash of its text (the texts themselves went out in the StepResult). A command is looked up
  // by hash and confirmed by comparing it with the matching action's text.
  std::vector<household::World::Action> actions_;
  std::vector<uint64_t> action_keys_;
  int64_t steps_ = 0;
  bool done_ = true;
  bool won_ = false;
  std::vector<int> type_positions_;  // positions in TaskTypeNames(), sorted; empty = all
};

}  // namespace turnwise

#endif  // TURNWISE_ENVS_HOUSEHOLD_HOUSEHOLD_ENV_H_
