// `turnwise tokenizer train|encode`: byte-level BPE tokenizers for small from-scratch models.
#include <iostream>

#include "agents/bpe_trainer.h"
#include "agents/tokenizer.h"
#include "cli/commands.h"
#include "core/error.h"
#include "core/text.h"

namespace turnwise::cli {
namespace {

struct TrainOptions {
  std::vector<std::string> corpus;
  std::string out = "tokenizer.json";
  int32_t vocab_size = 8192;
  int64_t min_frequency = 2;
  std::vector<std::string> special = {"<|endoftext|>", "<|im_start|>", "<|im_end|>"};
  std::string pattern = "qwen2";
  bool nfc = false;
};

struct EncodeOptions_ {
  std::string tokenizer;
  std::string text;
};

}  // namespace

void AddTokenizerCommand(CLI::App& app) {
  CLI::App* tok = app.add_subcommand("tokenizer", "Train and try byte-level BPE tokenizers");
  tok->require_subcommand(1);

  auto t = std::make_shared<TrainOptions>();
  CLI::App* train = tok->add_subcommand(
      "train", "Train a byte-level BPE tokenizer on text files; writes an HF tokenizer.json");
  train->add_option("--corpus", t->corpus, "UTF-8 text files")->required();
  train->add_option("--out", t->out, "Output tokenizer.json")->capture_default_str();
  train->add_option("--vocab-size", t->vocab_size, "Special tokens + 256 bytes + merges")
      ->capture_default_str();
  train->add_option("--min-frequency", t->min_frequency, "Least count of a merged pair")
      ->capture_default_str();
  train->add_option("--special", t->special, "Special tokens (ids 0..k-1)")->capture_default_str();
  train->add_option("--pattern", t->pattern, "Pre-tokenizer split pattern: qwen2 or gpt2")
      ->capture_default_str();
  train->add_flag("--nfc", t->nfc, "Add an NFC normalizer");
  train->callback([t] {
    BpeTrainerOptions o;
    o.vocab_size = t->vocab_size;
    o.min_frequency = t->min_frequency;
    o.special_tokens = t->special;
    o.nfc = t->nfc;
    if (t->pattern == "qwen2") {
      o.pattern = PreTokenizerPattern::kQwen2;
    } else if (t->pattern == "gpt2") {
      o.pattern = PreTokenizerPattern::kGpt2;
    } else {
      throw InvalidArgument(UnknownNameMessage("pattern", t->pattern, {"qwen2", "gpt2"}));
    }
    Tokenizer tokenizer = TrainBpeTokenizer(t->corpus, o, t->out);
    std::cout << "wrote " << t->out << " (vocabulary " << tokenizer.VocabSize() << ")\n";
  });

  auto e = std::make_shared<EncodeOptions_>();
  CLI::App* encode = tok->add_subcommand("encode", "Print the token ids of a text");
  encode->add_option("--tokenizer", e->tokenizer, "tokenizer.json")->required();
  encode->add_option("text", e->text, "Text to encode")->required();
  encode->callback([e] {
    Tokenizer tokenizer = Tokenizer::FromFile(e->tokenizer);
    std::vector<int32_t> ids = tokenizer.Encode(e->text);
    std::string line;
    for (int32_t id : ids) {
      line += (line.empty() ? "" : " ") + std::to_string(id) + ":" + tokenizer.IdToToken(id);
    }
    std::cout << ids.size() << " tokens\n" << line << "\n";
  });
}

}  // namespace turnwise::cli
