// The method presets of configs/methods, built into the binary.
//
// Each configs/methods/<name>.json is a commented `{"algorithm": {...}}` fragment holding one
// method's published defaults (docs/methods.md, "Composition and presets"); the trainer merges
// it under a run config's own `algorithm` keys (training/trainer.h, ResolveTrainConfig). The
// files are embedded as text at build time (web/embed_methods.cmake), so `turnwise web` lists
// them (GET /api/methods) without reading configs/ at run time, and `turnwise advantages` finds
// a preset by name wherever it runs. A change to configs/methods takes effect at the next build.
//
// No LibTorch here: the blocks are JSON, parsed with core/json.h (comments allowed) and checked
// for shape only. Whether a block is a valid method is the trainer's schema to say.
//
// Thread safety: everything here is read-only after first use and safe to call from any thread.
#ifndef TURNWISE_WEB_METHOD_PRESETS_H_
#define TURNWISE_WEB_METHOD_PRESETS_H_

#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/json.h"

namespace turnwise {

// One embedded file, as written. Static storage.
struct EmbeddedMethodFile {
  std::string_view name;  // the file's stem: "gigpo"
  std::string_view text;  // the file's bytes, comments included
};

// Every embedded file, sorted by name (generated at build time).
std::span<const EmbeddedMethodFile> EmbeddedMethodFiles();

struct MethodPreset {
  std::string name;         // "gigpo"
  std::string description;  // the leading comment's first sentence, on one line
  std::string comment;      // the whole leading comment, "//" markers removed, one line per line
  Json algorithm;           // the file's "algorithm" block as written (no defaults filled in)
  // Non-empty when the file is malformed (then only `name` is set): why, with line and column.
  std::string error;

  // {"name", "description", "comment", "algorithm"}, or {"name", "error"}.
  Json ToJson() const;
};

// Parses a preset file's text. The leading comment is the run of `//` lines before the first
// other line. Throws InvalidArgument naming `name` when the text does not parse (with line and
// column) or is not exactly one object {"algorithm": {...}}.
MethodPreset ParseMethodPreset(std::string name, std::string_view text);

// The embedded presets, parsed on first use, sorted by name. A malformed file (a local preset
// with a typo, say) is listed with its `error` rather than hiding it or failing the others.
const std::vector<MethodPreset>& EmbeddedMethodPresets();

// The embedded preset called `name`, or nullptr.
const MethodPreset* FindEmbeddedMethodPreset(std::string_view name);

// The embedded presets' names, sorted (for "unknown method preset" messages).
std::vector<std::string> EmbeddedMethodPresetNames();

}  // namespace turnwise

#endif  // TURNWISE_WEB_METHOD_PRESETS_H_
