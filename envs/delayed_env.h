// `delayed`: any registered environment with a simulated step latency, for measuring how a
// rollout loop copes with slow environments (remote simulators, web and app envs take tens to
// hundreds of milliseconds a step) without needing one.
//
//   {"env": "household", "config": {...}, "step_ms": 20, "jitter_ms": 20, "reset_ms": 0}
//
// Each step sleeps step_ms + U(0, jitter_ms) milliseconds (drawn from the reset seed and the turn,
// so runs repeat) before answering exactly as the inner env would.
#ifndef TURNWISE_ENVS_DELAYED_ENV_H_
#define TURNWISE_ENVS_DELAYED_ENV_H_

#include <memory>

#include "envs/env.h"

namespace turnwise {

std::unique_ptr<Env> MakeDelayedEnv(const Json& config);

}  // namespace turnwise

#endif  // TURNWISE_ENVS_DELAYED_ENV_H_
