// GPT-2's reversible byte <-> printable-character mapping used by byte-level BPE vocabularies
// (byte 0x20 is "Ġ", 0x0A is "Ċ", printable ASCII maps to itself). Module-private.
#ifndef TURNWISE_AGENTS_INTERNAL_BYTE_LEVEL_H_
#define TURNWISE_AGENTS_INTERNAL_BYTE_LEVEL_H_

#include <optional>
#include <string>
#include <string_view>

namespace turnwise::tokenizer_internal {

// UTF-8 of the character that stands for `byte`.
const std::string& ByteLevelChar(unsigned char byte);

// Maps raw bytes to their byte-level string ("\n " -> "ĊĠ").
std::string BytesToByteLevel(std::string_view bytes);

// Inverse of BytesToByteLevel; nullopt when `token` contains a character outside the mapping
// (e.g. an added token such as "<|im end|>" with a plain space).
std::optional<std::string> ByteLevelToBytes(std::string_view token);

}  // namespace turnwise::tokenizer_internal

#endif  // TURNWISE_AGENTS_INTERNAL_BYTE_LEVEL_H_
