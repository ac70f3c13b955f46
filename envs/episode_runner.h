// Plays whole episodes of an Env with a scripted chooser (the env's expert, uniform random over
// admissible actions, or both mixed), producing store-ready EpisodeRecords.
//
// This is the runner for policies that need no model. Language-model policies go through the
// rollout engine (training/), which batches generation across episodes; both produce the same
// EpisodeRecord shape, so the store and the web UI treat them alike.
#ifndef TURNWISE_ENVS_EPISODE_RUNNER_H_
#define TURNWISE_ENVS_EPISODE_RUNNER_H_

#include <functional>
#include <string>

#include "core/rng.h"
#include "envs/env.h"
#include "storage/types.h"

namespace turnwise {

// Picks the next action from the last step. May throw; PlayEpisode then closes the episode as
// aborted with the exception's message (nothing is dropped).
using ActionChooser = std::function<std::string(const StepResult& last, Env& env, Rng& rng)>;

// Scripted policies by name: "expert" (the env's expert; needs Env::ExpertAction), "random"
// (uniform over admissible actions), "noisy_expert" (expert, but a random admissible action
// with probability `noise`). Throws NotFound listing the known names.
ActionChooser MakeScriptedPolicy(const std::string& name, double noise = 0.0);
const std::vector<std::string>& ScriptedPolicyNames();

struct EpisodeRunOptions {
  ResetOptions reset;
  int64_t max_turns = 0;  // 0 = until the env ends the episode (it must have its own limit)
};

// Plays one episode. Fills env, task, split, seed, status (ok / truncated / aborted with the
// reason), return (sum of rewards), success (info.won of the last step) and every turn
// (observation answered, action, validity, reward, done flags, anchor key, info, timings).
// run_id, iteration, group_id and policy are left for the caller.
EpisodeRecord PlayEpisode(Env& env, const EpisodeRunOptions& options, const ActionChooser& choose,
                          Rng& rng);

}  // namespace turnwise

#endif  // TURNWISE_ENVS_EPISODE_RUNNER_H_
