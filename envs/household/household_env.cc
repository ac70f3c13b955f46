#include "envs/household/household_env.h"

#include <algorithm>
#include <cstring>
#include <tuple>

#include "core/config.h"
#include "core/error.h"
#include "core/text.h"
#include "envs/household/world.h"
#include "envs/internal/grid_env_util.h"

namespace turnwise {
namespace {

// A fast hash of a command's text for the lookup in Step (8 bytes at a time). Equal hashes are
// confirmed by comparing texts, so its quality affects speed only.
uint64_t CommandKey(std::string_view text) {
  uint64_t h = 0x9E3779B97F4A7C15ull ^ text.size();
  size_t i = 0;
  for (; i + 8 <= text.size(); i += 8) {
    uint64_t w;
    std::memcpy(&w, text.data() + i, 8);
    h = (h ^ w) * 0xFF51AFD7ED558CCDull;
    h ^= h >> 32;
  }
  uint64_t w = 0;
  std::memcpy(&w, text.data() + i, text.size() - i);
  h = (h ^ w) * 0xC4CEB9FE1A85EC53ull;
  return h ^ (h >> 29);
}

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
    s.Add("task_types", FieldType::kArray, Json::array(),
          "only tasks of these types (ALFWorld's env.task_types, by name); empty: all six. "
          "Task ids then number the tasks of the chosen types");
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
  new_grammar_ = grammar_version_ == "0.4";
  const auto& names = household::TaskTypeNames();
  const Json& types = c["task_types"];
  for (size_t i = 0; i < types.size(); ++i) {
    const std::string key = "env.config.task_types[" + std::to_string(i) + "]";
    if (!types[i].is_string()) throw ConfigError(key, "must be a task type name");
    const std::string name = types[i].get<std::string>();
    auto it = std::find(names.begin(), names.end(), name);
    if (it == names.end()) throw ConfigError(key, UnknownNameMessage("task type", name, names));
    type_positions_.push_back(static_cast<int>(it - names.begin()));
  }
  std::sort(type_positions_.begin(), type_positions_.end());
  type_positions_.erase(std::unique(type_positions_.begin(), type_positions_.end()),
                        type_positions_.end());
}

int64_t HouseholdEnv::SplitSize(const std::string& split) const {
  const int64_t full = household::SplitSize(split);
  if (type_positions_.empty()) return full;
  // Task type = full index mod 6 (World::Generate), so each chosen type p has the indices
  // p, p + 6, ... below `full`.
  const int64_t cycle = static_cast<int64_t>(household::TaskTypeNames().size());
  int64_t n = 0;
  for (int p : type_positions_) n += p < full ? (full - p + cycle - 1) / cycle : 0;
  return n;
}

int64_t HouseholdEnv::FullIndex(int64_t index) const {
  if (type_positions_.empty()) return index;
  const int64_t m = static_cast<int64_t>(type_positions_.size());
  const int64_t cycle = static_cast<int64_t>(household::TaskTypeNames().size());
  return index / m * cycle + type_positions_[static_cast<size_t>(index % m)];
}

HouseholdEnv::~HouseholdEnv() = default;

EnvSpec HouseholdEnv::Spec() const {
  EnvSpec spec;
  spec.name = "household";
  spec.version = "1.0 (ALFWorld grammar " + grammar_version_ + ")";
  spec.description =
      "ALFWorld-style text household tasks: find, clean, heat, cool, place and examine objects "
      "among numbered receptacles.";
  spec.splits = {{"train", SplitSize("train")},
                 {"valid_seen", SplitSize("valid_seen")},
                 {"valid_unseen", SplitSize("valid_unseen")}};
  spec.max_turns = max_steps_;
  spec.action_format = "one admissible command, e.g. 'go to countertop 1' or 'take apple 1 from "
                       "countertop 1'";
  spec.config_defaults = DefaultConfig();
  return spec;
}

StepResult HouseholdEnv::Reset(const ResetOptions& options) {
  std::string split = options.split.empty() ? "train" : options.split;
  int64_t index = -1;
  if (!options.task_id.empty()) std::tie(split, index) = envs_internal::ParseTaskId("household", options.task_id);
  const int64_t size = SplitSize(split);
  if (options.task_id.empty()) index = static_cast<int64_t>(options.seed % static_cast<uint64_t>(size));
  if (!type_positions_.empty() && (index < 0 || index >= size)) {
    throw InvalidArgument("task index " + std::to_string(index) + " is outside " + split +
                          " of the configured task types (0.." + std::to_string(size - 1) + ")");
  }
  world_ = std::make_unique<household::World>(household::World::Generate(split, FullIndex(index)));
  world_->task.id = split + "/" + std::to_string(index);
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
  const std::string_view command = Trim(action);
  const uint64_t key = CommandKey(command);
  for (size_t i = 0; i < actions_.size(); ++i) {
    if (action_keys_[i] == key && world_->CommandText(actions_[i], new_grammar_) == command) {
      return MakeStep(world_->Apply(actions_[i], new_grammar_), true);
    }
  }
  return MakeStep("Nothing happens.", false);
}

StepResult HouseholdEnv::MakeStep(std::string text, bool valid) {
  StepResult s;
  won_ = world_->Won();
  s.reward = (won_ && steps_ > 0) ? reward_on_win_ : 0.0;
  s.terminated = won_;
  s.truncated = !won_ && steps_ >= max_steps_;
  done_ = s.terminated || s.truncated;
  s.turn = steps_;
  household::World::ActionTable table = world_->Actions(new_grammar_);
  actions_ = std::move(table.actions);
  action_keys_.resize(table.commands.size());
  for (size_t i = 0; i < table.commands.size(); ++i)
    action_keys_[i] = CommandKey(table.commands[i]);
  s.admissible_actions = std::move(table.commands);
  s.anchor_key = text;
  s.observation.text = std::move(text);
  // Keys in the object's (sorted) order, each added at the end: no searching, no temporaries.
  auto& info = s.info.get_ref<Json::object_t&>();
  info.emplace_hint(info.end(), "is_action_valid", valid);
  info.emplace_hint(info.end(), "task_id", world_->task.id);
  info.emplace_hint(info.end(), "task_score", won_ ? 1.0 : 0.0);
  info.emplace_hint(info.end(), "task_type", world_->task.type);
  info.emplace_hint(info.end(), "won", won_);
  return s;
}

std::optional<std::string> HouseholdEnv::ExpertAction() {
  if (!world_ || done_) return std::nullopt;
  return search_expert_ ? world_->SearchAction(new_grammar_) : world_->ExpertAction(new_grammar_);
}

std::string HouseholdEnv::TaskId() const { return world_ ? world_->task.id : ""; }
std::string HouseholdEnv::TaskType() const { return world_ ? world_->task.type : ""; }

}  // namespace turnwise
