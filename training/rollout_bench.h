// `turnwise bench rollout`: env steps/s and generated tokens/s of the rollout engine with
// continuous batching against the lock-step loop (all envs step, then all generate) on the same
// workload in the same run: household behind the `delayed` wrapper (simulated step latency, as
// remote and simulator envs have), the lm policy from a checkpoint folder.
#ifndef TURNWISE_TRAINING_ROLLOUT_BENCH_H_
#define TURNWISE_TRAINING_ROLLOUT_BENCH_H_

#include <cstdint>
#include <iosfwd>
#include <string>

namespace turnwise {

struct RolloutBenchOptions {
  std::string model;          // HF-layout checkpoint folder (required)
  int groups = 8;
  int group_size = 8;
  int max_turns = 10;
  int max_active = 64;
  int env_threads = 32;       // sleeping envs overlap on these
  double step_ms = 20;
  double jitter_ms = 60;
  int64_t max_new_tokens = 32;
  int history_length = 1;
  int threads = 2;            // LibTorch intra-op threads
  std::string layout = "steps";  // the lm policy's layout: steps or episode
  int repeats = 3;
};

void RunRolloutBench(const RolloutBenchOptions& options, std::ostream& out);

}  // namespace turnwise

#endif  // TURNWISE_TRAINING_ROLLOUT_BENCH_H_
