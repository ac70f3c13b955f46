// `turnwise bench envs`: environment steps per second, in process and through the EnvPool.
//
// Plays household episodes with uniformly random admissible actions (the policy costs nothing,
// so the figure is the environment's own speed): (a) one env stepped in a loop on one thread,
// (b) an EnvPool of `pool_envs` envs stepped with send/recv on `pool_threads` workers. Each
// variant runs `repeats` times; medians are printed with the ratio to (a).
#ifndef TURNWISE_ENVS_ENV_BENCH_H_
#define TURNWISE_ENVS_ENV_BENCH_H_

#include <cstdint>
#include <iosfwd>
#include <string>

namespace turnwise {

struct EnvBenchOptions {
  std::string env = "household";
  int64_t steps = 200000;   // per variant and repeat
  int pool_envs = 64;
  int pool_threads = 2;
  int repeats = 3;
};

struct EnvBenchResult {
  double single_steps_per_s = 0;
  double pool_steps_per_s = 0;
};

EnvBenchResult RunEnvBench(const EnvBenchOptions& options, std::ostream& out);

}  // namespace turnwise

#endif  // TURNWISE_ENVS_ENV_BENCH_H_
