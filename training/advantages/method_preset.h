// Method presets: finding `algorithm.preset` and merging it under a run config's own keys.
//
// A preset is a `{"algorithm": {...}}` file (comments allowed) holding one method's published
// defaults: configs/methods/<name>.json, described in docs/methods.md ("Composition and
// presets"). `algorithm.preset` is either a path (it contains '/' or ends in ".json") or a
// name, looked up as <name>.json in a list of directories and then, if the caller has them, in
// the presets built into its binary. The trainer (training/trainer.h) and `turnwise advantages`
// both resolve presets here, each with its own last resort: the trainer the source tree it was
// built from, the CLI the copies web/embed_methods.cmake embeds (web/method_presets.h). Nothing
// here depends on either, nor on LibTorch.
//
// Whether a block is a valid method is the trainer's schema to say; this checks shape only.
//
// Errors: every failure is a ConfigError on "algorithm.preset" whose message a user can act on
// (no such file, unknown name with the known ones, unreadable or malformed file, a preset that
// names another preset).
// Thread safety: free functions without shared state; the directories are read on each call.
#ifndef TURNWISE_TRAINING_ADVANTAGES_METHOD_PRESET_H_
#define TURNWISE_TRAINING_ADVANTAGES_METHOD_PRESET_H_

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/json.h"

namespace turnwise {

// Where preset names are looked up, in order.
struct MethodPresetSearch {
  // Searched first, in order, for <name>.json. Missing directories are skipped.
  std::vector<std::string> dirs;
  // Searched after `dirs`: name -> the file's text. The views must outlive the search (the
  // embedded presets are static).
  std::map<std::string, std::string_view> built_in;
};

// $TURNWISE_METHODS_DIR (when set and non-empty), then ./configs/methods.
std::vector<std::string> DefaultMethodPresetDirs();

struct LoadedMethodPreset {
  std::string source;  // the file's path, or "built-in preset 'NAME'"
  Json algorithm;      // the file's algorithm block as written: no defaults filled in
};

// Finds and parses `preset` (a path or a name, see above). A name found in none of the places
// is refused with every name those places hold, sorted, for the "did you mean" hint.
LoadedMethodPreset LoadMethodPreset(const std::string& preset, const MethodPresetSearch& search);

// `over` merged onto `base`, as a run config's algorithm keys merge onto its preset's: objects
// merge key by key and anything else (numbers, strings, lists such as `regularizers`) is
// replaced whole. An object whose "name" differs from the base's (another estimator, loss or
// schedule) replaces the base's object whole, so no option of the preset's choice leaks into
// the user's.
Json MergeMethodBlock(const Json& base, const Json& over);

}  // namespace turnwise

#endif  // TURNWISE_TRAINING_ADVANTAGES_METHOD_PRESET_H_
