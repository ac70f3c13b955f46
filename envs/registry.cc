#include "envs/registry.h"

#include <map>
#include <mutex>

#include "core/error.h"
#include "envs/remote_env.h"

namespace turnwise {
namespace {

struct Table {
  std::mutex mu;
  std::map<std::string, EnvFactory> factories;
};

Table& GetTable() {
  static Table table;
  return table;
}

// Built-ins are registered on the first lookup, not at static-initialisation time, so their
// object files are always linked and there is no initialisation-order question.
void EnsureBuiltins() {
  static std::once_flag once;
  std::call_once(once, [] { envs_internal::RegisterBuiltinEnvs(); });
}

}  // namespace

void EnvRegistry::Register(const std::string& name, EnvFactory factory) {
  Table& t = GetTable();
  std::lock_guard<std::mutex> lock(t.mu);
  TURNWISE_CHECK_MSG(!t.factories.count(name), "environment registered twice: " + name);
  t.factories.emplace(name, std::move(factory));
}

std::unique_ptr<Env> EnvRegistry::Make(const std::string& name, const Json& config) {
  EnsureBuiltins();
  // An env served elsewhere is named by its config, whatever its local name.
  if (config.is_object() && config.contains("remote")) return MakeRemoteEnv(config["remote"]);
  EnvFactory factory;
  {
    Table& t = GetTable();
    std::lock_guard<std::mutex> lock(t.mu);
    auto it = t.factories.find(name);
    if (it == t.factories.end()) {
      std::vector<std::string> known;
      for (const auto& [n, f] : t.factories) known.push_back(n);
      throw NotFound(UnknownNameMessage("environment", name, known));
    }
    factory = it->second;
  }
  return factory(config.is_null() ? Json::object() : config);
}

bool EnvRegistry::Has(const std::string& name) {
  EnsureBuiltins();
  Table& t = GetTable();
  std::lock_guard<std::mutex> lock(t.mu);
  return t.factories.count(name) > 0;
}

std::vector<std::string> EnvRegistry::Names() {
  EnsureBuiltins();
  Table& t = GetTable();
  std::lock_guard<std::mutex> lock(t.mu);
  std::vector<std::string> names;
  for (const auto& [n, f] : t.factories) names.push_back(n);
  return names;
}

EnvSpec EnvRegistry::Spec(const std::string& name) { return Make(name)->Spec(); }

}  // namespace turnwise
