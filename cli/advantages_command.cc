// `turnwise advantages --config FILE|--method NAME --input rows.jsonl`: computes a method's
// advantages for hand-written or exported step rows and prints each with its parts, as JSONL —
// to check a method by hand or against another implementation. Needs no model (the estimators
// do not link LibTorch, and neither does the preset lookup).
#include <algorithm>
#include <fstream>
#include <iostream>

#include "cli/commands.h"
#include "core/config.h"
#include "core/error.h"
#include "core/text.h"
#include "training/advantages/advantage.h"
#include "training/advantages/method_preset.h"
#include "web/method_presets.h"

namespace turnwise::cli {
namespace {

template <typename T>
T Field(const Json& row, const char* key, T fallback, int64_t line) {
  auto it = row.find(key);
  if (it == row.end() || it->is_null()) return fallback;
  try {
    return it->get<T>();
  } catch (const Json::exception&) {
    throw InvalidArgument("line " + std::to_string(line) + ": field '" + key + "' has the wrong type (" +
                          JsonTypeName(*it) + ")");
  }
}

AdvantageRow ParseRow(const Json& j, int64_t line) {
  static const std::vector<std::string> known = {"group_id", "trajectory_id", "turn", "reward",
                                                 "episode_return", "invalid_action_penalty", "anchor_key",
                                                 "entropy", "num_tokens", "done", "truncated", "value"};
  if (!j.is_object()) throw InvalidArgument("line " + std::to_string(line) + ": expected a JSON object");
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (std::find(known.begin(), known.end(), it.key()) == known.end()) {
      throw InvalidArgument("line " + std::to_string(line) + ": " + UnknownNameMessage("row field", it.key(), known));
    }
  }
  AdvantageRow r;
  r.group_id = Field<std::string>(j, "group_id", "", line);
  r.trajectory_id = Field<std::string>(j, "trajectory_id", "", line);
  r.turn = Field<int>(j, "turn", 0, line);
  r.reward = Field<double>(j, "reward", 0.0, line);
  if (j.contains("episode_return") && !j["episode_return"].is_null()) {
    r.episode_return = Field<double>(j, "episode_return", 0.0, line);
  }
  r.invalid_action_penalty = Field<double>(j, "invalid_action_penalty", 0.0, line);
  r.anchor_key = Field<std::string>(j, "anchor_key", "", line);
  r.entropy = Field<double>(j, "entropy", 0.0, line);
  r.num_tokens = Field<int>(j, "num_tokens", 1, line);
  r.done = Field<bool>(j, "done", false, line);
  r.truncated = Field<bool>(j, "truncated", false, line);
  if (j.contains("value") && !j["value"].is_null()) r.value = Field<double>(j, "value", 0.0, line);
  return r;
}

// The algorithm block of `algorithm.preset`, found as the trainer finds it
// (training/advantages/method_preset.h), except that the last resort is the presets built into
// this binary rather than the source tree they come from.
Json PresetAlgorithm(const std::string& preset) {
  MethodPresetSearch search{.dirs = DefaultMethodPresetDirs()};
  for (const auto& f : EmbeddedMethodFiles()) search.built_in.emplace(std::string(f.name), f.text);
  return LoadMethodPreset(preset, search).algorithm;
}

}  // namespace

void AddAdvantagesCommand(CLI::App& app) {
  struct Options {
    std::string config;
    std::string method;
    std::string input;
    std::vector<std::string> sets;
  };
  auto o = std::make_shared<Options>();
  CLI::App* cmd = app.add_subcommand(
      "advantages", "Compute a method's advantages for step rows (JSONL in) and print each with its parts");
  cmd->add_option("--config", o->config,
                  "A run config (its algorithm.advantage, over its algorithm.preset's) or "
                  "{\"name\": ..., \"config\": {...}}");
  cmd->add_option("--method", o->method,
                  "A method preset (a name in configs/methods or a .json path), as algorithm.preset");
  cmd->add_option("--input", o->input, "Step rows, one JSON object per line (docs/methods.md); - for stdin")
      ->required();
  cmd->add_option("--set", o->sets, "Override a key of the config file, e.g. --set algorithm.advantage.config.gamma=0.95");
  cmd->callback([o] {
    if (o->config.empty() && o->method.empty()) {
      throw InvalidArgument("advantages: give --config FILE or --method NAME|FILE");
    }
    Json file = o->config.empty() ? Json::object() : ReadJsonFile(o->config);
    if (!o->method.empty()) {
      if (!file.is_object() || (file.contains("name") && !file.contains("algorithm"))) {
        throw InvalidArgument("advantages: --method needs a run config, but " + o->config +
                              " is an estimator spec ({\"name\": ...}); drop one of them");
      }
      for (const auto& s : o->sets) {
        if (StartsWith(s, "algorithm.preset=")) {
          throw InvalidArgument("advantages: --method and --set algorithm.preset both name a preset; give one");
        }
      }
      file["algorithm"]["preset"] = o->method;
    }
    for (const auto& s : o->sets) ApplyOverride(file, s, nullptr);
    std::string preset;
    if (const Json* name = FindPath(file, "algorithm.preset"); name != nullptr && !name->is_null()) {
      if (!name->is_string()) throw ConfigError("algorithm.preset", "expected a string, got " + JsonTypeName(*name));
      preset = name->get<std::string>();
    }
    if (!preset.empty()) {
      file["algorithm"] = MergeMethodBlock(PresetAlgorithm(preset), file["algorithm"]);
    }
    std::string where = "algorithm.advantage";
    const Json* spec = FindPath(file, where);
    if (spec == nullptr) {
      spec = &file;
      where = "";
    }
    if (!spec->is_object() || !spec->contains("name")) {
      throw ConfigError(where.empty() ? "name" : where + ".name", "is required: the estimator's name");
    }
    std::unique_ptr<AdvantageEstimator> estimator;
    try {
      estimator = MakeAdvantageEstimator((*spec)["name"].get<std::string>(), spec->value("config", Json::object()));
    } catch (const ConfigError& e) {
      std::string prefix = where.empty() ? "" : where + ".";
      throw e.Under(e.key_path().empty() ? prefix + "name" : prefix + "config");
    }
    std::ifstream file_in;
    std::istream* in = &std::cin;
    if (o->input != "-") {
      file_in.open(o->input);
      if (!file_in) throw IoError("cannot read '" + o->input + "'");
      in = &file_in;
    }
    std::vector<AdvantageRow> rows;
    std::vector<Json> raw;
    std::string line;
    int64_t n = 0;
    while (std::getline(*in, line)) {
      ++n;
      if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
      Json j = Json::parse(line, nullptr, false);
      if (j.is_discarded()) throw InvalidArgument("line " + std::to_string(n) + ": not valid JSON");
      rows.push_back(ParseRow(j, n));
      raw.push_back(std::move(j));
    }
    std::vector<RowAdvantage> out = estimator->Compute(rows);
    for (size_t i = 0; i < out.size(); ++i) {
      Json record = out[i].ToJson();
      record["group_id"] = rows[i].group_id;
      record["trajectory_id"] = rows[i].trajectory_id;
      record["turn"] = rows[i].turn;
      std::cout << DumpJson(record) << "\n";
    }
    std::cerr << "turnwise advantages: " << out.size() << " rows, estimator " << estimator->Name() << " "
              << DumpJson(estimator->Config()) << (preset.empty() ? "" : " (preset " + preset + ")") << "\n";
  });
}

}  // namespace turnwise::cli
