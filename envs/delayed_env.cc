#include "envs/delayed_env.h"

#include <chrono>
#include <thread>

#include "core/config.h"
#include "core/error.h"
#include "core/hash.h"
#include "core/rng.h"
#include "envs/registry.h"

namespace turnwise {
namespace {

class DelayedEnv : public Env {
 public:
  DelayedEnv(std::unique_ptr<Env> inner, double step_ms, double jitter_ms, double reset_ms)
      : inner_(std::move(inner)), step_ms_(step_ms), jitter_ms_(jitter_ms), reset_ms_(reset_ms) {}

  StepResult Reset(const ResetOptions& o) override {
    seed_ = o.seed;
    turn_ = 0;
    Sleep(reset_ms_);
    return inner_->Reset(o);
  }
  StepResult Step(const std::string& action) override {
    Rng rng(HashCombine(seed_, ++turn_));
    Sleep(step_ms_ + jitter_ms_ * rng.UniformDouble());
    return inner_->Step(action);
  }
  EnvSpec Spec() const override {
    EnvSpec spec = inner_->Spec();
    spec.description = "'" + spec.name + "' with simulated step latency: " + spec.description;
    spec.name = "delayed";
    return spec;
  }
  std::optional<std::string> ExpertAction() override { return inner_->ExpertAction(); }
  std::string TaskId() const override { return inner_->TaskId(); }
  std::string TaskType() const override { return inner_->TaskType(); }

 private:
  static void Sleep(double ms) {
    if (ms > 0) std::this_thread::sleep_for(std::chrono::duration<double, std::milli>(ms));
  }
  std::unique_ptr<Env> inner_;
  double step_ms_, jitter_ms_, reset_ms_;
  uint64_t seed_ = 0, turn_ = 0;
};

}  // namespace

std::unique_ptr<Env> MakeDelayedEnv(const Json& config) {
  ConfigSchema s;
  s.Add("env", FieldType::kString, "household", "the environment to delay");
  s.Add("config", FieldType::kOpen, Json::object(), "its config");
  s.Add({.path = "step_ms", .type = FieldType::kNumber, .default_value = 20.0, .help = "latency per step", .min = 0.0});
  s.Add({.path = "jitter_ms", .type = FieldType::kNumber, .default_value = 20.0, .help = "extra uniform latency",
         .min = 0.0});
  s.Add({.path = "reset_ms", .type = FieldType::kNumber, .default_value = 0.0, .help = "latency per reset", .min = 0.0});
  Json c;
  try {
    c = s.Validate(config);
  } catch (const ConfigError& e) {
    throw e.Under("env.config");
  }
  if (c["env"] == "delayed") throw ConfigError("env.config.env", "cannot delay 'delayed' itself");
  return std::make_unique<DelayedEnv>(EnvRegistry::Make(c["env"], c["config"]), c["step_ms"].get<double>(),
                                      c["jitter_ms"].get<double>(), c["reset_ms"].get<double>());
}

}  // namespace turnwise
