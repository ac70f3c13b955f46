// Hand-written matchers for the two pre-tokenizer regexes that byte-level BPE tokenizers use,
// with Oniguruma semantics (\s = White_Space, \p{L}/\p{N} = general categories). Module-private.
#ifndef TURNWISE_AGENTS_INTERNAL_PRETOKENIZE_H_
#define TURNWISE_AGENTS_INTERNAL_PRETOKENIZE_H_

#include <cstddef>
#include <string_view>
#include <utility>
#include <vector>

namespace turnwise::tokenizer_internal {

// The regex source strings exactly as they appear in tokenizer.json files.
inline constexpr std::string_view kGpt2PatternSource =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";
inline constexpr std::string_view kQwen2PatternSource =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";

enum class PatternKind { kGpt2, kQwen2 };

// Splits `text` into consecutive pieces as a global regex match with the given pattern would
// (the "Isolated" split behaviour): appends (begin, end) byte offsets that cover all of `text`.
// Invalid UTF-8 bytes are single characters of no class (they group like punctuation).
void SplitByPattern(PatternKind kind, std::string_view text,
                    std::vector<std::pair<size_t, size_t>>* pieces);

}  // namespace turnwise::tokenizer_internal

#endif  // TURNWISE_AGENTS_INTERNAL_PRETOKENIZE_H_
