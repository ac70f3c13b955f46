#include "web/method_presets.h"

#include <algorithm>

#include "core/error.h"
#include "core/text.h"

namespace turnwise {
namespace {

// The first sentence: up to the first period followed by white space (or the end). The presets'
// first sentences carry no abbreviations; "arXiv 2505.10978" has no space after its period.
std::string FirstSentence(const std::string& comment) {
  std::string joined;
  for (const auto& line : Split(comment, '\n')) {
    std::string_view t = Trim(line);
    if (t.empty()) continue;
    if (!joined.empty()) joined += ' ';
    joined += t;
  }
  for (size_t i = 0; i + 1 < joined.size(); ++i) {
    if (joined[i] == '.' && joined[i + 1] == ' ') return joined.substr(0, i + 1);
  }
  return joined;
}

}  // namespace

Json MethodPreset::ToJson() const {
  if (!error.empty()) return {{"name", name}, {"error", error}};
  return {
      {"name", name}, {"description", description}, {"comment", comment}, {"algorithm", algorithm}};
}

MethodPreset ParseMethodPreset(std::string name, std::string_view text) {
  MethodPreset p;
  p.name = std::move(name);
  for (const auto& line : Split(text, '\n')) {
    std::string_view t = Trim(line);
    if (!StartsWith(t, "//")) break;
    t.remove_prefix(2);
    if (StartsWith(t, " ")) t.remove_prefix(1);
    if (!p.comment.empty()) p.comment += '\n';
    p.comment += std::string(t);
  }
  p.description = FirstSentence(p.comment);
  Json file = ParseJson(text, "method preset '" + p.name + "'");
  if (!file.is_object() || file.size() != 1 || !file.contains("algorithm") ||
      !file["algorithm"].is_object()) {
    throw InvalidArgument("method preset '" + p.name +
                          "' must hold one object, {\"algorithm\": {...}}");
  }
  p.algorithm = std::move(file["algorithm"]);
  return p;
}

const std::vector<MethodPreset>& EmbeddedMethodPresets() {
  static const std::vector<MethodPreset>* const kPresets = [] {
    auto* list = new std::vector<MethodPreset>();
    for (const auto& f : EmbeddedMethodFiles()) {
      try {
        list->push_back(ParseMethodPreset(std::string(f.name), f.text));
      } catch (const Error& e) {
        MethodPreset broken;
        broken.name = std::string(f.name);
        broken.error = e.what();
        list->push_back(std::move(broken));
      }
    }
    return list;
  }();
  return *kPresets;
}

const MethodPreset* FindEmbeddedMethodPreset(std::string_view name) {
  for (const auto& p : EmbeddedMethodPresets()) {
    if (p.name == name) return &p;
  }
  return nullptr;
}

std::vector<std::string> EmbeddedMethodPresetNames() {
  std::vector<std::string> names;
  for (const auto& p : EmbeddedMethodPresets()) names.push_back(p.name);
  return names;
}

}  // namespace turnwise
