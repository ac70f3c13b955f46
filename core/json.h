// JSON helpers: parsing with comments and readable errors, dumping that never throws on invalid
// UTF-8 (model output can contain broken byte sequences), and type names for messages.
#ifndef TURNWISE_CORE_JSON_H_
#define TURNWISE_CORE_JSON_H_

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

namespace turnwise {

using Json = nlohmann::json;

// Serialises `value`; invalid UTF-8 in strings is replaced by U+FFFD instead of throwing.
// indent < 0 gives the compact single-line form (one JSONL record).
std::string DumpJson(const Json& value, int indent = -1);

// Parses JSON text; `//` and `/* */` comments are allowed. On malformed input throws
// InvalidArgument "<source>: <parser message>", where the message carries line and column.
Json ParseJson(std::string_view text, std::string_view source = "json");

// Reads and parses a file (comments allowed). Throws IoError naming the path when it cannot be
// read, InvalidArgument naming the path when it is a directory or does not parse.
Json ReadJsonFile(const std::string& path);

// Appends `text` as a JSON string literal (quotes included), escaped as DumpJson does: `"`, `\`
// and control characters escaped, other UTF-8 kept as is, invalid UTF-8 bytes replaced by U+FFFD.
// For hot paths that write JSON text directly (the env server's step answers).
void AppendJsonString(std::string* out, std::string_view text);
// Appends a number in its shortest round-trip form ("10.0", "0.25", "1e-07"); NaN and infinities,
// which JSON cannot hold, as null (as DumpJson does).
void AppendJsonNumber(std::string* out, double value);

// "object", "array", "string", "integer", "number", "boolean", "null".
std::string JsonTypeName(const Json& value);

}  // namespace turnwise

#endif  // TURNWISE_CORE_JSON_H_
