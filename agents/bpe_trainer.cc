#include "agents/bpe_trainer.h"

#include <algorithm>
#include <fstream>
#include <queue>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "agents/internal/byte_level.h"
#include "agents/internal/pretokenize.h"
#include "agents/internal/unicode.h"
#include "core/error.h"

namespace turnwise {
namespace {

using tokenizer_internal::PatternKind;

// Counts the distinct pre-tokens of the corpus, exactly as the encoder would split it.
class WordCounter {
 public:
  explicit WordCounter(const BpeTrainerOptions& options)
      : options_(options),
        kind_(options.pattern == PreTokenizerPattern::kGpt2 ? PatternKind::kGpt2
                                                            : PatternKind::kQwen2) {}

  void Add(std::string_view text) {
    // Split around special tokens (leftmost-longest, as the encoder does).
    size_t start = 0;
    for (size_t pos = 0; pos < text.size();) {
      size_t best = 0;
      for (const std::string& s : options_.special_tokens) {
        if (s.size() > best && text.compare(pos, s.size(), s) == 0) best = s.size();
      }
      if (best == 0) {
        ++pos;
        continue;
      }
      AddPlain(text.substr(start, pos - start));
      pos += best;
      start = pos;
    }
    AddPlain(text.substr(start));
  }

  const std::unordered_map<std::string, int64_t>& counts() const { return counts_; }

 private:
  void AddPlain(std::string_view text) {
    if (text.empty()) return;
    std::string normalized;
    if (options_.nfc && tokenizer_internal::ToNfc(text, &normalized)) text = normalized;
    spans_.clear();
    tokenizer_internal::SplitByPattern(kind_, text, &spans_);
    for (const auto& [b, e] : spans_) ++counts_[std::string(text.substr(b, e - b))];
  }

  const BpeTrainerOptions& options_;
  const PatternKind kind_;
  std::vector<std::pair<size_t, size_t>> spans_;
  std::unordered_map<std::string, int64_t> counts_;
};

uint64_t PairKey(int32_t a, int32_t b) {
  return (uint64_t{static_cast<uint32_t>(a)} << 32) | static_cast<uint32_t>(b);
}

class Trainer {
 public:
  Trainer(const BpeTrainerOptions& options, const std::unordered_map<std::string, int64_t>& words)
      : options_(options) {
    const auto k = static_cast<int32_t>(options.special_tokens.size());
    for (const std::string& s : options.special_tokens) token_bytes_.push_back(s);
    for (int b = 0; b < 256; ++b) {
      token_bytes_.push_back(std::string(1, static_cast<char>(b)));
      bytes_to_id_[token_bytes_.back()] = k + b;
    }
    // Words in a canonical order, so that nothing depends on hash iteration order.
    std::vector<std::pair<std::string, int64_t>> sorted(words.begin(), words.end());
    std::sort(sorted.begin(), sorted.end());
    for (const auto& [word, count] : sorted) {
      Word w;
      w.count = count;
      for (char c : word) w.symbols.push_back(k + static_cast<unsigned char>(c));
      words_.push_back(std::move(w));
    }
    for (size_t wi = 0; wi < words_.size(); ++wi) {
      const Word& w = words_[wi];
      for (size_t i = 0; i + 1 < w.symbols.size(); ++i) {
        const uint64_t key = PairKey(w.symbols[i], w.symbols[i + 1]);
        counts_[key] += w.count;
        where_[key].insert(static_cast<int32_t>(wi));
      }
    }
    for (const auto& [key, count] : counts_) queue_.push(Candidate{count, key, this});
  }

  void Run() {
    while (static_cast<int32_t>(token_bytes_.size()) < options_.vocab_size && !queue_.empty()) {
      Candidate top = queue_.top();
      queue_.pop();
      auto it = counts_.find(top.key);
      const int64_t current = it == counts_.end() ? 0 : it->second;
      if (current != top.count) {  // stale: counts only ever drop for existing pairs
        if (current > 0) queue_.push(Candidate{current, top.key, this});
        continue;
      }
      if (current < std::max<int64_t>(options_.min_frequency, 1)) break;
      Merge(top.key);
    }
  }

  // The tokenizer.json document.
  Json ToJson() const {
    const std::string pattern(PreTokenizerPatternSource(options_.pattern));
    Json added = Json::array();
    Json vocab = Json::object();
    for (size_t id = 0; id < token_bytes_.size(); ++id) {
      if (id < options_.special_tokens.size()) {
        added.push_back({{"id", id},
                         {"content", token_bytes_[id]},
                         {"single_word", false},
                         {"lstrip", false},
                         {"rstrip", false},
                         {"normalized", false},
                         {"special", true}});
        vocab[token_bytes_[id]] = id;
      } else {
        vocab[tokenizer_internal::BytesToByteLevel(token_bytes_[id])] = id;
      }
    }
    Json merges = Json::array();
    for (const auto& [a, b] : merges_) {
      merges.push_back(Json::array({tokenizer_internal::BytesToByteLevel(token_bytes_[a]),
                                    tokenizer_internal::BytesToByteLevel(token_bytes_[b])}));
    }
    const Json byte_level = {{"type", "ByteLevel"},
                             {"add_prefix_space", false},
                             {"trim_offsets", false},
                             {"use_regex", false}};
    Json doc = Json::object();
    doc["version"] = "1.0";
    doc["truncation"] = nullptr;
    doc["padding"] = nullptr;
    doc["added_tokens"] = std::move(added);
    doc["normalizer"] = options_.nfc ? Json{{"type", "NFC"}} : Json();
    doc["pre_tokenizer"] = {{"type", "Sequence"},
                            {"pretokenizers", Json::array({Json{{"type", "Split"},
                                                                {"pattern", {{"Regex", pattern}}},
                                                                {"behavior", "Isolated"},
                                                                {"invert", false}},
                                                           byte_level})}};
    doc["post_processor"] = byte_level;
    doc["decoder"] = byte_level;
    doc["model"] = {{"type", "BPE"},
                    {"dropout", nullptr},
                    {"unk_token", nullptr},
                    {"continuing_subword_prefix", ""},
                    {"end_of_word_suffix", ""},
                    {"fuse_unk", false},
                    {"byte_fallback", false},
                    {"ignore_merges", false},
                    {"vocab", std::move(vocab)},
                    {"merges", std::move(merges)}};
    return doc;
  }

 private:
  struct Word {
    std::vector<int32_t> symbols;
    int64_t count = 0;
  };
  // Heap order: higher count first; among equal counts the pair with the smaller left bytes,
  // then the smaller right bytes.
  struct Candidate {
    int64_t count;
    uint64_t key;
    const Trainer* trainer;
    bool operator<(const Candidate& o) const {
      if (count != o.count) return count < o.count;
      const std::string& al = trainer->token_bytes_[key >> 32];
      const std::string& bl = trainer->token_bytes_[o.key >> 32];
      if (al != bl) return al > bl;
      return trainer->token_bytes_[key & 0xFFFFFFFFu] > trainer->token_bytes_[o.key & 0xFFFFFFFFu];
    }
  };

  void Merge(uint64_t key) {
    const auto a = static_cast<int32_t>(key >> 32);
    const auto b = static_cast<int32_t>(key & 0xFFFFFFFFu);
    const std::string merged_bytes = token_bytes_[a] + token_bytes_[b];
    int32_t merged;
    auto existing = bytes_to_id_.find(merged_bytes);
    if (existing != bytes_to_id_.end()) {
      merged = existing->second;  // another pair already produced these bytes
    } else {
      merged = static_cast<int32_t>(token_bytes_.size());
      token_bytes_.push_back(merged_bytes);
      bytes_to_id_[merged_bytes] = merged;
    }
    merges_.emplace_back(a, b);

    std::set<uint64_t> touched;  // ordered: pushes happen in a deterministic order
    const std::unordered_set<int32_t> affected = std::move(where_[key]);
    where_.erase(key);
    std::vector<int32_t> sorted_affected(affected.begin(), affected.end());
    std::sort(sorted_affected.begin(), sorted_affected.end());
    for (int32_t wi : sorted_affected) {
      Word& w = words_[wi];
      std::vector<int32_t> next;
      next.reserve(w.symbols.size());
      bool changed = false;
      for (size_t i = 0; i < w.symbols.size(); ++i) {
        if (i + 1 < w.symbols.size() && w.symbols[i] == a && w.symbols[i + 1] == b) {
          next.push_back(merged);
          ++i;
          changed = true;
        } else {
          next.push_back(w.symbols[i]);
        }
      }
      if (!changed) continue;
      for (size_t i = 0; i + 1 < w.symbols.size(); ++i) {
        const uint64_t p = PairKey(w.symbols[i], w.symbols[i + 1]);
        auto it = counts_.find(p);
        it->second -= w.count;
        if (it->second == 0) counts_.erase(it);
      }
      for (size_t i = 0; i + 1 < next.size(); ++i) {
        const uint64_t p = PairKey(next[i], next[i + 1]);
        counts_[p] += w.count;
        where_[p].insert(wi);
        if (next[i] == merged || next[i + 1] == merged) touched.insert(p);
      }
      w.symbols = std::move(next);
    }
    for (uint64_t p : touched) {
      auto it = counts_.find(p);
      if (it != counts_.end()) queue_.push(Candidate{it->second, p, this});
    }
  }

  const BpeTrainerOptions& options_;
  std::vector<std::string> token_bytes_;  // raw bytes per id (special tokens: their content)
  std::unordered_map<std::string, int32_t> bytes_to_id_;
  std::vector<Word> words_;
  std::unordered_map<uint64_t, int64_t> counts_;
  std::unordered_map<uint64_t, std::unordered_set<int32_t>> where_;
  std::priority_queue<Candidate> queue_;
  std::vector<std::pair<int32_t, int32_t>> merges_;
};

void Validate(const BpeTrainerOptions& options) {
  std::set<std::string> seen;
  for (const std::string& s : options.special_tokens) {
    if (s.empty()) throw InvalidArgument("bpe trainer: special tokens must not be empty");
    if (!seen.insert(s).second) {
      throw InvalidArgument("bpe trainer: special token '" + s + "' is listed twice");
    }
  }
  const int64_t minimum = static_cast<int64_t>(options.special_tokens.size()) + 256;
  if (options.vocab_size < minimum) {
    throw InvalidArgument("bpe trainer: vocab_size " + std::to_string(options.vocab_size) +
                          " is smaller than the " + std::to_string(minimum) +
                          " tokens of the base alphabet and special tokens");
  }
}

Tokenizer Train(const WordCounter& counter, const BpeTrainerOptions& options) {
  Trainer trainer(options, counter.counts());
  trainer.Run();
  return Tokenizer::FromJson(trainer.ToJson(), "trained tokenizer");
}

}  // namespace

Tokenizer TrainBpeTokenizerOnTexts(const std::vector<std::string>& documents,
                                   const BpeTrainerOptions& options) {
  Validate(options);
  WordCounter counter(options);
  for (const std::string& d : documents) counter.Add(d);
  return Train(counter, options);
}

Tokenizer TrainBpeTokenizer(const std::vector<std::string>& corpus_paths,
                            const BpeTrainerOptions& options, const std::string& output_path) {
  Validate(options);
  WordCounter counter(options);
  constexpr size_t kChunk = 1 << 20;
  for (const std::string& path : corpus_paths) {
    std::ifstream in(path, std::ios::binary);
    if (!in) throw IoError("bpe trainer: cannot read corpus file '" + path + "'");
    std::string carry;
    std::string buffer(kChunk, '\0');
    while (in) {
      in.read(buffer.data(), static_cast<std::streamsize>(buffer.size()));
      carry.append(buffer.data(), static_cast<size_t>(in.gcount()));
      // Feed whole lines; keep the unfinished last line for the next chunk.
      const size_t cut = carry.rfind('\n');
      if (cut == std::string::npos) continue;
      counter.Add(std::string_view(carry).substr(0, cut + 1));
      carry.erase(0, cut + 1);
    }
    if (in.bad()) throw IoError("bpe trainer: error reading corpus file '" + path + "'");
    counter.Add(carry);
  }
  Tokenizer tokenizer = Train(counter, options);
  tokenizer.Save(output_path);
  return tokenizer;
}

}  // namespace turnwise
