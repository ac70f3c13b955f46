#include "agents/internal/bpe.h"

#include <climits>
#include <functional>
#include <queue>
#include <tuple>

namespace turnwise::tokenizer_internal {

void MergeTable::Grow() {
  std::vector<Entry> old = std::move(slots_);
  const size_t capacity = old.empty() ? 1024 : old.size() * 2;
  slots_.assign(capacity, Entry{});
  mask_ = capacity - 1;
  for (const Entry& e : old) {
    if (e.key == kEmpty) continue;
    size_t i = Hash(e.key) & mask_;
    while (slots_[i].key != kEmpty) i = (i + 1) & mask_;
    slots_[i] = e;
  }
}

void MergeTable::Add(int32_t left, int32_t right, int32_t rank, int32_t merged) {
  if ((size_ + 1) * 2 > slots_.size()) Grow();
  const uint64_t key = Key(left, right);
  size_t i = Hash(key) & mask_;
  while (slots_[i].key != kEmpty) {
    if (slots_[i].key == key) return;
    i = (i + 1) & mask_;
  }
  slots_[i] = Entry{key, rank, merged};
  ++size_;
}

void MergeTable::Apply(std::vector<int32_t>* symbols) const {
  // Short words (almost all of them) are cheapest with the allocation-free scan; the heap keeps
  // long runs (CJK text without spaces, long digit-free symbol runs) from going quadratic.
  if (symbols->size() <= 48) {
    ApplyByScan(symbols);
  } else {
    ApplyByHeap(symbols);
  }
}

void MergeTable::ApplyByScan(std::vector<int32_t>* symbols) const {
  std::vector<int32_t>& s = *symbols;
  while (s.size() > 1) {
    int32_t best_rank = INT32_MAX;
    size_t best_pos = 0;
    int32_t best_merged = 0;
    for (size_t i = 0; i + 1 < s.size(); ++i) {
      const Entry* e = Find(s[i], s[i + 1]);
      if (e != nullptr && e->rank < best_rank) {
        best_rank = e->rank;
        best_pos = i;
        best_merged = e->merged;
      }
    }
    if (best_rank == INT32_MAX) break;
    s[best_pos] = best_merged;
    s.erase(s.begin() + static_cast<std::ptrdiff_t>(best_pos) + 1);
  }
}

void MergeTable::ApplyByHeap(std::vector<int32_t>* symbols) const {
  std::vector<int32_t>& s = *symbols;
  const size_t n = s.size();
  if (n < 2) return;
  // Doubly linked list over positions; a merged-away position is marked dead (id -1).
  std::vector<int32_t> prev(n), next(n);
  for (size_t i = 0; i < n; ++i) {
    prev[i] = static_cast<int32_t>(i) - 1;
    next[i] = i + 1 < n ? static_cast<int32_t>(i + 1) : -1;
  }
  // (rank, left position, left id, right id): the ids detect stale entries.
  using Candidate = std::tuple<int32_t, int32_t, int32_t, int32_t>;
  std::priority_queue<Candidate, std::vector<Candidate>, std::greater<>> queue;
  auto push = [&](int32_t left) {
    if (left < 0 || next[left] < 0) return;
    const int32_t right = next[left];
    if (const Entry* e = Find(s[left], s[right])) queue.emplace(e->rank, left, s[left], s[right]);
  };
  for (size_t i = 0; i + 1 < n; ++i) push(static_cast<int32_t>(i));
  while (!queue.empty()) {
    const auto [rank, left, left_id, right_id] = queue.top();
    queue.pop();
    const int32_t right = next[left];
    if (s[left] != left_id || right < 0 || s[right] != right_id) continue;  // stale
    s[left] = Find(left_id, right_id)->merged;
    s[right] = -1;
    next[left] = next[right];
    if (next[right] >= 0) prev[next[right]] = left;
    push(prev[left]);
    push(left);
  }
  size_t out = 0;
  for (int32_t i = 0; i >= 0; i = next[i]) s[out++] = s[i];
  s.resize(out);
}

}  // namespace turnwise::tokenizer_internal
