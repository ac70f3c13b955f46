// Finds added tokens ("<|im_start|>", "<think>", ...) in text: leftmost-longest matching over a
// byte trie, as HF's aho-corasick (LeftmostLongest) and transformers.js's trie splitter do.
// Module-private.
#ifndef TURNWISE_AGENTS_INTERNAL_ADDED_TOKENS_H_
#define TURNWISE_AGENTS_INTERNAL_ADDED_TOKENS_H_

#include <array>
#include <cstdint>
#include <string_view>
#include <utility>
#include <vector>

namespace turnwise::tokenizer_internal {

class AddedTokenTrie {
 public:
  AddedTokenTrie() : nodes_(1) { first_byte_.fill(false); }

  // Registers `content` (non-empty) under caller-defined `index`; a repeated content keeps the
  // first index.
  void Add(std::string_view content, int32_t index);
  bool empty() const { return nodes_.size() == 1; }

  struct Match {
    size_t begin = 0;
    size_t end = 0;
    int32_t index = -1;
  };
  // The longest token starting exactly at `pos`, if any.
  bool LongestAt(std::string_view text, size_t pos, Match* match) const;
  // True when any token could start with this byte (cheap pre-filter for scanning).
  bool MayStartWith(unsigned char byte) const { return first_byte_[byte]; }

 private:
  struct Node {
    std::vector<std::pair<unsigned char, int32_t>> children;  // sorted by byte
    int32_t index = -1;
  };
  std::vector<Node> nodes_;
  std::array<bool, 256> first_byte_;
};

}  // namespace turnwise::tokenizer_internal

#endif  // TURNWISE_AGENTS_INTERNAL_ADDED_TOKENS_H_
