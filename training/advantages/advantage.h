// Advantage estimators: from the step rows of a batch of episodes to one advantage per row.
//
// Turnwise trains in the per-step layout (as verl-agent): every turn of every episode is one
// training row, and the row's advantage is broadcast to all of that turn's response tokens.
// An estimator sees the whole batch at once, because every method here normalises against
// other rows: the episodes of the same group (same task and seed), the steps that share an
// anchor state, or the whole batch.
//
// Each output carries the advantage and the named quantities it was computed from (group
// mean, step return, EMPG's g and f, ...), so a user or the web UI can check any row by hand.
// The maths, defaults and the places where papers and released code disagree are in
// docs/methods.md.
//
// Thread safety: estimators are immutable after construction; Compute() is const and may be
// called from several threads at once.
// Errors: factories throw ConfigError naming the offending key; Compute() throws
// InvalidArgument naming the row when the rows are inconsistent (see AdvantageRow).
#ifndef TURNWISE_TRAINING_ADVANTAGES_ADVANTAGE_H_
#define TURNWISE_TRAINING_ADVANTAGES_ADVANTAGE_H_

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/config.h"
#include "core/json.h"

namespace turnwise {

// One turn of one episode, as the estimators need it.
//
// Invariants checked by Compute() (InvalidArgument naming the row otherwise):
//   * group_id and trajectory_id are non-empty; all rows of a trajectory share one group_id;
//   * (trajectory_id, turn) is unique; a row marked done or truncated is its trajectory's last;
//   * every number is finite and num_tokens >= 0.
// Rows may come in any order; within a trajectory they are ordered by `turn`.
struct AdvantageRow {
  std::string group_id;       // the G episodes that share a task and seed (verl "uid")
  std::string trajectory_id;  // one episode (verl-agent "traj_uid")
  int turn = 0;               // position of the step in its episode; any monotone numbering
  double reward = 0.0;        // environment reward of this step (verl-agent "rewards")
  // The episode's score (verl-agent writes the episode return on every step row). When absent:
  // the sum of `reward` over the trajectory's rows.
  std::optional<double> episode_return;
  // Invalid-action penalty of THIS row (verl-agent: 0.1 when the action was invalid, else 0).
  // As in verl-agent it is subtracted from this row's episode score and from this row's GiGPO
  // step return only: it does not spread to the trajectory's other rows or back through the
  // discount. LOOP and SeeUPO, whose code has no such penalty, ignore it.
  double invalid_action_penalty = 0.0;
  // GiGPO state identity: the current observation without history (envs' StepResult.anchor_key).
  std::string anchor_key;
  double entropy = 0.0;         // mean token entropy of this row's response, nats (EMPG)
  int num_tokens = 1;           // response tokens; weights the row in token-level whitening
  bool done = false;            // the episode ended at this step (task success or failure)
  bool truncated = false;       // the episode was cut at this step by a limit (max turns)
  std::optional<double> value;  // critic estimate V(s_t) of the state before this step (GAE)
};

// A named quantity behind an advantage: a number, a string (a step-group key), or a bool.
struct AdvantagePart {
  std::string name;
  Json value;
};

// The advantage of one row and how it came about. `parts` keeps the order in which the
// estimator computed them; names are unique within one row.
struct RowAdvantage {
  double advantage = 0.0;
  std::vector<AdvantagePart> parts;

  // Appends a part (replaces the value when `name` is already present).
  void Set(std::string name, Json value);
  // nullptr when there is no such part.
  const Json* Find(std::string_view name) const;
  bool Has(std::string_view name) const { return Find(name) != nullptr; }
  // The part as a number / string. Throws NotFound listing the parts when absent,
  // InvalidArgument when it has another type.
  double Number(std::string_view name) const;
  std::string Text(std::string_view name) const;
  // {"advantage": a, "parts": {"name": value, ...}} (a JSON object: keys come out sorted).
  Json ToJson() const;
};

// How group statistics count an episode (verl-agent `compute_mean_std_cross_steps`).
enum class GroupStatistics {
  // Every step row contributes its episode score, so an episode of 8 steps weighs 8 times
  // as much as one of 1 step. verl-agent's default for GRPO, RLOO, REINFORCE++-baseline and
  // GiGPO's episode level ("more stable").
  kStepWeighted,
  // Each trajectory contributes once (the score on its first row in input order): the
  // papers' definition.
  kPerTrajectory,
};

// "step_weighted" / "per_trajectory", the config spelling.
std::string_view GroupStatisticsName(GroupStatistics statistics);
GroupStatistics ParseGroupStatistics(std::string_view name);  // name already validated

class AdvantageEstimator {
 public:
  virtual ~AdvantageEstimator() = default;

  // The factory name ("gigpo").
  virtual std::string Name() const = 0;
  // The complete configuration in force, defaults included (what a run should record).
  virtual Json Config() const = 0;
  // One RowAdvantage per input row, in input order. An empty batch gives an empty result.
  // Throws InvalidArgument when the rows break an AdvantageRow invariant or miss an input the
  // method needs (e.g. `value` for GAE).
  virtual std::vector<RowAdvantage> Compute(const std::vector<AdvantageRow>& rows) const = 0;
};

// The names MakeAdvantageEstimator accepts, sorted.
std::vector<std::string> AdvantageEstimatorNames();

// The config schema of estimator `name` (keys, types, defaults, help): for `--set` typing and
// docs. Throws ConfigError (empty key path) listing the known names for an unknown name.
ConfigSchema AdvantageEstimatorSchema(const std::string& name);

// Builds estimator `name` from `config` (a JSON object; null counts as {}; absent keys take
// the defaults of the official code, see docs/methods.md).
// Throws ConfigError:
//   * unknown name: empty key path, message lists the known names ("did you mean" when close);
//     a caller that read the name from "algorithm.adv_estimator" rethrows with
//     e.Under("algorithm.adv_estimator");
//   * bad key or value: key path relative to `config` ("base_config.statistics" for EMPG's
//     base); the caller rethrows with e.Under(<where the config object sits>).
std::unique_ptr<AdvantageEstimator> MakeAdvantageEstimator(const std::string& name,
                                                           const Json& config = Json::object());

}  // namespace turnwise

#endif  // TURNWISE_TRAINING_ADVANTAGES_ADVANTAGE_H_
