// The environments that ship with Turnwise. Adding a built-in: include its header and add one
// Register call here (see envs/registry.h for why this is not a static initialiser).
#include "envs/delayed_env.h"
#include "envs/household/household_env.h"
#include "envs/registry.h"

namespace turnwise::envs_internal {

void RegisterBuiltinEnvs() {
  EnvRegistry::Register("household", [](const Json& config) {
    return std::make_unique<HouseholdEnv>(config);
  });
  EnvRegistry::Register("delayed", [](const Json& config) { return MakeDelayedEnv(config); });
}

}  // namespace turnwise::envs_internal
