// The BPE merge step: applies ranked merges to a sequence of symbol ids. Module-private.
#ifndef TURNWISE_AGENTS_INTERNAL_BPE_H_
#define TURNWISE_AGENTS_INTERNAL_BPE_H_

#include <cstddef>
#include <cstdint>
#include <vector>

namespace turnwise::tokenizer_internal {

// Ranked merge table: (left id, right id) -> (rank, merged id). Open addressing over a
// power-of-two table; lookups are the inner loop of encoding.
class MergeTable {
 public:
  struct Entry {
    uint64_t key = kEmpty;
    int32_t rank = 0;
    int32_t merged = 0;
  };

  // Adds a merge; a pair that is already present keeps its first (lowest) rank, as in HF.
  void Add(int32_t left, int32_t right, int32_t rank, int32_t merged);
  // The entry for (left, right), or nullptr.
  const Entry* Find(int32_t left, int32_t right) const {
    if (slots_.empty()) return nullptr;
    const uint64_t key = Key(left, right);
    for (size_t i = Hash(key) & mask_;; i = (i + 1) & mask_) {
      const Entry& e = slots_[i];
      if (e.key == key) return &e;
      if (e.key == kEmpty) return nullptr;
    }
  }
  size_t size() const { return size_; }

  // Merges `symbols` in place: repeatedly the pair of lowest rank, leftmost first among equal
  // ranks, until no adjacent pair has a merge. Picks the quadratic scan for short words and the
  // heap for long ones; both give identical results (tested).
  void Apply(std::vector<int32_t>* symbols) const;
  void ApplyByScan(std::vector<int32_t>* symbols) const;
  void ApplyByHeap(std::vector<int32_t>* symbols) const;

 private:
  static constexpr uint64_t kEmpty = ~uint64_t{0};
  static uint64_t Key(int32_t left, int32_t right) {
    return (uint64_t{static_cast<uint32_t>(left)} << 32) | static_cast<uint32_t>(right);
  }
  static size_t Hash(uint64_t key) {
    key ^= key >> 33;
    key *= 0xff51afd7ed558ccdULL;
    key ^= key >> 33;
    return static_cast<size_t>(key);
  }
  void Grow();

  std::vector<Entry> slots_;
  size_t mask_ = 0;
  size_t size_ = 0;
};

}  // namespace turnwise::tokenizer_internal

#endif  // TURNWISE_AGENTS_INTERNAL_BPE_H_
