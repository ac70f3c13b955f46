#include "training/rollout_bench.h"

#include <torch/torch.h>

#include <algorithm>
#include <cstdio>
#include <ostream>
#include <vector>

#include "agents/lm_policy.h"
#include "core/stats.h"
#include "core/error.h"
#include "training/rollout.h"

namespace turnwise {
namespace {

}  // namespace

void RunRolloutBench(const RolloutBenchOptions& o, std::ostream& out) {
  if (o.model.empty()) throw InvalidArgument("bench rollout: give --model DIR (an HF-layout checkpoint folder)");
  if (o.repeats < 1 || o.groups < 1 || o.group_size < 1) {
    throw InvalidArgument("bench rollout: repeats, groups and group size must be >= 1");
  }
  LmPolicyOptions lm;
  lm.checkpoint = o.model;
  lm.temperature = 1.0;
  lm.max_new_tokens = o.max_new_tokens;
  lm.history_length = o.history_length;
  lm.threads = o.threads;
  lm.layout = o.layout;
  auto policy = LmPolicy::Load(lm);
  at::set_num_threads(o.threads);

  out << "rollout engine: household behind `delayed` (" << o.step_ms << " ms + U(0, " << o.jitter_ms
      << ") ms per step), lm policy " << o.model << ", " << o.groups << " groups x " << o.group_size
      << " episodes, <= " << o.max_turns << " turns, " << o.max_active << " in flight, " << o.env_threads
      << " env threads, " << o.threads << " torch threads, " << o.layout << " layout; median of " << o.repeats << " (modes alternate)\n\n";
  std::vector<double> steps_s[2], tokens_s[2], seconds[2], batch[2], gen_share[2];
  for (int rep = 0; rep < o.repeats; ++rep) {
    for (int mode = 0; mode < 2; ++mode) {
      RolloutOptions ro;
      ro.env = "delayed";
      ro.env_config = {{"env", "household"}, {"step_ms", o.step_ms}, {"jitter_ms", o.jitter_ms}};
      ro.group_size = o.group_size;
      ro.max_turns = o.max_turns;
      ro.max_active = o.max_active;
      ro.env_threads = o.env_threads;
      ro.synchronous = mode == 1;
      RolloutEngine engine(ro);
      RolloutStats s = engine.Run(*policy, MakeTasks("train", o.groups, rep, 11), rep, 11, [](RolloutEpisode&&) {});
      steps_s[mode].push_back(static_cast<double>(s.env_steps) / s.seconds);
      tokens_s[mode].push_back(static_cast<double>(s.generated_tokens) / s.seconds);
      seconds[mode].push_back(s.seconds);
      batch[mode].push_back(s.mean_act_batch);
      gen_share[mode].push_back(s.policy_seconds / s.seconds);
    }
  }
  char line[256];
  std::snprintf(line, sizeof(line), "%-22s %10s %14s %14s %12s %12s\n", "mode", "seconds", "env steps/s", "tokens/s",
                "mean batch", "generating");
  out << line;
  const char* names[2] = {"continuous batching", "lock-step"};
  for (int mode = 0; mode < 2; ++mode) {
    std::snprintf(line, sizeof(line), "%-22s %10.1f %14.1f %14.1f %12.1f %11.0f%%\n", names[mode],
                  Median(seconds[mode]), Median(steps_s[mode]), Median(tokens_s[mode]), Median(batch[mode]),
                  100 * Median(gen_share[mode]));
    out << line;
  }
  std::snprintf(line, sizeof(line), "\ncontinuous / lock-step: env steps/s %.2fx, tokens/s %.2fx\n",
                Median(steps_s[0]) / Median(steps_s[1]), Median(tokens_s[0]) / Median(tokens_s[1]));
  out << line;
}

}  // namespace turnwise
