#include "agents/policy.h"

#include <algorithm>

#include "agents/lm_policy.h"
#include "agents/openai_policy.h"
#include "core/config.h"
#include "core/error.h"
#include "core/rng.h"
#include "core/text.h"
#include "envs/episode_runner.h"

namespace turnwise {
namespace {

// expert / noisy_expert / random over the scripted choosers of envs/episode_runner.h.
class ScriptedPolicy : public Policy {
 public:
  ScriptedPolicy(std::string name, double noise) : name_(std::move(name)), choose_(MakeScriptedPolicy(name_, noise)) {}
  std::string name() const override { return name_; }
  std::vector<PolicyOutput> Act(const std::vector<PolicyInput>& batch) override {
    std::vector<PolicyOutput> out;
    out.reserve(batch.size());
    for (const PolicyInput& in : batch) {
      if (in.step == nullptr) throw InvalidArgument("policy " + name_ + ": input without a step");
      if (in.env == nullptr && name_ != "random") {
        throw FailedPrecondition("policy " + name_ + ": needs the in-process env (its scripted expert)");
      }
      Rng rng(in.seed);
      PolicyOutput o;
      o.action = choose_(*in.step, *in.env, rng);
      o.response = o.action;
      const auto& admissible = in.step->admissible_actions;
      o.admissible = admissible.empty() || std::find(admissible.begin(), admissible.end(), o.action) != admissible.end();
      out.push_back(std::move(o));
    }
    return out;
  }

 private:
  std::string name_;
  ActionChooser choose_;
};

// The random policy needs no env; give the chooser a reference it never touches.
class RandomPolicy : public Policy {
 public:
  std::string name() const override { return "random"; }
  std::vector<PolicyOutput> Act(const std::vector<PolicyInput>& batch) override {
    std::vector<PolicyOutput> out;
    for (const PolicyInput& in : batch) {
      if (in.step == nullptr) throw InvalidArgument("policy random: input without a step");
      const auto& a = in.step->admissible_actions;
      if (a.empty()) throw FailedPrecondition("policy random: the env lists no admissible actions");
      Rng rng(in.seed);
      PolicyOutput o;
      o.action = a[rng.Uniform(a.size())];
      o.response = o.action;
      out.push_back(std::move(o));
    }
    return out;
  }
};

}  // namespace

bool IsValidTurn(const PolicyOutput& output, const StepResult& answer) {
  const auto it = answer.info.find("is_action_valid");
  const bool env_valid = it != answer.info.end() && it->is_boolean() ? it->get<bool>() : output.admissible;
  return output.format_valid && env_valid;
}

std::vector<std::string> PolicyNames() { return {"expert", "lm", "noisy_expert", "openai", "random"}; }

std::unique_ptr<Policy> MakePolicy(const std::string& name, const Json& config) {
  if (!config.is_object()) throw ConfigError("policy", "expected an object");
  if (name == "expert" || name == "noisy_expert" || name == "random") {
    ConfigSchema schema;
    if (name == "noisy_expert") {
      schema.Add({.path = "noise", .type = FieldType::kNumber, .default_value = 0.3,
                  .help = "probability of a random admissible action", .min = 0.0, .max = 1.0});
    }
    Json c;
    try {
      c = schema.Validate(config);
    } catch (const ConfigError& e) {
      throw e.Under("policy");
    }
    if (name == "random") return std::make_unique<RandomPolicy>();
    return std::make_unique<ScriptedPolicy>(name, name == "noisy_expert" ? c["noise"].get<double>() : 0.0);
  }
  // "lm" and "openai" are added by agents/lm_policy.cc and agents/openai_policy.cc.
  if (name == "lm") return MakeLmPolicy(config);
  if (name == "openai") return MakeOpenAIPolicy(config);
  throw NotFound(UnknownNameMessage("policy", name, PolicyNames()));
}

}  // namespace turnwise
