// UTF-8 and Unicode helpers for the tokenizer: decoding that tolerates invalid bytes, character
// classes for the pre-tokenizer patterns, NFC, and lossy UTF-8 repair. Module-private; all
// functions are pure and thread-safe.
#ifndef TURNWISE_AGENTS_INTERNAL_UNICODE_H_
#define TURNWISE_AGENTS_INTERNAL_UNICODE_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace turnwise::tokenizer_internal {

// A byte that does not start a well-formed UTF-8 sequence decodes to kInvalidByteBase + byte, so
// arbitrary byte strings survive decode/encode; such units have no character class.
inline constexpr uint32_t kInvalidByteBase = 0x110000;

// Decodes the code point starting at text[pos] (pos < text.size()) and stores its byte length in
// *length. Rejects overlong forms, surrogates and values above U+10FFFF (one invalid unit each).
uint32_t DecodeUtf8(std::string_view text, size_t pos, size_t* length);

// Appends the UTF-8 form of `code_point`, or the raw byte for an invalid unit.
void AppendUnit(uint32_t code_point, std::string* out);

enum CharFlag : uint8_t {
  kLetter = 1,       // general category L*
  kNumber = 2,       // general category N*
  kWhiteSpace = 4,   // White_Space property (what Oniguruma's and Rust's \s mean)
  kNfcUnstable = 8,  // NFC_QC is No/Maybe, or combining class > 0: NFC may change the text here
};

// Bitwise OR of CharFlag values; 0 for invalid units.
uint8_t CharFlags(uint32_t code_point);

// Canonical composition (NFC) per UAX #15. Invalid units are kept as they are and act as
// starters that never compose. Fast path: returns false without touching *out when `text` is
// already in NFC by the quick check; otherwise writes the normalized text to *out and returns true.
bool ToNfc(std::string_view text, std::string* out);

// Replaces every maximal ill-formed subsequence by U+FFFD (the WHATWG / Unicode "maximal
// subpart" practice that JavaScript's TextDecoder and Rust's from_utf8_lossy follow).
std::string Utf8Lossy(std::string_view bytes);

}  // namespace turnwise::tokenizer_internal

#endif  // TURNWISE_AGENTS_INTERNAL_UNICODE_H_
