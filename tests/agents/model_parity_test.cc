// Differential test: TransformerLM logits against the plain-PyTorch reference of HF Llama/Qwen2
// semantics (tests/agents/reference/hf_reference.py) on the same random weights, written by
// Turnwise as safetensors and read by the reference by hand. Needs /usr/bin/python3 with torch;
// skipped with the reason otherwise.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>

#include "agents/transformer_lm.h"
#include "core/json.h"
#include "tests/agents/model_test_util.h"

namespace turnwise {
namespace {

namespace fs = std::filesystem;
using testing_util::LlamaGqaConfig;
using testing_util::Qwen2Config;
using testing_util::RandomizeWeights;
using testing_util::TempDir;

const fs::path kSourceDir = TURNWISE_SOURCE_DIR;
const char* kPython = "/usr/bin/python3";

std::string PythonSkipReason() {
  if (!fs::exists(kPython)) return "/usr/bin/python3 not found";
  if (std::system("/usr/bin/python3 -c 'import torch' >/dev/null 2>&1") != 0) {
    return "torch is not importable by /usr/bin/python3 (install python3-torch)";
  }
  return "";
}

struct Batch {
  std::vector<std::vector<int64_t>> ids;
  std::vector<std::vector<int64_t>> mask;
};

// Runs the reference on `batch` and returns its logits [B, T, V].
at::Tensor ReferenceLogits(const fs::path& model_dir, const Batch& batch, int64_t vocab) {
  Json in = {{"input_ids", batch.ids}, {"attention_mask", batch.mask}};
  std::ofstream(model_dir / "input.json") << in.dump();
  const fs::path out = model_dir / "logits.f32";
  const std::string cmd = std::string(kPython) + " " +
                          (kSourceDir / "tests/agents/reference/hf_reference.py").string() +
                          " logits --model " + model_dir.string() + " --input " +
                          (model_dir / "input.json").string() + " --out " + out.string() + " 2>" +
                          (model_dir / "python.log").string();
  if (std::system(cmd.c_str()) != 0) {
    std::ifstream log(model_dir / "python.log");
    std::string text((std::istreambuf_iterator<char>(log)), {});
    ADD_FAILURE() << "reference failed: " << text;
    return {};
  }
  const int64_t b = batch.ids.size(), t = batch.ids[0].size();
  at::Tensor logits = at::empty({b, t, vocab}, at::TensorOptions().dtype(at::kFloat));
  std::ifstream f(out, std::ios::binary);
  f.read(static_cast<char*>(logits.data_ptr()), logits.numel() * 4);
  EXPECT_EQ(f.gcount(), logits.numel() * 4);
  return logits;
}

at::Tensor ToTensor(const std::vector<std::vector<int64_t>>& rows) {
  std::vector<int64_t> flat;
  for (const auto& r : rows) flat.insert(flat.end(), r.begin(), r.end());
  return at::tensor(flat).view(
      {static_cast<int64_t>(rows.size()), static_cast<int64_t>(rows[0].size())});
}

void CheckParity(const ModelConfig& config, const std::string& name) {
  at::set_num_threads(1);
  const std::string skip = PythonSkipReason();
  if (!skip.empty()) GTEST_SKIP() << skip;
  fs::path dir = TempDir("parity_" + name);
  TransformerLM model(config);
  RandomizeWeights(*model, 101);
  SavePretrained(model, dir.string());

  // Unpadded, and left-padded with different prompt lengths.
  const int64_t v = config.vocab_size;
  std::vector<Batch> batches;
  Batch plain;
  for (int64_t r = 0; r < 2; ++r) {
    std::vector<int64_t> row;
    for (int64_t i = 0; i < 13; ++i) row.push_back((r * 31 + i * 7 + 3) % v);
    plain.ids.push_back(row);
    plain.mask.push_back(std::vector<int64_t>(13, 1));
  }
  batches.push_back(plain);
  Batch padded;
  for (int64_t len : {11, 4, 8}) {
    std::vector<int64_t> row(11 - len, 0), mask(11 - len, 0);
    for (int64_t i = 0; i < len; ++i) {
      row.push_back((len * 13 + i * 5 + 1) % v);
      mask.push_back(1);
    }
    padded.ids.push_back(row);
    padded.mask.push_back(mask);
  }
  batches.push_back(padded);

  for (const Batch& batch : batches) {
    at::Tensor ref = ReferenceLogits(dir, batch, v);
    ASSERT_TRUE(ref.defined());
    at::NoGradGuard no_grad;
    at::Tensor ours = model->forward(ToTensor(batch.ids), ToTensor(batch.mask));
    at::Tensor real = ToTensor(batch.mask).ne(0).unsqueeze(-1).expand_as(ours);
    const double diff = (ours - ref).abs().masked_select(real).max().item<double>();
    const double scale = ref.abs().masked_select(real).max().item<double>();
    EXPECT_LE(diff, 1e-4) << name << ": max |logit diff| " << diff << " (max |logit| " << scale
                          << ")";
    EXPECT_GT(scale, 0.5) << "logits too small to make the comparison meaningful";
    ::testing::Test::RecordProperty(name + "_max_abs_diff", std::to_string(diff));
  }
  fs::remove_all(dir);
}

TEST(ModelParity, LlamaGqaTiedMatchesReference) {
  ASSERT_NO_FATAL_FAILURE(CheckParity(LlamaGqaConfig(), "llama_gqa_tied"));
}

TEST(ModelParity, Qwen2BiasUntiedMatchesReference) {
  ASSERT_NO_FATAL_FAILURE(CheckParity(Qwen2Config(), "qwen2_bias_untied"));
}

}  // namespace
}  // namespace turnwise
