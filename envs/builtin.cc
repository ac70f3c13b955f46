// The environments that ship with Turnwise. Adding a built-in: include its header and add one
// Register call here (see envs/registry.h for why this is not a static initialiser).
#include "envs/delayed_env.h"
#include "envs/frozenlake/frozenlake_env.h"
#include "envs/household/household_env.h"
#include "envs/registry.h"
#include "envs/sokoban/sokoban_env.h"

namespace turnwise::envs_internal {

void RegisterBuiltinEnvs() {
  EnvRegistry::Register("household", [](const Json& config) {
    return std::make_unique<HouseholdEnv>(config);
  });
  EnvRegistry::Register("sokoban", [](const Json& config) { return std::make_unique<SokobanEnv>(config); });
  EnvRegistry::Register("frozenlake", [](const Json& config) { return std::make_unique<FrozenLakeEnv>(config); });
  EnvRegistry::Register("delayed", [](const Json& config) { return MakeDelayedEnv(config); });
}

}  // namespace turnwise::envs_internal
