// Python's difflib.SequenceMatcher(None, a, b).ratio(), reproduced exactly for GiGPO's
// similarity-based anchor matching (verl-agent `are_similar`).
//
// The strings are compared as sequences of Unicode code points (UTF-8 decoded; an invalid byte
// becomes one code point of its own), as Python compares str. The ratio is 2*M / (|a| + |b|)
// where M is the total size of the matching blocks found by difflib's recursive longest-match
// search, including its "autojunk" heuristic: when |b| >= 200, elements of b that occur more
// than |b|/100 + 1 times are left out of the match seeds (but a match may still extend over
// them). Two empty strings have ratio 1. Not symmetric in general: argument order matters.
#ifndef TURNWISE_TRAINING_ADVANTAGES_INTERNAL_SEQUENCE_MATCHER_H_
#define TURNWISE_TRAINING_ADVANTAGES_INTERNAL_SEQUENCE_MATCHER_H_

#include <string>
#include <string_view>
#include <vector>

namespace turnwise::advantages_internal {

std::u32string DecodeUtf8Lossless(std::string_view text);

double SequenceMatcherRatio(std::string_view a, std::string_view b);

}  // namespace turnwise::advantages_internal

#endif  // TURNWISE_TRAINING_ADVANTAGES_INTERNAL_SEQUENCE_MATCHER_H_
