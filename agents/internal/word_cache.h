// Bounded, thread-safe cache from a pre-token's bytes to its BPE token ids. Module-private.
//
// Sharded by hash, one mutex per shard, so concurrent encoders rarely contend. Each shard holds
// at most capacity/kShards words; a full shard is cleared before the next insert (no per-hit
// LRU bookkeeping on the hot path; the frequent words of the current workload come back at
// once). Words longer than kMaxWordBytes are never cached.
#ifndef TURNWISE_AGENTS_INTERNAL_WORD_CACHE_H_
#define TURNWISE_AGENTS_INTERNAL_WORD_CACHE_H_

#include <array>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace turnwise::tokenizer_internal {

class WordCache {
 public:
  static constexpr size_t kShards = 16;
  static constexpr size_t kMaxWordBytes = 256;

  explicit WordCache(size_t capacity) : shard_capacity_(capacity / kShards + 1) {}

  // Appends the cached ids of `word` to *ids and returns true, or returns false on a miss.
  bool Lookup(std::string_view word, std::vector<int32_t>* ids) const {
    if (word.size() > kMaxWordBytes) return false;
    const size_t h = std::hash<std::string_view>()(word);
    Shard& shard = shards_[h % kShards];
    std::lock_guard<std::mutex> lock(shard.mutex);
    auto it = shard.words.find(word);
    if (it == shard.words.end()) return false;
    ids->insert(ids->end(), it->second.begin(), it->second.end());
    return true;
  }

  void Insert(std::string_view word, const int32_t* ids, size_t count) const {
    if (word.size() > kMaxWordBytes) return;
    const size_t h = std::hash<std::string_view>()(word);
    Shard& shard = shards_[h % kShards];
    std::lock_guard<std::mutex> lock(shard.mutex);
    if (shard.words.size() >= shard_capacity_) shard.words.clear();
    shard.words.emplace(std::string(word), std::vector<int32_t>(ids, ids + count));
  }

 private:
  struct Hash {
    using is_transparent = void;
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>()(s); }
  };
  struct Shard {
    std::mutex mutex;
    std::unordered_map<std::string, std::vector<int32_t>, Hash, std::equal_to<>> words;
  };
  const size_t shard_capacity_;
  mutable std::array<Shard, kShards> shards_;
};

}  // namespace turnwise::tokenizer_internal

#endif  // TURNWISE_AGENTS_INTERNAL_WORD_CACHE_H_
