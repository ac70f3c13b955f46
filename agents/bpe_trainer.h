// Trains a byte-level BPE tokenizer (GPT-2 / Qwen style) for small models and writes it as a
// Hugging Face tokenizer.json that HF `tokenizers`, transformers.js and turnwise::Tokenizer all
// read and encode identically.
//
// The produced file:
//   ids 0..k-1      the special tokens, in the order given (also listed in added_tokens with
//                   special=true, normalized=false, so they are matched before splitting);
//   ids k..k+255    the 256 single bytes, in byte order (the base alphabet: any input encodes);
//   ids k+256..     one per learned merge, in the order learned.
//   normalizer      null, or NFC when `nfc`;
//   pre_tokenizer   Sequence[Split(<pattern regex>, Isolated), ByteLevel(use_regex=false)];
//   post_processor, decoder  ByteLevel.
//
// Training: the corpus is split around special tokens (they never take part in merges),
// NFC-normalized if asked, pre-tokenized with the chosen pattern, and the distinct pre-tokens
// are counted. Then, repeatedly, the adjacent symbol pair with the highest total count is merged
// everywhere (left to right, non-overlapping within a word). Ties are broken
// deterministically: the pair whose left token's bytes are lexicographically smaller wins, then
// the smaller right token. Training stops when the vocabulary reaches `vocab_size`, when no pair
// occurs at least `min_frequency` times, or when no pairs are left — so a small corpus can give
// a smaller vocabulary than asked. The result depends only on the corpus and the options (not on
// thread count, hash order or platform). Single-threaded; memory grows with the number of
// distinct pre-tokens.
#ifndef TURNWISE_AGENTS_BPE_TRAINER_H_
#define TURNWISE_AGENTS_BPE_TRAINER_H_

#include <cstdint>
#include <string>
#include <vector>

#include "agents/tokenizer.h"

namespace turnwise {

struct BpeTrainerOptions {
  // Target size of the whole vocabulary: special tokens + 256 bytes + merges. Must be at least
  // special_tokens.size() + 256.
  int32_t vocab_size = 8192;
  // Tokens such as "<|endoftext|>", "<|im_start|>", "<|im_end|>"; non-empty and distinct.
  std::vector<std::string> special_tokens;
  // A pair is merged only if it occurs at least this many times (counting word frequencies).
  int64_t min_frequency = 2;
  PreTokenizerPattern pattern = PreTokenizerPattern::kQwen2;
  // Adds an NFC normalizer (as Qwen's files have) and trains on NFC text.
  bool nfc = false;
};

// Trains on in-memory documents. Throws InvalidArgument for bad options.
Tokenizer TrainBpeTokenizerOnTexts(const std::vector<std::string>& documents,
                                   const BpeTrainerOptions& options);

// Trains on the given UTF-8 text files (each read in chunks cut at line ends), writes the
// tokenizer.json to `output_path` and returns the tokenizer. Throws IoError naming a file that
// cannot be read or the output that cannot be written, InvalidArgument for bad options.
Tokenizer TrainBpeTokenizer(const std::vector<std::string>& corpus_paths,
                            const BpeTrainerOptions& options, const std::string& output_path);

}  // namespace turnwise

#endif  // TURNWISE_AGENTS_BPE_TRAINER_H_
