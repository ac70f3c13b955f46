// Held-out evaluation of any Policy on any registered environment.
//
// Episodes are played in batches: up to `batch_size` episodes are in flight, each with its own
// env instance, and on every turn ALL episodes waiting for an action go to ONE Policy::Act()
// call (so the lm policy generates for them in one batched pass). A finished episode's slot is
// refilled with the next task at once (continuous batching). Tasks are "<split>/<i % size>" for
// i = 0..episodes-1 (the same tasks `turnwise eval` plays), each reset with seed i; decision
// seeds derive from `seed`, the episode index and the turn, so results do not depend on
// batch_size for scripted policies, and are reproducible for model policies.
//
// Thread safety: runs on the calling thread; the policy is used by this thread only.
#ifndef TURNWISE_TRAINING_EVALUATE_H_
#define TURNWISE_TRAINING_EVALUATE_H_

#include <cstdint>
#include <functional>
#include <map>
#include <string>

#include "agents/policy.h"
#include "core/json.h"
#include "storage/types.h"

namespace turnwise {

struct TaskTypeResult {
  int64_t episodes = 0;
  int64_t successes = 0;
  double success_rate() const { return episodes ? double(successes) / double(episodes) : 0.0; }
};

struct EvalResult {
  std::string env;
  std::string split;
  int64_t episodes = 0;
  int64_t aborted = 0;          // episodes closed as aborted (policy or env failure); count as failures
  double success_rate = 0;      // info.won at the end, over all episodes
  double mean_return = 0;       // sum of rewards per episode
  double mean_length = 0;       // turns per episode
  // Fraction of turns whose action was invalid: the env said is_action_valid = false, or the
  // policy's answer was not admissible or broke the <think>/<action> format.
  double invalid_action_rate = 0;
  double format_error_rate = 0;  // fraction of turns with PolicyOutput::format_valid == false
  std::map<std::string, TaskTypeResult> by_task_type;
  double seconds = 0;           // wall time
  int64_t policy_calls = 0;     // Act() calls (one per turn of the batch)

  // {"success_rate": .., "mean_return": .., ..., "by_task_type": {type: {"episodes", "successes",
  // "success_rate"}}}
  Json ToJson() const;
};

// Receives every finished episode (store-ready; policy name and split filled, run_id not), e.g.
// to append it to a StoreWriter. Called on the evaluating thread.
using EpisodeSink = std::function<void(EpisodeRecord&&)>;

// Plays `episodes` episodes (0 = every task of the split) of `env_name` made with `env_config`
// on `split`, at most `max_turns` turns each (0 = the env's own limit), `batch_size` in flight
// (0 = all at once). Throws NotFound for an unknown env or split, ConfigError for a bad env
// config, InvalidArgument for negative sizes. A policy or env failure aborts the affected
// episodes (counted in `aborted`, reason in the record) and the evaluation goes on.
EvalResult EvaluatePolicy(Policy& policy, const std::string& env_name, const Json& env_config,
                          const std::string& split, int64_t episodes, int64_t max_turns,
                          int64_t batch_size, uint64_t seed, const EpisodeSink& sink = nullptr);

}  // namespace turnwise

#endif  // TURNWISE_TRAINING_EVALUATE_H_
