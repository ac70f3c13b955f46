// JsonScanner: a validating, allocation-light reader for the hot paths that read protocol-v1
// answers (step documents, /v1/batch answers) without building a nlohmann tree for them.
//
// It accepts exactly the JSON that nlohmann::json::parse accepts (RFC 8259: strict strings with
// valid UTF-8 and escapes, strict numbers, no comments, no trailing commas) or fails. Callers
// use it as a fast path and fall back to nlohmann for everything it declines — malformed input,
// shapes they do not expect, numbers it does not convert exactly the way nlohmann does — so the
// results and the error messages stay those of the slow path.
//
// Every method skips leading whitespace first. Methods that return bool leave the position
// unspecified when they fail; a failed scanner is meant to be abandoned.
//
// Thread safety: none needed (one scanner per text, the text outlives it).
#ifndef TURNWISE_ENVS_INTERNAL_JSON_SCAN_H_
#define TURNWISE_ENVS_INTERNAL_JSON_SCAN_H_

#include <cstddef>
#include <string>
#include <string_view>

#include "core/json.h"

namespace turnwise::envs_internal {

class JsonScanner {
 public:
  explicit JsonScanner(std::string_view text) : text_(text) {}

  // The next non-whitespace character, 0 at the end.
  char Peek();
  // Consumes `c` when it is the next non-whitespace character.
  bool Consume(char c);
  // True when only whitespace is left.
  bool AtEnd();
  // Reads a string literal, decoded (escapes, surrogate pairs) into *out.
  bool String(std::string* out);
  // Reads a number as nlohmann would type it: non-negative integers unsigned, negative ones
  // signed, the rest double. Declines integers that do not fit 64 bits and non-finite doubles.
  bool Number(Json* out);
  // Skips one value of any kind, validating it; `*span` (when given) is its text.
  bool SkipValue(std::string_view* span = nullptr);
  // Reads one value into *out: scalars directly, arrays and objects through nlohmann (after
  // validating them here).
  bool Value(Json* out);

 private:
  void SkipSpace();
  bool SkipValueAt(int depth);
  bool Literal(std::string_view word);
  // Validates the number at pos_ and advances past it; *integer: no fraction, no exponent.
  bool ScanNumber(bool* integer);

  std::string_view text_;
  size_t pos_ = 0;
};

}  // namespace turnwise::envs_internal

#endif  // TURNWISE_ENVS_INTERNAL_JSON_SCAN_H_
