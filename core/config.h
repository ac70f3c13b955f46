// Run configuration: JSON files (comments allowed) merged with `--set a.b.c=value` overrides and
// validated against a declared schema.
//
// A module declares the fields it reads in a ConfigSchema (dotted path, type, default, help,
// optional choices and range). Validation walks the user's JSON and fails on the first problem
// with a ConfigError whose message names the full key path:
//   config: trainer.lrr: unknown key (did you mean 'trainer.lr'?); known keys under 'trainer': ...
//   config: trainer.lr: expected a number, got string "fast"
// Fields of type kOpen hold an object whose contents belong to someone else (an environment's own
// config, say) and are passed through unvalidated; that owner validates them.
//
// Thread safety: a ConfigSchema is immutable after construction and safe to share.
#ifndef TURNWISE_CORE_CONFIG_H_
#define TURNWISE_CORE_CONFIG_H_

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/json.h"

namespace turnwise {

enum class FieldType {
  kInt,     // JSON integer
  kNumber,  // any JSON number
  kBool,
  kString,
  kArray,   // any JSON array
  kOpen,    // an object validated by its owner, not by this schema
  kAny,     // any JSON value
};

std::string_view FieldTypeName(FieldType type);

struct FieldSpec {
  std::string path;           // dotted: "trainer.lr"
  FieldType type = FieldType::kAny;
  Json default_value;         // null = no default (the key is optional and absent by default)
  std::string help;
  std::vector<std::string> choices;  // for kString: the allowed values (empty = any)
  std::optional<double> min;          // for kInt/kNumber: inclusive bounds
  std::optional<double> max;
};

class ConfigSchema {
 public:
  // Declares a field. Intermediate objects ("trainer" for "trainer.lr") are implied.
  // Declaring the same path twice is a programmer error (TURNWISE_CHECK).
  ConfigSchema& Add(FieldSpec field);
  ConfigSchema& Add(std::string path, FieldType type, Json default_value, std::string help);

  // Merges another schema's fields under `prefix` ("" for the root).
  ConfigSchema& Include(std::string_view prefix, const ConfigSchema& other);

  // Returns `config` with defaults filled in for absent fields. Throws ConfigError on the first
  // unknown key, wrong type, value out of range or not among the choices.
  Json Validate(const Json& config) const;

  // The defaults alone, as a nested object.
  Json Defaults() const;

  // Parses the value side of an override for `path`, typed by the declared field:
  // numbers and bools must parse as such; strings may be bare (`name=run 1`) or JSON-quoted;
  // kArray/kAny/kOpen take a JSON literal (bare words fall back to a string for kAny).
  // Throws ConfigError naming `path` when the key is unknown or the value does not fit.
  Json ParseOverrideValue(std::string_view path, std::string_view raw) const;

  const std::vector<FieldSpec>& fields() const { return fields_; }
  const FieldSpec* Find(std::string_view path) const;

 private:
  // The declared field that is `path` or an open field that contains it.
  const FieldSpec* FindOwner(std::string_view path) const;
  void ValidateObject(const Json& object, const std::string& prefix, Json& out) const;
  void CheckValue(const FieldSpec& field, const Json& value) const;
  std::vector<std::string> ChildrenOf(const std::string& prefix) const;
  bool IsIntermediate(const std::string& path) const;

  std::vector<FieldSpec> fields_;
};

// Applies one `a.b.c=value` assignment to `config` (creating intermediate objects). With a
// schema the value is typed by the declared field (see ParseOverrideValue); without one it is a
// JSON literal when it parses as one and a string otherwise. Throws ConfigError for a missing
// `=`, an empty path, or (with a schema) an unknown key or ill-typed value.
void ApplyOverride(Json& config, std::string_view assignment, const ConfigSchema* schema);

// Reads `path` (empty = start from {}), applies the overrides in order, validates against
// `schema` and returns the complete config with defaults filled in.
Json LoadConfig(const std::string& path, const std::vector<std::string>& overrides,
                const ConfigSchema& schema);

// Looks up a dotted path in a JSON object; nullptr when any component is missing.
const Json* FindPath(const Json& root, std::string_view path);

}  // namespace turnwise

#endif  // TURNWISE_CORE_CONFIG_H_
