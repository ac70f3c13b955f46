// RolloutEngine: plays groups of episodes with a Policy, environments stepping asynchronously in
// an EnvPool and generation batched continuously over every episode that waits for an action.
//
// A group is G episodes of one task (same ResetOptions: split and seed), the unit GRPO/GiGPO
// compare within. Up to `max_active` episodes are in flight; when one finishes, the next queued
// episode takes its slot at once, so the batch the policy sees stays full while long episodes
// run on (continuous batching). In `synchronous` mode the engine instead waits for every env call
// to come back before generating (the lock-step loop of most peers), for comparison.
//
// Every finished episode — ok, truncated by the env or the turn limit, or aborted with the reason
// when its env failed or the policy could not answer — is handed to `on_episode` as soon as it
// ends, with the prompt token ids of each turn (what the learner trains on). Nothing is kept after
// that, so memory does not grow with the run.
//
// Thread safety: Run() from one thread; `on_episode` is called on that thread.
#ifndef TURNWISE_TRAINING_ROLLOUT_H_
#define TURNWISE_TRAINING_ROLLOUT_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "agents/policy.h"
#include "core/json.h"
#include "storage/types.h"

namespace turnwise {

class EnvPool;

struct RolloutOptions {
  std::string env = "household";
  Json env_config = Json::object();
  std::string split = "train";
  int group_size = 8;              // G episodes per task
  int max_active = 64;             // episodes in flight (EnvPool slots)
  int env_threads = 2;             // EnvPool worker threads
  int64_t max_turns = 50;          // per-episode turn limit (truncated beyond it)
  bool synchronous = false;        // lock-step: all envs step, then all generate
  std::chrono::milliseconds env_call_timeout{60000};
  int env_retries = 2;
};

// One finished episode with what the learner needs beyond the store record.
struct RolloutEpisode {
  EpisodeRecord record;                            // status, return, success, turns with tokens
  std::vector<std::vector<int32_t>> prompt_tokens;  // per turn (model policies; else empty)
};

// A task to play: a group of G episodes with these reset options.
struct RolloutTask {
  std::string group_id;
  ResetOptions reset;
};

struct RolloutStats {
  int64_t episodes = 0;
  int64_t aborted = 0;
  int64_t env_steps = 0;
  int64_t generated_tokens = 0;
  int64_t policy_calls = 0;        // Act() calls
  double mean_act_batch = 0;       // inputs per Act() call
  double seconds = 0;              // wall time of Run()
  double policy_seconds = 0;       // inside Act()
  double env_wait_seconds = 0;     // blocked in EnvPool::Recv
};

class RolloutEngine {
 public:
  // The env is made by the registry (in process or remote by config). Throws what the registry
  // throws for a bad env name or config.
  explicit RolloutEngine(RolloutOptions options);
  ~RolloutEngine();

  // Plays every task's G episodes with `policy`. `iteration` and `seed` make the per-decision
  // seeds (same seed, same tasks, same policy → same episodes). Episodes get run_id = 0; the
  // caller fills run and iteration before storing.
  RolloutStats Run(Policy& policy, const std::vector<RolloutTask>& tasks, int64_t iteration, uint64_t seed,
                   const std::function<void(RolloutEpisode&&)>& on_episode);

  const RolloutOptions& options() const { return options_; }
  std::string env_name() const { return options_.env; }

 private:
  RolloutOptions options_;
  std::unique_ptr<EnvPool> pool_;
};

// `count` tasks for one iteration: group ids "i<iteration>-g<k>", seeds drawn from (seed,
// iteration, k) within `split`.
std::vector<RolloutTask> MakeTasks(const std::string& split, int64_t count, int64_t iteration, uint64_t seed);

}  // namespace turnwise

#endif  // TURNWISE_TRAINING_ROLLOUT_H_
