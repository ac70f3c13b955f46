#include "envs/env_bench.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ostream>
#include <vector>

#include "core/stats.h"
#include "core/error.h"
#include "core/rng.h"
#include "envs/env_pool.h"
#include "envs/registry.h"

namespace turnwise {
namespace {

double Seconds() {
  using namespace std::chrono;
  return duration<double>(steady_clock::now().time_since_epoch()).count();
}

}  // namespace

EnvBenchResult RunEnvBench(const EnvBenchOptions& o, std::ostream& out) {
  if (o.steps < 1 || o.pool_envs < 1 || o.pool_threads < 1 || o.repeats < 1) {
    throw InvalidArgument("bench envs: steps, envs, threads and repeats must be >= 1");
  }
  std::vector<double> single, pooled;
  for (int rep = 0; rep < o.repeats; ++rep) {
    {
      auto env = EnvRegistry::Make(o.env);
      Rng rng(static_cast<uint64_t>(rep));
      uint64_t episode = 0;
      StepResult s = env->Reset({.seed = episode++});
      double t0 = Seconds();
      for (int64_t i = 0; i < o.steps; ++i) {
        s = env->Step(s.admissible_actions[rng.Uniform(s.admissible_actions.size())]);
        if (s.done()) s = env->Reset({.seed = episode++});
      }
      single.push_back(static_cast<double>(o.steps) / (Seconds() - t0));
    }
    {
      EnvPool pool([&] { return EnvRegistry::Make(o.env); }, o.pool_envs,
                   {.num_threads = o.pool_threads});
      Rng rng(static_cast<uint64_t>(rep) + 100);
      std::vector<int> ids;
      std::vector<ResetOptions> resets;
      uint64_t episode = 0;
      for (int i = 0; i < o.pool_envs; ++i) {
        ids.push_back(i);
        resets.push_back({.seed = episode++});
      }
      pool.SendReset(ids, resets);
      int64_t steps = 0;
      double t0 = Seconds();
      while (steps < o.steps) {
        auto results = pool.Recv(static_cast<size_t>(std::max(1, o.pool_envs / 4)));
        std::vector<int> step_ids, reset_ids;
        std::vector<std::string> actions;
        std::vector<ResetOptions> reset_opts;
        for (auto& r : results) {
          if (!r.ok) throw Unavailable("bench envs: " + r.error);
          if (!r.is_reset) ++steps;
          if (r.step.done()) {
            reset_ids.push_back(r.env_id);
            reset_opts.push_back({.seed = episode++});
          } else {
            step_ids.push_back(r.env_id);
            const auto& a = r.step.admissible_actions;
            actions.push_back(a[rng.Uniform(a.size())]);
          }
        }
        pool.Send(step_ids, actions);
        pool.SendReset(reset_ids, reset_opts);
      }
      double dt = Seconds() - t0;
      while (pool.Pending() > 0) pool.Recv(pool.Pending());
      pooled.push_back(static_cast<double>(steps) / dt);
    }
  }
  EnvBenchResult r{Median(single), Median(pooled)};
  char line[200];
  out << "env bench: " << o.env << ", random admissible actions, " << o.steps
      << " steps per variant, median of " << o.repeats << "\n";
  std::snprintf(line, sizeof(line), "  %-40s %12s %8s\n", "variant", "steps/s", "ratio");
  out << line;
  std::snprintf(line, sizeof(line), "  %-40s %12.0f %7.2fx\n", "one env, one thread (baseline)",
                r.single_steps_per_s, 1.0);
  out << line;
  std::string pool_name = "EnvPool " + std::to_string(o.pool_envs) + " envs, " +
                          std::to_string(o.pool_threads) + " threads";
  std::snprintf(line, sizeof(line), "  %-40s %12.0f %7.2fx\n", pool_name.c_str(),
                r.pool_steps_per_s, r.pool_steps_per_s / r.single_steps_per_s);
  out << line;
  return r;
}

}  // namespace turnwise
