#include "envs/sokoban/sokoban_env.h"

#include "core/config.h"
#include "core/error.h"
#include "envs/internal/direction_action.h"
#include "envs/internal/grid_env_util.h"

namespace turnwise {
namespace {

using envs_internal::GridLayouts;
using envs_internal::ParseDirectionAction;
using envs_internal::RenderGrid;
using envs_internal::ResolveTask;
using envs_internal::SeedSplits;
using envs_internal::SplitSeed;

// A level draw that yields nothing is retried; this many failed draws mean the settings cannot
// produce levels at all.
constexpr int kMaxGenerationAttempts = 200;

struct Preset {
  const char* name;
  int rows, cols, num_boxes, max_steps, search_depth;
};
// verl-agent's run scripts (6x6, 1 box, search_depth 30, env.max_steps 15); RAGEN's
// SimpleSokoban and LargerSokoban (config/envs.yaml: max_actions_per_traj 10).
constexpr Preset kPresets[] = {
    {"verl-agent", 6, 6, 1, 15, 30},
    {"ragen-simple", 6, 6, 1, 10, 300},
    {"ragen-larger", 8, 8, 2, 10, 10},
};

const ConfigSchema& Schema() {
  static const ConfigSchema schema = [] {
    std::vector<std::string> presets;
    for (const Preset& p : kPresets) presets.push_back(p.name);
    ConfigSchema s;
    s.Add({.path = "preset", .type = FieldType::kString, .default_value = "verl-agent",
           .help = "named settings: verl-agent (6x6, 1 box, 15 steps), ragen-simple (6x6, 1 box, 10 steps), "
                   "ragen-larger (8x8, 2 boxes, 10 steps); the keys below override it",
           .choices = presets});
    s.Add({.path = "dim_room", .type = FieldType::kArray, .default_value = Json(),
           .help = "[rows, cols] of the room, walls included (preset)"});
    s.Add({.path = "num_boxes", .type = FieldType::kInt, .default_value = Json(), .help = "boxes (preset)",
           .min = 1, .max = 4});
    s.Add({.path = "max_steps", .type = FieldType::kInt, .default_value = Json(),
           .help = "valid steps before the episode is truncated (preset)", .min = 1, .max = 10000});
    s.Add({.path = "search_depth", .type = FieldType::kInt, .default_value = Json(),
           .help = "depth of the generator's reverse play (preset)", .min = 2, .max = 1000});
    s.Add({.path = "num_gen_steps", .type = FieldType::kInt, .default_value = 0,
           .help = "random-walk steps of the topology; 0 = int(1.7 * (rows + cols))", .min = 0, .max = 1000});
    s.Add({.path = "render", .type = FieldType::kString, .default_value = "spaced",
           .help = "grid text: spaced (cells separated by a space), compact (RAGEN), tabbed (verl-agent text)",
           .choices = GridLayouts()});
    return s;
  }();
  return schema;
}

const char* Symbol(const sokoban::Room& room, size_t i) {
  switch (room.state[i]) {
    case sokoban::kWall: return "#";
    case sokoban::kFloor: return "_";
    case sokoban::kTarget: return "O";
    case sokoban::kBoxOnTarget: return "√";
    case sokoban::kBox: return "X";
    default: return room.fixed[i] == sokoban::kTarget ? "S" : "P";
  }
}

}  // namespace

const std::vector<std::string>& SokobanEnv::ActionWords() {
  static const std::vector<std::string> kWords = {"up", "down", "left", "right"};
  return kWords;
}

const std::vector<std::string>& SokobanEnv::PresetNames() {
  static const std::vector<std::string> kNames = [] {
    std::vector<std::string> names;
    for (const Preset& p : kPresets) names.push_back(p.name);
    return names;
  }();
  return kNames;
}

SokobanEnv::SokobanEnv(const Json& config) {
  Json c;
  try {
    c = Schema().Validate(config);
  } catch (const ConfigError& e) {
    throw e.Under("env.config");
  }
  preset_ = c["preset"].get<std::string>();
  const Preset* preset = &kPresets[0];
  for (const Preset& p : kPresets) {
    if (preset_ == p.name) preset = &p;
  }
  gen_.rows = preset->rows;
  gen_.cols = preset->cols;
  if (c.contains("dim_room") && !c["dim_room"].is_null()) {
    const Json& dim = c["dim_room"];
    auto ok = [](const Json& v) { return v.is_number_integer() && v.get<int64_t>() >= 5 && v.get<int64_t>() <= 16; };
    if (dim.size() != 2 || !ok(dim[0]) || !ok(dim[1])) {
      throw ConfigError("env.config.dim_room", "must be [rows, cols] with each in 5..16, got " + DumpJson(dim));
    }
    gen_.rows = dim[0].get<int>();
    gen_.cols = dim[1].get<int>();
  }
  auto value = [&](const char* key, int fallback) {
    return c.contains(key) && !c[key].is_null() ? c[key].get<int>() : fallback;
  };
  gen_.num_boxes = value("num_boxes", preset->num_boxes);
  max_steps_ = value("max_steps", preset->max_steps);
  gen_.search_depth = value("search_depth", preset->search_depth);
  gen_.num_steps = c["num_gen_steps"].get<int>() > 0 ? c["num_gen_steps"].get<int>()
                                                     : static_cast<int>(1.7 * (gen_.rows + gen_.cols));
  const int interior = (gen_.rows - 2) * (gen_.cols - 2);
  if (interior <= 2 * gen_.num_boxes + 1) {
    throw ConfigError("env.config.num_boxes", std::to_string(gen_.num_boxes) + " boxes do not fit a " +
                                                  std::to_string(gen_.rows) + "x" + std::to_string(gen_.cols) +
                                                  " room (dim_room): " + std::to_string(interior) + " interior cells");
  }
  render_ = c["render"].get<std::string>();
  task_type_ = std::to_string(gen_.rows) + "x" + std::to_string(gen_.cols) + "-" + std::to_string(gen_.num_boxes) +
               (gen_.num_boxes == 1 ? "box" : "boxes");
}

EnvSpec SokobanEnv::Spec() const {
  EnvSpec spec;
  spec.name = "sokoban";
  spec.version = "1.0 (gym-sokoban rules, preset " + preset_ + ")";
  spec.description = "Sokoban puzzles (gym-sokoban's generator): push every box onto a target; " + task_type_ +
                     ", " + std::to_string(max_steps_) + " steps.";
  spec.splits = SeedSplits();
  spec.max_turns = max_steps_;
  spec.action_format = "one of up, down, left, right";
  spec.config_defaults = Schema().Defaults();
  return spec;
}

std::string SokobanEnv::Render(const sokoban::Room& room, const std::string& layout) {
  std::vector<std::vector<std::string>> rows(static_cast<size_t>(room.rows));
  for (int r = 0; r < room.rows; ++r) {
    for (int col = 0; col < room.cols; ++col) rows[static_cast<size_t>(r)].push_back(Symbol(room, static_cast<size_t>(r * room.cols + col)));
  }
  return RenderGrid(rows, layout);
}

StepResult SokobanEnv::Reset(const ResetOptions& options) {
  const auto [split, index] = ResolveTask("sokoban", options, SeedSplits());
  const uint64_t seed = SplitSeed(split, index);
  std::optional<sokoban::Room> room;
  int attempt = 0;
  for (; attempt < kMaxGenerationAttempts && !room; ++attempt) {
    Rng rng(seed, static_cast<uint64_t>(attempt));
    room = sokoban::GenerateRoom(gen_, rng);
  }
  if (!room) {
    throw FailedPrecondition("sokoban: no level from " + std::to_string(kMaxGenerationAttempts) + " draws of seed " +
                             std::to_string(seed) + " with search_depth " + std::to_string(gen_.search_depth) +
                             " (env.config.search_depth, dim_room, num_boxes): the settings cannot make levels");
  }
  StepResult s = StartLevel(std::move(*room), split + "/" + std::to_string(index));
  s.info["generation_retries"] = attempt - 1;
  s.info["level_seed"] = seed;
  return s;
}

StepResult SokobanEnv::StartLevel(sokoban::Room room, const std::string& task_id) {
  room_ = std::move(room);
  task_id_ = task_id;
  started_ = true;
  done_ = false;
  steps_ = 0;
  calls_ = 0;
  return MakeStep(0.0, true, false);
}

StepResult SokobanEnv::Step(const std::string& action) {
  if (!started_) throw FailedPrecondition("sokoban: Step() before Reset()");
  if (done_) throw FailedPrecondition("sokoban: the episode has finished; reset it first");
  ++calls_;
  const int direction = ParseDirectionAction(action, ActionWords());
  if (direction < 0) return MakeStep(0.0, false, false);
  ++steps_;
  const int before = room_.boxes_on_target();
  const sokoban::MoveResult moved = sokoban::ApplyMove(room_, direction);
  const int after = room_.boxes_on_target();
  double reward = -0.1;
  if (after > before) reward += 1.0;
  if (after < before) reward -= 1.0;
  if (room_.solved()) reward += 10.0;
  return MakeStep(reward, true, moved.moved_player);
}

StepResult SokobanEnv::MakeStep(double reward, bool valid, bool effective) {
  StepResult s;
  const bool won = room_.solved();
  s.reward = reward;
  s.terminated = won;
  s.truncated = !won && steps_ >= max_steps_;
  done_ = s.terminated || s.truncated;
  s.turn = calls_;
  s.admissible_actions = ActionWords();
  s.observation.text = Render(room_, render_);
  s.anchor_key = s.observation.text;
  auto& info = s.info;
  info["action_is_effective"] = effective;
  info["boxes_on_target"] = room_.boxes_on_target();
  info["is_action_valid"] = valid;
  info["task_id"] = task_id_;
  info["task_score"] = won ? 1.0 : 0.0;
  info["task_type"] = task_type_;
  info["won"] = won;
  return s;
}

std::optional<std::string> SokobanEnv::ExpertAction() {
  if (!started_ || done_) return std::nullopt;
  if (auto path = sokoban::Solve(room_); path && !path->empty()) return ActionWords()[static_cast<size_t>((*path)[0])];
  for (int d = 0; d < 4; ++d) {
    sokoban::Room probe = room_;
    if (sokoban::ApplyMove(probe, d).moved_player) return ActionWords()[static_cast<size_t>(d)];
  }
  return ActionWords()[0];
}

}  // namespace turnwise
