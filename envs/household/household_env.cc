#include "envs/household/household_env.h"

#include "core/config.h"
#include "core/error.h"
#include "core/text.h"
#include "envs/household/world.h"

namespace turnwise {
namespace {

const ConfigSchema& Schema() {
  static const ConfigSchema schema = [] {
    ConfigSchema s;
    s.Add({.path = "grammar_version", .type = FieldType::kString, .default_value = "0.4",
           .help = "ALFWorld command grammar: 0.4 (move ... to, help) or 0.3 (put ... in/on)",
           .choices = {"0.4", "0.3"}});
    s.Add({.path = "max_steps", .type = FieldType::kInt, .default_value = 50,
           .help = "steps before the episode is truncated", .min = 1, .max = 10000});
    s.Add("reward_on_win", FieldType::kNumber, 10.0, "reward of the winning step");
    s.Add("banner", FieldType::kBool, true, "start with TextWorld's welcome line");
    s.Add({.path = "expert", .type = FieldType::kString, .default_value = "oracle",
           .help = "the scripted expert: oracle (plans over the true state, solves every task) "
                   "or search (decides from observations only; the one to imitate)",
           .choices = {"oracle", "search"}});
    return s;
  }();
  return schema;
}

}  // namespace

const std::vector<std::string>& HouseholdEnv::TaskTypes() { return household::TaskTypeNames(); }

Json HouseholdEnv::DefaultConfig() { return Schema().Defaults(); }

HouseholdEnv::HouseholdEnv(const Json& config) {
  Json c;
  try {
    c = Schema().Validate(config);
  } catch (const ConfigError& e) {
    throw e.Under("env.config");
  }
  grammar_version_ = c["grammar_version"].get<std::string>();
  max_steps_ = c["max_steps"].get<int64_t>();
  reward_on_win_ = c["reward_on_win"].get<double>();
  banner_ = c["banner"].get<bool>();
  search_expert_ = c["expert"].get<std::string>() == "search";
}

HouseholdEnv::~HouseholdEnv() = default;

EnvSpec HouseholdEnv::Spec() const {
  EnvSpec spec;
  spec.name = "household";
  spec.version = "1.0 (ALFWorld grammar " + grammar_version_ + ")";
  spec.description =
      "ALFWorld-style text household tasks: find, clean, heat, cool, place and examine objects "
      "among numbered receptacles.";
  spec.splits = {{"train", household::SplitSize("train")},
                 {"valid_seen", household::SplitSize("valid_seen")},
                 {"valid_unseen", household::SplitSize("valid_unseen")}};
  spec.max_turns = max_steps_;
  spec.action_format = "one admissible command, e.g. 'go to countertop 1' or 'take apple 1 from "
                       "countertop 1'";
  spec.config_defaults = DefaultConfig();
  return spec;
}

StepResult HouseholdEnv::Reset(const ResetOptions& options) {
  std::string split = options.split.empty() ? "train" : options.split;
  int64_t index;
  if (!options.task_id.empty()) {
    auto parts = Split(options.task_id, '/');
    if (parts.size() != 2) {
      throw InvalidArgument("household task id '" + options.task_id +
                            "' must look like 'train/12'");
    }
    split = parts[0];
    try {
      size_t used = 0;
      index = std::stoll(parts[1], &used);
      if (used != parts[1].size()) throw std::invalid_argument("trailing");
    } catch (const std::exception&) {
      throw InvalidArgument("household task id '" + options.task_id + "' has no task number");
    }
  } else {
    index = static_cast<int64_t>(options.seed % static_cast<uint64_t>(household::SplitSize(split)));
  }
  world_ = std::make_unique<household::World>(household::World::Generate(split, index));
  steps_ = 0;
  done_ = false;
  won_ = false;
  std::string text = world_->LookText() + "\n\nYour task is to: " + world_->task.goal_text + ".";
  if (banner_) text = "-= Welcome to TextWorld, ALFRED! =-\n\n" + text;
  return MakeStep(std::move(text), true);
}

StepResult HouseholdEnv::Step(const std::string& action) {
  if (!world_) throw FailedPrecondition("household: Step() before Reset()");
  if (done_) throw FailedPrecondition("household: the episode has finished; reset it first");
  ++steps_;
  auto feedback = world_->Execute(action, grammar_version_ == "0.4", &actions_);
  bool valid = feedback.has_value();
  return MakeStep(valid ? *feedback : "Nothing happens.", valid);
}

StepResult HouseholdEnv::MakeStep(std::string text, bool valid) {
  StepResult s;
  won_ = world_->Won();
  s.reward = (won_ && steps_ > 0) ? reward_on_win_ : 0.0;
  s.terminated = won_;
  s.truncated = !won_ && steps_ >= max_steps_;
  done_ = s.terminated || s.truncated;
  s.turn = steps_;
  actions_ = world_->Actions(grammar_version_ == "0.4");
  s.admissible_actions.reserve(actions_.size());
  for (const auto& [command, what] : actions_) s.admissible_actions.push_back(command);
  s.anchor_key = text;
  s.observation.text = std::move(text);
  s.info = {{"won", won_},
            {"is_action_valid", valid},
            {"task_score", won_ ? 1.0 : 0.0},
            {"task_type", world_->task.type},
            {"task_id", world_->task.id}};
  return s;
}

std::optional<std::string> HouseholdEnv::ExpertAction() {
  if (!world_ || done_) return std::nullopt;
  return search_expert_ ? world_->SearchAction(grammar_version_ == "0.4")
                        : world_->ExpertAction(grammar_version_ == "0.4");
}

std::string HouseholdEnv::TaskId() const { return world_ ? world_->task.id : ""; }
std::string HouseholdEnv::TaskType() const { return world_ ? world_->task.type : ""; }

}  // namespace turnwise
