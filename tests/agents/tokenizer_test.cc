// Unit tests of the byte-level BPE tokenizer, its Unicode helpers, the BPE trainer and the
// ChatML template. Differential tests against the JavaScript reference are in
// tokenizer_parity_test.cc.
#include "agents/tokenizer.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "agents/bpe_trainer.h"
#include "agents/chat_template.h"
#include "agents/internal/bpe.h"
#include "agents/internal/pretokenize.h"
#include "agents/internal/unicode.h"
#include "core/error.h"

namespace turnwise {
namespace {

using tokenizer_internal::PatternKind;

std::vector<std::string> Split(PatternKind kind, std::string_view text) {
  std::vector<std::pair<size_t, size_t>> spans;
  tokenizer_internal::SplitByPattern(kind, text, &spans);
  std::vector<std::string> out;
  for (const auto& [b, e] : spans) out.emplace_back(text.substr(b, e - b));
  return out;
}

std::string Nfc(std::string_view text) {
  std::string out;
  return tokenizer_internal::ToNfc(text, &out) ? out : std::string(text);
}

TEST(PreTokenizer, Gpt2PatternSplitsLikeTheRegex) {
  using V = std::vector<std::string>;
  EXPECT_EQ(Split(PatternKind::kGpt2, "Hello world's  end\n"),
            (V{"Hello", " world", "'s", " ", " end", "\n"}));
  // Contractions are case-sensitive in GPT-2: 'T is punctuation + letter.
  EXPECT_EQ(Split(PatternKind::kGpt2, "DON'T don't"), (V{"DON", "'", "T", " don", "'t"}));
  EXPECT_EQ(Split(PatternKind::kGpt2, "abc123 45!?"), (V{"abc", "123", " 45", "!?"}));
  EXPECT_EQ(Split(PatternKind::kGpt2, "a   "), (V{"a", "   "}));
}

TEST(PreTokenizer, Qwen2PatternSplitsLikeTheRegex) {
  using V = std::vector<std::string>;
  EXPECT_EQ(Split(PatternKind::kQwen2, "DON'T abc123"), (V{"DON", "'T", " abc", "1", "2", "3"}));
  EXPECT_EQ(Split(PatternKind::kQwen2, "Hello\n\n  world"), (V{"Hello", "\n\n", " ", " world"}));
  EXPECT_EQ(Split(PatternKind::kQwen2, "x = (y);\r\n\tz"),
            (V{"x", " =", " (", "y", ");\r\n", "\tz"}));
  // Letters of any script.
  EXPECT_EQ(Split(PatternKind::kQwen2, "日本語 été"), (V{"日本語", " été"}));
}

TEST(PreTokenizer, InvalidUtf8BytesGroupLikePunctuation) {
  using V = std::vector<std::string>;
  EXPECT_EQ(Split(PatternKind::kQwen2, "ab\xff\xfe cd"), (V{"ab", "\xff\xfe", " cd"}));
}

TEST(Unicode, NfcComposesReordersAndKeepsStableText) {
  EXPECT_EQ(Nfc("e\xCC\x81"), "\xC3\xA9");     // e + U+0301 -> é
  EXPECT_EQ(Nfc("\xE2\x84\xAB"), "\xC3\x85");  // U+212B ANGSTROM SIGN -> Å
  EXPECT_EQ(Nfc("\xE1\x84\x92\xE1\x85\xA1\xE1\x86\xAB"), "\xED\x95\x9C");  // jamo -> 한
  // a + U+0308 + U+0323: reordered to a + U+0323 + U+0308, then ạ (U+1EA1) + U+0308.
  EXPECT_EQ(Nfc("a\xCC\x88\xCC\xA3"), "\xE1\xBA\xA1\xCC\x88");
  std::string unused;
  EXPECT_FALSE(tokenizer_internal::ToNfc("plain ASCII and \xC3\xA9t\xC3\xA9", &unused));
}

TEST(Unicode, LossyDecodingReplacesMaximalSubparts) {
  using tokenizer_internal::Utf8Lossy;
  const std::string r = "\xEF\xBF\xBD";
  EXPECT_EQ(Utf8Lossy("ok\xE4\xB8"
                      "a"),
            "ok" + r + "a");  // truncated 3-byte sequence: one
  EXPECT_EQ(Utf8Lossy("\xF0\x9F\x98"), r);
  EXPECT_EQ(Utf8Lossy("\xC0\x80"), r + r);          // overlong lead: each byte replaced
  EXPECT_EQ(Utf8Lossy("\xED\xA0\x80"), r + r + r);  // surrogate
  EXPECT_EQ(Utf8Lossy("\xF0\x9F\x98\x80"), "\xF0\x9F\x98\x80");
}

TEST(MergeTable, ScanAndHeapAgreeOnRandomWords) {
  std::mt19937 rng(7);
  tokenizer_internal::MergeTable table;
  // Symbols 0..9; merges create ids 100+ with random ranks and may chain.
  int32_t next_id = 100;
  std::vector<int32_t> ids;
  for (int32_t i = 0; i < 10; ++i) ids.push_back(i);
  for (int32_t rank = 0; rank < 80; ++rank) {
    const int32_t a = ids[rng() % ids.size()], b = ids[rng() % ids.size()];
    table.Add(a, b, rank, next_id);
    ids.push_back(next_id++);
  }
  for (int trial = 0; trial < 500; ++trial) {
    std::vector<int32_t> word(1 + rng() % 120);
    for (int32_t& s : word) s = static_cast<int32_t>(rng() % 10);
    std::vector<int32_t> by_scan = word, by_heap = word;
    table.ApplyByScan(&by_scan);
    table.ApplyByHeap(&by_heap);
    ASSERT_EQ(by_scan, by_heap) << "trial " << trial;
  }
}

TEST(BpeTrainer, LearnsHandComputedMergesInOrder) {
  BpeTrainerOptions options;
  options.vocab_size = 256 + 5;
  options.min_frequency = 1;
  Tokenizer t = TrainBpeTokenizerOnTexts({"aaabdaaabac"}, options);
  // a a (4), then a b (2) beats aa a (2) on the smaller left token, then aa ab (2), then the
  // count-1 ties: (a, c) < (aaab, ac) < (aaab, d) by bytes.
  const Json merges = t.ToJson()["model"]["merges"];
  ASSERT_EQ(merges.size(), 5u);
  EXPECT_EQ(merges[0], Json::array({"a", "a"}));
  EXPECT_EQ(merges[1], Json::array({"a", "b"}));
  EXPECT_EQ(merges[2], Json::array({"aa", "ab"}));
  EXPECT_EQ(merges[3], Json::array({"a", "c"}));
  EXPECT_EQ(merges[4], Json::array({"aaab", "ac"}));
  EXPECT_EQ(t.VocabSize(), 261);
  EXPECT_EQ(t.IdToToken(256), "aa");
  EXPECT_EQ(t.IdToToken(258), "aaab");
}

TEST(BpeTrainer, MinFrequencyStopsTrainingAndEncodingUsesMerges) {
  BpeTrainerOptions options;
  options.vocab_size = 1000;
  options.min_frequency = 2;
  Tokenizer t = TrainBpeTokenizerOnTexts({"aaabdaaabac"}, options);
  EXPECT_EQ(t.VocabSize(), 259);  // only the three pairs seen twice
  EXPECT_EQ(t.Encode("aaabdaaabac"), (std::vector<int32_t>{258, 'd', 258, 'a', 'c'}));
}

std::vector<std::string> SmallCorpus() {
  std::vector<std::string> docs;
  std::mt19937 rng(11);
  const std::vector<std::string> words = {"the",   "agent", "opens", "drawer", "takes", "apple",
                                          "DON'T", "42",    "x=1;",  "éclair", "日本",  "  "};
  for (int d = 0; d < 50; ++d) {
    std::string doc;
    for (int w = 0; w < 40; ++w) doc += words[rng() % words.size()] + (rng() % 5 ? " " : "\n");
    docs.push_back(doc);
  }
  return docs;
}

TEST(BpeTrainer, ReachesVocabSizeDeterministicallyWithSpecialTokens) {
  BpeTrainerOptions options;
  options.vocab_size = 300;
  options.special_tokens = {"<|endoftext|>", "<|im_start|>", "<|im_end|>"};
  const Tokenizer a = TrainBpeTokenizerOnTexts(SmallCorpus(), options);
  const Tokenizer b = TrainBpeTokenizerOnTexts(SmallCorpus(), options);
  EXPECT_EQ(a.VocabSize(), 300);
  EXPECT_EQ(DumpJson(a.ToJson()), DumpJson(b.ToJson()));
  EXPECT_EQ(a.RequireTokenId("<|im_start|>"), 1);
  EXPECT_TRUE(a.IsSpecialToken(2));
  std::vector<int32_t> expected = {2};
  a.EncodeAppend("the", &expected);
  EXPECT_EQ(a.Encode("<|im_end|>the"), expected);
  EXPECT_LT(a.Encode("the").size(), 3u);  // merges were learned for a frequent word
  // Special tokens as plain text when asked.
  EXPECT_GT(a.Encode("<|im_end|>", EncodeOptions{.match_added_tokens = false}).size(), 1u);
}

TEST(BpeTrainer, RejectsBadOptions) {
  BpeTrainerOptions options;
  options.vocab_size = 100;
  try {
    TrainBpeTokenizerOnTexts({"x"}, options);
    FAIL() << "expected InvalidArgument";
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("vocab_size 100"), std::string::npos) << e.what();
  }
  options.vocab_size = 300;
  options.special_tokens = {"<a>", "<a>"};
  EXPECT_THROW(TrainBpeTokenizerOnTexts({"x"}, options), InvalidArgument);
}

TEST(Tokenizer, ArbitraryBytesRoundTrip) {
  BpeTrainerOptions options;
  options.vocab_size = 400;
  options.special_tokens = {"<|im_end|>"};
  const Tokenizer t = TrainBpeTokenizerOnTexts(SmallCorpus(), options);
  std::mt19937 rng(3);
  for (int trial = 0; trial < 300; ++trial) {
    std::string bytes(rng() % 64, '\0');
    for (char& c : bytes) c = static_cast<char>(rng() % 256);
    if (trial % 3 == 0) bytes += "<|im_end|> the \r\n\xE6\x97\xA5";
    const std::vector<int32_t> ids = t.Encode(bytes);
    ASSERT_EQ(t.DecodeBytes(ids), bytes) << "trial " << trial;
    // Decode is the lossy, always-valid-UTF-8 view of the same bytes.
    ASSERT_EQ(t.Decode(ids), tokenizer_internal::Utf8Lossy(bytes));
  }
}

TEST(Tokenizer, SaveLoadGivesIdenticalEncodings) {
  BpeTrainerOptions options;
  options.vocab_size = 350;
  options.special_tokens = {"<|im_start|>", "<|im_end|>"};
  options.pattern = PreTokenizerPattern::kGpt2;
  options.nfc = true;
  const Tokenizer t = TrainBpeTokenizerOnTexts(SmallCorpus(), options);
  const std::string path =
      (std::filesystem::temp_directory_path() / "turnwise_tokenizer_test.json").string();
  t.Save(path);
  const Tokenizer loaded = Tokenizer::FromFile(path);
  std::filesystem::remove(path);
  // A checkpoint folder stands for its tokenizer.json; a folder without one is a clear error.
  const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / "turnwise_tokenizer_test_dir";
  std::filesystem::create_directories(dir);
  try {
    Tokenizer::FromFile(dir.string());
    FAIL() << "expected InvalidArgument";
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find("is a directory, not a JSON file"), std::string::npos)
        << e.what();
  }
  t.Save((dir / "tokenizer.json").string());
  const Tokenizer from_dir = Tokenizer::FromFile(dir.string());
  std::filesystem::remove_all(dir);
  EXPECT_EQ(from_dir.VocabSize(), t.VocabSize());
  for (const std::string& doc : SmallCorpus()) ASSERT_EQ(from_dir.Encode(doc), t.Encode(doc));
  EXPECT_EQ(loaded.Pattern(), PreTokenizerPattern::kGpt2);
  EXPECT_EQ(loaded.VocabSize(), t.VocabSize());
  for (const std::string& doc : SmallCorpus()) ASSERT_EQ(loaded.Encode(doc), t.Encode(doc));
}

TEST(Tokenizer, ConcurrentEncodingMatchesSequential) {
  const Tokenizer t = TrainBpeTokenizerOnTexts(SmallCorpus(), BpeTrainerOptions{.vocab_size = 400});
  const std::vector<std::string> docs = SmallCorpus();
  std::vector<std::vector<int32_t>> expected;
  for (const std::string& d : docs) expected.push_back(t.Encode(d));
  std::vector<int> failures(2, 0);
  std::vector<std::thread> threads;
  for (int k = 0; k < 2; ++k) {
    threads.emplace_back([&, k] {
      for (int rep = 0; rep < 20; ++rep) {
        for (size_t i = 0; i < docs.size(); ++i) failures[k] += t.Encode(docs[i]) != expected[i];
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures[0] + failures[1], 0);
}

Json MinimalDocument() {
  return ParseJson(R"({
    "added_tokens": [{"id": 3, "content": "<s>", "special": true, "normalized": false}],
    "normalizer": null,
    "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "use_regex": true},
    "post_processor": null,
    "decoder": {"type": "ByteLevel"},
    "model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": ["a b"]}
  })");
}

std::string LoadError(const Json& doc) {
  try {
    Tokenizer::FromJson(doc, "bad.json");
  } catch (const InvalidArgument& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(Tokenizer, LoadsMinimalFileWithBothMergeFormats) {
  Json doc = MinimalDocument();
  const Tokenizer t = Tokenizer::FromJson(doc);
  EXPECT_EQ(t.Encode("abab<s>"), (std::vector<int32_t>{2, 2, 3}));
  doc["model"]["merges"] = Json::array({Json::array({"a", "b"})});
  EXPECT_EQ(Tokenizer::FromJson(doc).Encode("ab"), (std::vector<int32_t>{2}));
  EXPECT_EQ(t.VocabSize(), 4);
  EXPECT_EQ(t.IdToToken(3), "<s>");
  EXPECT_FALSE(t.TokenId("zz").has_value());
  EXPECT_THROW(t.RequireTokenId("zz"), NotFound);
  EXPECT_THROW(t.DecodeBytes(std::vector<int32_t>{7}), InvalidArgument);
}

TEST(Tokenizer, BadFilesGiveErrorsNamingTheProblem) {
  Json doc = MinimalDocument();
  doc["model"]["type"] = "WordPiece";
  EXPECT_NE(LoadError(doc).find("model type 'WordPiece' is not supported"), std::string::npos)
      << LoadError(doc);

  doc = MinimalDocument();
  doc["pre_tokenizer"] = ParseJson(
      R"({"type": "Split", "pattern": {"Regex": "\\w+"}, "behavior": "Isolated",
          "invert": false})");
  EXPECT_NE(LoadError(doc).find("unsupported split regex '\\w+'"), std::string::npos)
      << LoadError(doc);

  doc = MinimalDocument();
  doc["model"]["merges"] = Json::array({"a c"});
  EXPECT_NE(LoadError(doc).find("model.merges[0]: token 'c' is not in the vocab"),
            std::string::npos)
      << LoadError(doc);

  doc = MinimalDocument();
  doc["normalizer"] = ParseJson(R"({"type": "NFKC"})");
  EXPECT_NE(LoadError(doc).find("normalizer type 'NFKC' is not supported"), std::string::npos);

  doc = MinimalDocument();
  doc.erase("model");
  EXPECT_NE(LoadError(doc).find("bad.json: (root).model: missing"), std::string::npos)
      << LoadError(doc);

  const std::string path =
      (std::filesystem::temp_directory_path() / "turnwise_malformed_tokenizer.json").string();
  { std::ofstream(path) << "{\"model\": {\"vocab\": "; }
  try {
    Tokenizer::FromFile(path);
    FAIL() << "expected InvalidArgument";
  } catch (const InvalidArgument& e) {
    EXPECT_NE(std::string(e.what()).find(path), std::string::npos) << e.what();
  }
  std::filesystem::remove(path);
  EXPECT_THROW(Tokenizer::FromFile("/nonexistent/tokenizer.json"), IoError);
}

TEST(ChatTemplate, RendersQwenChatML) {
  const std::vector<ChatMessage> messages = {
      {"system", "You are terse."}, {"user", "Hi"}, {"assistant", "Hello."}, {"user", "Bye"}};
  EXPECT_EQ(RenderChatML(messages, /*add_generation_prompt=*/true),
            "<|im_start|>system\nYou are terse.<|im_end|>\n"
            "<|im_start|>user\nHi<|im_end|>\n"
            "<|im_start|>assistant\nHello.<|im_end|>\n"
            "<|im_start|>user\nBye<|im_end|>\n"
            "<|im_start|>assistant\n");
  EXPECT_EQ(RenderChatML({{"user", ""}}, false), "<|im_start|>user\n<|im_end|>\n");
  EXPECT_EQ(RenderChatML({}, true), "<|im_start|>assistant\n");
  EXPECT_THROW(RenderChatML({{"us\ner", "x"}}, false), InvalidArgument);
  EXPECT_THROW(RenderChatML({{"", "x"}}, false), InvalidArgument);
}

}  // namespace
}  // namespace turnwise
