#include "agents/internal/added_tokens.h"

#include <algorithm>

namespace turnwise::tokenizer_internal {

void AddedTokenTrie::Add(std::string_view content, int32_t index) {
  if (content.empty()) return;
  first_byte_[static_cast<unsigned char>(content[0])] = true;
  int32_t node = 0;
  for (char ch : content) {
    const auto byte = static_cast<unsigned char>(ch);
    auto& children = nodes_[node].children;
    auto it = std::lower_bound(children.begin(), children.end(), byte,
                               [](const auto& child, unsigned char b) { return child.first < b; });
    if (it != children.end() && it->first == byte) {
      node = it->second;
    } else {
      const auto next = static_cast<int32_t>(nodes_.size());
      children.insert(it, {byte, next});
      nodes_.emplace_back();  // invalidates `children`; not used below
      node = next;
    }
  }
  if (nodes_[node].index < 0) nodes_[node].index = index;
}

bool AddedTokenTrie::LongestAt(std::string_view text, size_t pos, Match* match) const {
  int32_t node = 0;
  bool found = false;
  for (size_t i = pos; i < text.size(); ++i) {
    const auto byte = static_cast<unsigned char>(text[i]);
    const auto& children = nodes_[node].children;
    auto it = std::lower_bound(children.begin(), children.end(), byte,
                               [](const auto& child, unsigned char b) { return child.first < b; });
    if (it == children.end() || it->first != byte) break;
    node = it->second;
    if (nodes_[node].index >= 0) {
      *match = Match{pos, i + 1, nodes_[node].index};
      found = true;
    }
  }
  return found;
}

}  // namespace turnwise::tokenizer_internal
