// Sharded safetensors saving (HF's model.safetensors.index.json layout), model folders from
// presets (`turnwise model init`) and their summary (`turnwise model inspect`).
#include "agents/model_io.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include "agents/safetensors.h"
#include "agents/transformer_lm.h"
#include "core/error.h"
#include "core/json.h"
#include "tests/agents/lm_test_util.h"
#include "tests/agents/model_test_util.h"

namespace turnwise {
namespace {

namespace fs = std::filesystem;
using testing_util::RandomizeWeights;
using testing_util::TempDir;

class ThreadsEnv : public ::testing::Environment {
 public:
  void SetUp() override { at::set_num_threads(1); }
};
const auto* const kEnv = ::testing::AddGlobalTestEnvironment(new ThreadsEnv);

std::vector<std::string> Listing(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

bool SameWeights(TransformerLMImpl& a, TransformerLMImpl& b) {
  auto wa = a.NamedWeights(), wb = b.NamedWeights();
  if (wa.size() != wb.size()) return false;
  for (size_t i = 0; i < wa.size(); ++i) {
    if (wa[i].first != wb[i].first || !at::equal(wa[i].second, wb[i].second)) return false;
  }
  return true;
}

TEST(ShardedSafetensors, SplitsInOrderAtTheLimitAndWritesHfIndex) {
  fs::path dir = TempDir("shards");
  // 4 float tensors of 400, 400, 1200 (bigger than the limit) and 100 bytes, limit 1000 bytes:
  // [a, b] 800 | [c] alone | [d].
  std::vector<std::pair<std::string, at::Tensor>> t = {
      {"a", at::arange(100, at::kFloat)},
      {"b", at::arange(100, at::kFloat) * 2},
      {"c", at::ones({10, 30}, at::kFloat)},
      {"d", at::arange(25, at::kFloat)}};
  auto written = SaveShardedSafetensors(dir.string(), t, 1000);
  EXPECT_EQ(written, (std::vector<std::string>{"model-00001-of-00003.safetensors",
                                               "model-00002-of-00003.safetensors",
                                               "model-00003-of-00003.safetensors",
                                               "model.safetensors.index.json"}));
  Json index = ReadJsonFile((dir / "model.safetensors.index.json").string());
  EXPECT_EQ(index["metadata"]["total_size"].get<int64_t>(), 400 + 400 + 1200 + 100);
  EXPECT_EQ(index["weight_map"]["a"], "model-00001-of-00003.safetensors");
  EXPECT_EQ(index["weight_map"]["b"], "model-00001-of-00003.safetensors");
  EXPECT_EQ(index["weight_map"]["c"], "model-00002-of-00003.safetensors");
  EXPECT_EQ(index["weight_map"]["d"], "model-00003-of-00003.safetensors");
  SafetensorsCheckpoint ckpt = SafetensorsCheckpoint::Open(dir.string());
  EXPECT_EQ(ckpt.Names(), (std::vector<std::string>{"a", "b", "c", "d"}));
  for (const auto& [name, tensor] : t) {
    EXPECT_TRUE(at::equal(ckpt.FileOf(name).View(name), tensor)) << name;
  }
  fs::remove_all(dir);
}

TEST(ShardedSafetensors, ModelRoundTripIsBitIdenticalAndResavingRemovesStaleShards) {
  fs::path dir = TempDir("model_shards");
  TransformerLM model(testing_util::Qwen2Config());
  RandomizeWeights(*model, 21);
  SavePretrained(model, dir.string(), /*max_shard_bytes=*/20000);
  std::vector<std::string> files = Listing(dir);
  const auto shards = std::count_if(files.begin(), files.end(), [](const std::string& f) {
    return f.find("-of-") != std::string::npos;
  });
  EXPECT_GE(shards, 3);
  EXPECT_EQ(std::count(files.begin(), files.end(), "model.safetensors"), 0);
  TransformerLM back = LoadPretrained(dir.string());
  EXPECT_TRUE(SameWeights(*model, *back));

  // Unsharded save over it: one file, the shards and the index are gone.
  SavePretrained(model, dir.string());
  EXPECT_EQ(Listing(dir), (std::vector<std::string>{"config.json", "model.safetensors"}));
  TransformerLM again = LoadPretrained(dir.string());
  EXPECT_TRUE(SameWeights(*model, *again));
  fs::remove_all(dir);
}

TEST(ShardedSafetensors, ParsesHfSizeStrings) {
  EXPECT_EQ(ParseByteSize("5GB"), 5000000000ull);
  EXPECT_EQ(ParseByteSize("500mb"), 500000000ull);
  EXPECT_EQ(ParseByteSize("64KiB"), 65536ull);
  EXPECT_EQ(ParseByteSize("1024"), 1024ull);
  EXPECT_EQ(ParseByteSize("0"), 0ull);
  EXPECT_THROW(ParseByteSize("big"), InvalidArgument);
  EXPECT_THROW(ParseByteSize("5 TB"), InvalidArgument);
}

TEST(ModelFolder, InitWritesAnHfFolderThatLoadsAndInspects) {
  fs::path dir = TempDir("init");
  fs::path tok_path = dir / "tok.json";
  Tokenizer tok = testing_util::TinyHouseholdTokenizer(400);
  tok.Save(tok_path.string());
  ModelInitOptions o;
  o.preset = "tiny";
  o.tokenizer_path = tok_path.string();
  o.out_dir = (dir / "model").string();
  o.max_shard_size = "1MB";
  InitModelFolder(o);

  ModelFolderSummary s = InspectModelFolder(o.out_dir);
  EXPECT_EQ(s.config.hidden_size, 128);
  EXPECT_EQ(s.config.vocab_size, tok.VocabSize());
  EXPECT_EQ(s.checkpoint_parameters, s.config.NumParameters());
  EXPECT_GE(s.weight_files.size(), 2u);  // ~0.8M float32 parameters over 1 MB shards
  EXPECT_EQ(s.dtypes, (std::vector<std::string>{"F32"}));
  EXPECT_TRUE(s.has_tokenizer);
  EXPECT_EQ(s.tokenizer_vocab, tok.VocabSize());
  EXPECT_EQ(s.tokenizer_special,
            (std::vector<std::string>{"<|endoftext|>", "<|im_start|>", "<|im_end|>"}));
  EXPECT_TRUE(s.warnings.empty());
  EXPECT_EQ(s.tensors.size(), static_cast<size_t>(2 + 4 * 12));  // embed + norm + 4 x 12 (qkv biases)

  // The folder is a working lm policy checkpoint.
  EXPECT_NO_THROW(LmPolicy::Load({.checkpoint = o.out_dir}));
  // Never overwrites a model.
  EXPECT_THROW(InitModelFolder(o), FailedPrecondition);
  o.out_dir = (dir / "other").string();
  o.preset = "huge";
  EXPECT_THROW(InitModelFolder(o), NotFound);
  fs::remove_all(dir);
}

TEST(ModelFolder, InspectNamesWhatIsMissing) {
  fs::path dir = TempDir("inspect_missing");
  EXPECT_THROW(InspectModelFolder((dir / "nope").string()), NotFound);
  EXPECT_THROW(InspectModelFolder(dir.string()), NotFound);  // no config.json
  fs::remove_all(dir);
}

// The commands end to end through the built binary.
std::pair<int, std::string> RunCommand(const std::string& args) {
  const std::string cmd = std::string(TURNWISE_BINARY) + " " + args + " 2>&1";
  FILE* p = ::popen(cmd.c_str(), "r");
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  int status = ::pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

TEST(ModelCommand, InitAndInspect) {
  if (!fs::exists(TURNWISE_BINARY)) GTEST_SKIP() << "turnwise binary not built";
  fs::path dir = TempDir("cli");
  testing_util::TinyHouseholdTokenizer(400).Save((dir / "tok.json").string());
  auto [code, out] = RunCommand("model init --preset tiny --tokenizer " + (dir / "tok.json").string() +
                                " --out " + (dir / "m").string());
  ASSERT_EQ(code, 0) << out;
  EXPECT_NE(out.find("4 layers, hidden 128"), std::string::npos) << out;
  auto [code2, out2] = RunCommand("model inspect --all " + (dir / "m").string());
  ASSERT_EQ(code2, 0) << out2;
  EXPECT_NE(out2.find("model.layers.3.mlp.down_proj.weight"), std::string::npos) << out2;
  EXPECT_NE(out2.find("F32"), std::string::npos);
  EXPECT_NE(out2.find("vocabulary"), std::string::npos);
  auto [code3, out3] = RunCommand("model inspect " + (dir / "missing").string());
  EXPECT_EQ(code3, 1);
  EXPECT_NE(out3.find("does not exist"), std::string::npos) << out3;
  fs::remove_all(dir);
}

}  // namespace
}  // namespace turnwise
