#include "training/advantages/method_preset.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <set>

#include "core/error.h"
#include "core/text.h"

namespace turnwise {
namespace {

namespace fs = std::filesystem;

constexpr char kKey[] = "algorithm.preset";

// Every name a lookup would find, for the "unknown method preset" message.
std::vector<std::string> KnownNames(const MethodPresetSearch& search) {
  std::set<std::string> names;
  for (const auto& dir : search.dirs) {
    std::error_code ec;
    if (!fs::is_directory(dir, ec)) continue;
    for (const auto& e : fs::directory_iterator(dir, ec)) {
      if (e.path().extension() == ".json") names.insert(e.path().stem().string());
    }
  }
  for (const auto& [name, text] : search.built_in) names.insert(name);
  return {names.begin(), names.end()};
}

LoadedMethodPreset CheckShape(std::string source, Json file) {
  if (!file.is_object() || file.size() != 1 || !file.contains("algorithm") ||
      !file["algorithm"].is_object()) {
    throw ConfigError(kKey, "'" + source + "' must hold one object, {\"algorithm\": {...}}");
  }
  if (file["algorithm"].contains("preset")) {
    throw ConfigError(kKey, "'" + source + "' names another preset; presets do not nest");
  }
  return {std::move(source), std::move(file["algorithm"])};
}

LoadedMethodPreset LoadFile(const std::string& path) {
  Json file;
  try {
    file = ReadJsonFile(path);
  } catch (const Error& e) {
    throw ConfigError(kKey, e.what());
  }
  return CheckShape(path, std::move(file));
}

}  // namespace

std::vector<std::string> DefaultMethodPresetDirs() {
  std::vector<std::string> dirs;
  if (const char* env = std::getenv("TURNWISE_METHODS_DIR"); env != nullptr && *env)
    dirs.emplace_back(env);
  dirs.emplace_back("configs/methods");
  return dirs;
}

LoadedMethodPreset LoadMethodPreset(const std::string& preset, const MethodPresetSearch& search) {
  if (preset.find('/') != std::string::npos || EndsWith(preset, ".json")) {
    if (!fs::exists(preset)) throw ConfigError(kKey, "no such file '" + preset + "'");
    return LoadFile(preset);
  }
  for (const auto& dir : search.dirs) {
    fs::path candidate = fs::path(dir) / (preset + ".json");
    if (fs::exists(candidate)) return LoadFile(candidate.string());
  }
  if (auto it = search.built_in.find(preset); it != search.built_in.end()) {
    const std::string source = "built-in preset '" + preset + "'";
    Json file;
    try {
      file = ParseJson(it->second, source);
    } catch (const Error& e) {
      throw ConfigError(kKey, e.what());
    }
    return CheckShape(source, std::move(file));
  }
  throw ConfigError(kKey, UnknownNameMessage("method preset", preset, KnownNames(search)));
}

Json MergeMethodBlock(const Json& base, const Json& over) {
  if (!base.is_object() || !over.is_object()) return over;
  if (base.contains("name") && over.contains("name") && base["name"] != over["name"]) return over;
  Json out = base;
  for (auto it = over.begin(); it != over.end(); ++it) {
    out[it.key()] =
        out.contains(it.key()) ? MergeMethodBlock(out[it.key()], it.value()) : it.value();
  }
  return out;
}

}  // namespace turnwise
