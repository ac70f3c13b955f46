// The environment registry: environments by name.
//
// Built-in environments are registered by envs/builtin.cc, which the registry calls on first
// use (a static registration object inside a static library would be dropped by the linker
// when nothing references its object file; an explicit call keeps every built-in linked).
// Your own environments, compiled into your own binary, register with one line:
//
//   TURNWISE_REGISTER_ENV("my_env", [](const Json& config) {
//     return std::make_unique<MyEnv>(config);
//   });
//
// Make() validates nothing itself: each factory validates its own config and throws
// ConfigError naming the key. A config {"remote": {...}} makes a RemoteEnv instead
// (envs/remote_env.h), so an env served by any program is used by config alone. Thread-safe: registration and lookups may race.
#ifndef TURNWISE_ENVS_REGISTRY_H_
#define TURNWISE_ENVS_REGISTRY_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/json.h"
#include "envs/env.h"

namespace turnwise {

using EnvFactory = std::function<std::unique_ptr<Env>(const Json& config)>;

class EnvRegistry {
 public:
  // Registers `name`; registering a name twice is a programmer error (TURNWISE_CHECK).
  static void Register(const std::string& name, EnvFactory factory);
  // Creates an env. Throws NotFound listing the known names for an unknown name, and whatever
  // the factory throws (ConfigError for a bad config key).
  static std::unique_ptr<Env> Make(const std::string& name, const Json& config = Json::object());
  static bool Has(const std::string& name);
  // Sorted.
  static std::vector<std::string> Names();
  // The spec of a registered env (made with its default config).
  static EnvSpec Spec(const std::string& name);
};

namespace envs_internal {
struct EnvRegistrar {
  EnvRegistrar(const char* name, EnvFactory factory) {
    EnvRegistry::Register(name, std::move(factory));
  }
};
// Registers the environments shipped with Turnwise (envs/builtin.cc).
void RegisterBuiltinEnvs();
}  // namespace envs_internal

}  // namespace turnwise

#define TURNWISE_ENV_CONCAT_INNER(a, b) a##b
#define TURNWISE_ENV_CONCAT(a, b) TURNWISE_ENV_CONCAT_INNER(a, b)
#define TURNWISE_REGISTER_ENV(name, factory)                                    \
  static ::turnwise::envs_internal::EnvRegistrar TURNWISE_ENV_CONCAT(           \
      turnwise_env_registrar_, __COUNTER__)(name, factory)

#endif  // TURNWISE_ENVS_REGISTRY_H_
