#include "core/config.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "core/error.h"
#include "core/text.h"

namespace turnwise {
namespace {

std::string JoinPath(const std::string& prefix, const std::string& key) {
  return prefix.empty() ? key : prefix + "." + key;
}

std::string Describe(const Json& value) {
  std::string text = DumpJson(value);
  if (text.size() > 60) text = text.substr(0, 57) + "...";
  return JsonTypeName(value) + " " + text;
}

void SetPath(Json& root, std::string_view path, Json value) {
  Json* node = &root;
  auto parts = Split(path, '.');
  for (size_t i = 0; i < parts.size(); ++i) {
    if (!node->is_object()) {
      if (!node->is_null()) {
        throw ConfigError(Join({parts.begin(), parts.begin() + static_cast<long>(i)}, "."),
                          "is a " + JsonTypeName(*node) + ", cannot set '" + parts[i] + "' in it");
      }
      *node = Json::object();
    }
    if (i + 1 == parts.size()) {
      (*node)[parts[i]] = std::move(value);
    } else {
      node = &(*node)[parts[i]];
    }
  }
}

}  // namespace

std::string_view FieldTypeName(FieldType type) {
  switch (type) {
    case FieldType::kInt: return "an integer";
    case FieldType::kNumber: return "a number";
    case FieldType::kBool: return "a boolean";
    case FieldType::kString: return "a string";
    case FieldType::kArray: return "an array";
    case FieldType::kOpen: return "an object";
    case FieldType::kAny: return "any value";
  }
  return "a value";
}

ConfigSchema& ConfigSchema::Add(FieldSpec field) {
  TURNWISE_CHECK_MSG(!field.path.empty(), "empty config path");
  TURNWISE_CHECK_MSG(Find(field.path) == nullptr, "config field declared twice: " + field.path);
  fields_.push_back(std::move(field));
  return *this;
}

ConfigSchema& ConfigSchema::Add(std::string path, FieldType type, Json default_value,
                                std::string help) {
  FieldSpec f;
  f.path = std::move(path);
  f.type = type;
  f.default_value = std::move(default_value);
  f.help = std::move(help);
  return Add(std::move(f));
}

ConfigSchema& ConfigSchema::Include(std::string_view prefix, const ConfigSchema& other) {
  for (FieldSpec f : other.fields_) {
    f.path = JoinPath(std::string(prefix), f.path);
    Add(std::move(f));
  }
  return *this;
}

const FieldSpec* ConfigSchema::Find(std::string_view path) const {
  for (const auto& f : fields_) {
    if (f.path == path) return &f;
  }
  return nullptr;
}

const FieldSpec* ConfigSchema::FindOwner(std::string_view path) const {
  if (const FieldSpec* f = Find(path)) return f;
  for (const auto& f : fields_) {
    if (f.type == FieldType::kOpen && StartsWith(path, f.path + ".")) return &f;
  }
  return nullptr;
}

bool ConfigSchema::IsIntermediate(const std::string& path) const {
  std::string with_dot = path + ".";
  return std::any_of(fields_.begin(), fields_.end(),
                     [&](const FieldSpec& f) { return StartsWith(f.path, with_dot); });
}

std::vector<std::string> ConfigSchema::ChildrenOf(const std::string& prefix) const {
  std::set<std::string> names;
  std::string with_dot = prefix.empty() ? "" : prefix + ".";
  for (const auto& f : fields_) {
    if (!StartsWith(f.path, with_dot)) continue;
    std::string rest = f.path.substr(with_dot.size());
    names.insert(rest.substr(0, rest.find('.')));
  }
  return {names.begin(), names.end()};
}

void ConfigSchema::CheckValue(const FieldSpec& field, const Json& value) const {
  auto fail = [&](const std::string& what) { throw ConfigError(field.path, what); };
  switch (field.type) {
    case FieldType::kInt:
      if (!value.is_number_integer()) {
        // 3.0 written by a tool is still an integer; 3.5 is not.
        if (!(value.is_number_float() && std::floor(value.get<double>()) == value.get<double>())) {
          fail("expected an integer, got " + Describe(value));
        }
      }
      break;
    case FieldType::kNumber:
      if (!value.is_number()) fail("expected a number, got " + Describe(value));
      break;
    case FieldType::kBool:
      if (!value.is_boolean()) fail("expected a boolean (true/false), got " + Describe(value));
      break;
    case FieldType::kString:
      if (!value.is_string()) fail("expected a string, got " + Describe(value));
      if (!field.choices.empty() &&
          std::find(field.choices.begin(), field.choices.end(), value.get<std::string>()) ==
              field.choices.end()) {
        fail(UnknownNameMessage("value", value.get<std::string>(), field.choices));
      }
      break;
    case FieldType::kArray:
      if (!value.is_array()) fail("expected an array, got " + Describe(value));
      break;
    case FieldType::kOpen:
      if (!value.is_object()) fail("expected an object, got " + Describe(value));
      break;
    case FieldType::kAny:
      break;
  }
  if (value.is_number() && (field.min || field.max)) {
    double v = value.get<double>();
    if (field.min && v < *field.min) {
      fail("value " + DumpJson(value) + " is below the minimum " + DumpJson(Json(*field.min)));
    }
    if (field.max && v > *field.max) {
      fail("value " + DumpJson(value) + " is above the maximum " + DumpJson(Json(*field.max)));
    }
  }
}

void ConfigSchema::ValidateObject(const Json& object, const std::string& prefix, Json& out) const {
  for (const auto& [key, value] : object.items()) {
    std::string path = JoinPath(prefix, key);
    if (const FieldSpec* f = Find(path)) {
      if (!value.is_null() || !f->default_value.is_null()) CheckValue(*f, value);
      out[key] = value;
    } else if (IsIntermediate(path)) {
      if (!value.is_object()) {
        throw ConfigError(path, "expected an object (it holds " + Join(ChildrenOf(path), ", ") +
                                    "), got " + Describe(value));
      }
      Json& child = out[key];
      if (!child.is_object()) child = Json::object();
      ValidateObject(value, path, child);
    } else {
      std::vector<std::string> siblings = ChildrenOf(prefix);
      std::string msg = "unknown key";
      if (auto near = NearestName(key, siblings)) {
        msg += " (did you mean '" + JoinPath(prefix, *near) + "'?)";
      }
      msg += "; known keys" + (prefix.empty() ? std::string() : " under '" + prefix + "'") +
             ": " + Join(siblings, ", ");
      throw ConfigError(path, msg);
    }
  }
}

Json ConfigSchema::Defaults() const {
  Json out = Json::object();
  for (const auto& f : fields_) {
    if (!f.default_value.is_null()) SetPath(out, f.path, f.default_value);
  }
  return out;
}

Json ConfigSchema::Validate(const Json& config) const {
  if (!config.is_object()) {
    throw ConfigError("", "the config must be a JSON object, got " + Describe(config));
  }
  Json out = Defaults();
  ValidateObject(config, "", out);
  return out;
}

Json ConfigSchema::ParseOverrideValue(std::string_view path, std::string_view raw) const {
  const FieldSpec* f = FindOwner(path);
  if (f == nullptr) {
    // Reuse the unknown-key message of validation: build {path: null} and validate it.
    Json probe = Json::object();
    SetPath(probe, path, Json());
    if (IsIntermediate(std::string(path))) {
      throw ConfigError(std::string(path),
                        "is a section, not a value; set one of its keys: " +
                            Join(ChildrenOf(std::string(path)), ", "));
    }
    Json scratch = Json::object();
    ValidateObject(probe, "", scratch);  // throws the unknown-key ConfigError
    throw ConfigError(std::string(path), "unknown key");
  }
  Json parsed = Json::parse(raw.begin(), raw.end(), nullptr, /*allow_exceptions=*/false);
  bool inside_open = f->type == FieldType::kOpen && f->path != path;
  FieldType type = inside_open ? FieldType::kAny : f->type;
  if (type == FieldType::kString) {
    // A bare word is the string itself; a JSON-quoted string is unquoted.
    return parsed.is_string() ? parsed : Json(std::string(raw));
  }
  if (parsed.is_discarded()) {
    if (type == FieldType::kAny) return Json(std::string(raw));
    throw ConfigError(std::string(path), "expected " + std::string(FieldTypeName(type)) +
                                             ", got '" + std::string(raw) + "'");
  }
  if (!inside_open) CheckValue(*f, parsed);
  return parsed;
}

void ApplyOverride(Json& config, std::string_view assignment, const ConfigSchema* schema) {
  size_t eq = assignment.find('=');
  if (eq == std::string_view::npos) {
    throw ConfigError("", "override '" + std::string(assignment) +
                              "' must have the form key.path=value");
  }
  std::string path(Trim(assignment.substr(0, eq)));
  std::string_view raw = assignment.substr(eq + 1);
  if (path.empty() || StartsWith(path, ".") || EndsWith(path, ".") ||
      path.find("..") != std::string::npos) {
    throw ConfigError(path, "override '" + std::string(assignment) + "' has an invalid key path");
  }
  Json value;
  if (schema != nullptr) {
    value = schema->ParseOverrideValue(path, raw);
  } else {
    value = Json::parse(raw.begin(), raw.end(), nullptr, false);
    if (value.is_discarded()) value = std::string(raw);
  }
  SetPath(config, path, std::move(value));
}

Json LoadConfig(const std::string& path, const std::vector<std::string>& overrides,
                const ConfigSchema& schema) {
  Json config = path.empty() ? Json::object() : ReadJsonFile(path);
  if (!config.is_object()) {
    throw ConfigError("", path + ": the config must be a JSON object, got " + JsonTypeName(config));
  }
  for (const auto& o : overrides) ApplyOverride(config, o, &schema);
  return schema.Validate(config);
}

const Json* FindPath(const Json& root, std::string_view path) {
  const Json* node = &root;
  for (const auto& part : Split(path, '.')) {
    if (!node->is_object()) return nullptr;
    auto it = node->find(part);
    if (it == node->end()) return nullptr;
    node = &*it;
  }
  return node;
}

}  // namespace turnwise
