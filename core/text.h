// Small text utilities shared by every module: splitting, joining, trimming, edit distance,
// "did you mean" lookups and UTF-8 encoding. All functions are pure and thread-safe.
#ifndef TURNWISE_CORE_TEXT_H_
#define TURNWISE_CORE_TEXT_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace turnwise {

// Splits on every occurrence of `sep`; keeps empty pieces ("a..b" on '.' -> {"a", "", "b"}).
std::vector<std::string> Split(std::string_view text, char sep);

// Joins with `sep` between items.
std::string Join(const std::vector<std::string>& items, std::string_view sep);

// Removes leading and trailing ASCII whitespace.
std::string_view Trim(std::string_view text);

bool StartsWith(std::string_view text, std::string_view prefix);
bool EndsWith(std::string_view text, std::string_view suffix);

// Levenshtein distance (insert, delete, substitute, each cost 1), over bytes.
size_t EditDistance(std::string_view a, std::string_view b);

// The candidate closest to `name` by edit distance, if it is close enough to be a plausible typo
// (distance <= max(2, |name|/3); ties go to the earliest candidate), else the first candidate
// that extends or truncates `name` (names of 3+ characters). nullopt when none is.
std::optional<std::string> NearestName(std::string_view name,
                                       const std::vector<std::string>& candidates);

// Formats a byte count / duration / rate for humans: "1.5 MiB", "2m05s", "12.3k/s".
std::string HumanDuration(double seconds);
std::string HumanCount(double value);

// Appends the UTF-8 form (1-4 bytes) of `code_point` (at most U+10FFFF; surrogates are encoded
// as they are, as JSON's \u escapes of lone surrogates need).
void AppendUtf8(uint32_t code_point, std::string* out);

}  // namespace turnwise

#endif  // TURNWISE_CORE_TEXT_H_
