// Unit tests of ModelConfig, safetensors I/O and TransformerLM forward semantics.
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "agents/model_config.h"
#include "agents/safetensors.h"
#include "agents/transformer_lm.h"
#include "core/error.h"
#include "core/json.h"
#include "tests/agents/model_test_util.h"

namespace turnwise {
namespace {

using ::testing::HasSubstr;
using testing_util::LlamaGqaConfig;
using testing_util::Qwen2Config;
using testing_util::RandomizeWeights;
using testing_util::TempDir;
namespace fs = std::filesystem;

class ModelEnv : public ::testing::Environment {
 public:
  void SetUp() override { at::set_num_threads(1); }
};
const auto* const kEnv = ::testing::AddGlobalTestEnvironment(new ModelEnv);

template <class E, class F>
std::string ErrorOf(F&& f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  }
  ADD_FAILURE() << "expected an exception";
  return "";
}

// A Qwen2.5-0.5B-like config.json as HF writes it.
const char* kQwenJson = R"({
  "architectures": ["Qwen2ForCausalLM"], "attention_dropout": 0.0, "bos_token_id": 151643,
  "eos_token_id": 151645, "hidden_act": "silu", "hidden_size": 896, "initializer_range": 0.02,
  "intermediate_size": 4864, "max_position_embeddings": 32768, "max_window_layers": 21,
  "model_type": "qwen2", "num_attention_heads": 14, "num_hidden_layers": 24,
  "num_key_value_heads": 2, "rms_norm_eps": 1e-06, "rope_theta": 1000000.0,
  "sliding_window": 32768, "tie_word_embeddings": true, "torch_dtype": "bfloat16",
  "transformers_version": "4.43.1", "use_cache": true, "use_sliding_window": false,
  "vocab_size": 151936})";

TEST(ModelConfig, ParsesHfQwen2Config) {
  ModelConfig c = ModelConfig::FromJson(ParseJson(kQwenJson));
  EXPECT_EQ(c.model_type, "qwen2");
  EXPECT_EQ(c.hidden_size, 896);
  EXPECT_EQ(c.head_dim, 64);  // default hidden / heads
  EXPECT_EQ(c.num_key_value_heads, 2);
  EXPECT_TRUE(c.QkvBias());
  EXPECT_FALSE(c.OutputBias());
  EXPECT_TRUE(c.tie_word_embeddings);
  EXPECT_DOUBLE_EQ(c.rope_theta, 1e6);
  ASSERT_EQ(c.eos_token_ids.size(), 1u);
  EXPECT_EQ(c.eos_token_ids[0], 151645);
  EXPECT_EQ(*c.bos_token_id, 151643);
  // Qwen2.5-0.5B has 494M parameters (tied).
  EXPECT_NEAR(static_cast<double>(c.NumParameters()), 494.0e6, 1.0e6);
}

TEST(ModelConfig, ParsesLlamaWithEosListAndLlama3Rope) {
  Json j = {{"model_type", "llama"},
            {"vocab_size", 1000},
            {"hidden_size", 64},
            {"intermediate_size", 128},
            {"num_hidden_layers", 2},
            {"num_attention_heads", 4},
            {"num_key_value_heads", 1},
            {"attention_bias", true},
            {"eos_token_id", {1, 2}},
            {"rope_scaling",
             {{"rope_type", "llama3"},
              {"factor", 32.0},
              {"low_freq_factor", 1.0},
              {"high_freq_factor", 4.0},
              {"original_max_position_embeddings", 8192}}}};
  ModelConfig c = ModelConfig::FromJson(j);
  EXPECT_TRUE(c.QkvBias());
  EXPECT_TRUE(c.OutputBias());
  EXPECT_EQ(c.eos_token_ids, (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(c.rope_scaling.type, RopeScaling::Type::kLlama3);
  EXPECT_DOUBLE_EQ(c.rope_scaling.factor, 32.0);
  // Round trip through ToJson.
  ModelConfig back = ModelConfig::FromJson(c.ToJson());
  EXPECT_EQ(back.rope_scaling.type, RopeScaling::Type::kLlama3);
  EXPECT_EQ(back.eos_token_ids, c.eos_token_ids);
  EXPECT_EQ(back.NumParameters(), c.NumParameters());
}

TEST(ModelConfig, RejectsUnsupportedValuesNamingTheKey) {
  Json j = ParseJson(kQwenJson);
  j["hidden_act"] = "gelu";
  EXPECT_THAT(ErrorOf<ConfigError>([&] { ModelConfig::FromJson(j); }),
              AllOf(HasSubstr("hidden_act"), HasSubstr("gelu"), HasSubstr("silu")));
  j = ParseJson(kQwenJson);
  j["rope_scaling"] = {{"type", "yarn"}, {"factor", 4.0}};
  EXPECT_THAT(ErrorOf<ConfigError>([&] { ModelConfig::FromJson(j); }),
              AllOf(HasSubstr("rope_scaling.type"), HasSubstr("yarn"), HasSubstr("llama3")));
  j = ParseJson(kQwenJson);
  j.erase("hidden_size");
  EXPECT_THAT(ErrorOf<ConfigError>([&] { ModelConfig::FromJson(j); }),
              AllOf(HasSubstr("hidden_size"), HasSubstr("missing")));
  j = ParseJson(kQwenJson);
  j["num_key_value_heads"] = 3;
  EXPECT_THAT(ErrorOf<ConfigError>([&] { ModelConfig::FromJson(j); }),
              HasSubstr("num_key_value_heads"));
  j = ParseJson(kQwenJson);
  j["model_type"] = "mistral";
  EXPECT_THAT(ErrorOf<ConfigError>([&] { ModelConfig::FromJson(j); }),
              AllOf(HasSubstr("mistral"), HasSubstr("qwen2")));
  j = ParseJson(kQwenJson);
  j["use_sliding_window"] = true;
  EXPECT_THAT(ErrorOf<ConfigError>([&] { ModelConfig::FromJson(j); }),
              HasSubstr("use_sliding_window"));
}

TEST(ModelConfig, SaveAndLoadRoundTrip) {
  fs::path dir = TempDir("config");
  ModelConfig c = ModelConfig::FromJson(ParseJson(kQwenJson));
  c.Save((dir / "config.json").string());
  ModelConfig back = ModelConfig::Load((dir / "config.json").string());
  EXPECT_EQ(DumpJson(back.ToJson()), DumpJson(c.ToJson()));
  EXPECT_EQ(ReadJsonFile((dir / "config.json").string())["architectures"][0], "Qwen2ForCausalLM");
  fs::remove_all(dir);
}

TEST(ModelConfig, PresetsHaveTheAdvertisedSizes) {
  EXPECT_NEAR(ModelConfig::Preset("tiny", 4096).NumParameters() / 1e6, 1.3, 0.3);
  EXPECT_NEAR(ModelConfig::Preset("small", 8192).NumParameters() / 1e6, 6.5, 1.5);
  EXPECT_NEAR(ModelConfig::Preset("base20m", 8192).NumParameters() / 1e6, 22.0, 3.0);
  EXPECT_EQ(ModelConfig::Preset("small", 777).vocab_size, 777);
  EXPECT_THAT(
      ErrorOf<NotFound>([] { ModelConfig::Preset("huge", 100); }),
      AllOf(HasSubstr("huge"), HasSubstr("tiny"), HasSubstr("small"), HasSubstr("base20m")));
}

TEST(TransformerLM, ParameterNamesAreHfNames) {
  TransformerLM qwen(Qwen2Config());
  std::vector<std::string> names;
  for (auto& [n, t] : qwen->NamedWeights()) names.push_back(n);
  EXPECT_THAT(names, ::testing::Contains("model.embed_tokens.weight"));
  EXPECT_THAT(names, ::testing::Contains("model.layers.2.self_attn.q_proj.bias"));
  EXPECT_THAT(names, ::testing::Contains("model.layers.0.mlp.down_proj.weight"));
  EXPECT_THAT(names, ::testing::Contains("model.layers.1.post_attention_layernorm.weight"));
  EXPECT_THAT(names, ::testing::Contains("model.norm.weight"));
  EXPECT_THAT(names, ::testing::Contains("lm_head.weight"));
  EXPECT_THAT(names, ::testing::Not(::testing::Contains("model.layers.0.self_attn.o_proj.bias")));
  int64_t total = 0;
  for (auto& [n, t] : qwen->NamedWeights()) total += t.numel();
  EXPECT_EQ(total, Qwen2Config().NumParameters());

  TransformerLM llama(LlamaGqaConfig());
  for (auto& [n, t] : llama->NamedWeights()) {
    EXPECT_NE(n, "lm_head.weight");
    EXPECT_EQ(n.find(".bias"), std::string::npos) << n;
  }
}

TEST(TransformerLM, CudaWithoutCudaIsAClearError) {
  if (at::hasCUDA()) GTEST_SKIP() << "CUDA available";
  TransformerLMOptions opt;
  opt.device = "cuda";
  EXPECT_THAT(ErrorOf<FailedPrecondition>([&] { TransformerLM m(LlamaGqaConfig(), opt); }),
              HasSubstr("no CUDA"));
  opt.device = "tpu";
  EXPECT_THAT(ErrorOf<InvalidArgument>([&] { TransformerLM m(LlamaGqaConfig(), opt); }),
              HasSubstr("tpu"));
  opt.device = "cpu";
  opt.dtype = "float16";
  EXPECT_THAT(ErrorOf<FailedPrecondition>([&] { TransformerLM m(LlamaGqaConfig(), opt); }),
              HasSubstr("bfloat16"));
  opt.dtype = "float8";
  EXPECT_THAT(ErrorOf<InvalidArgument>([&] { TransformerLM m(LlamaGqaConfig(), opt); }),
              HasSubstr("bfloat16"));
}

// The same prompt alone and left-padded in a batch gives the same logits at its positions.
TEST(TransformerLM, LeftPaddingDoesNotChangeLogits) {
  TransformerLM model(Qwen2Config());
  RandomizeWeights(*model, 3);
  at::NoGradGuard no_grad;
  at::Tensor alone = at::tensor(std::vector<int64_t>{5, 17, 3, 99, 42}).view({1, 5});
  at::Tensor ref = model->forward(alone);
  at::Tensor batch = at::tensor(std::vector<int64_t>{0, 0, 0, 5, 17, 3, 99, 42,  //
                                                     7, 8, 9, 10, 11, 12, 13, 14})
                         .view({2, 8});
  at::Tensor mask = at::tensor(std::vector<int64_t>{0, 0, 0, 1, 1, 1, 1, 1,  //
                                                    1, 1, 1, 1, 1, 1, 1, 1})
                        .view({2, 8});
  at::Tensor out = model->forward(batch, mask);
  EXPECT_TRUE(at::isfinite(out).all().item<bool>());
  const double diff = (out[0].narrow(0, 3, 5) - ref[0]).abs().max().item<double>();
  EXPECT_LT(diff, 1e-5);
  // Sanity: the logits are not trivially small.
  EXPECT_GT(ref.abs().max().item<double>(), 0.5);
}

TEST(TransformerLM, Bfloat16ForwardIsCloseToFloat32) {
  TransformerLM f32(LlamaGqaConfig());
  RandomizeWeights(*f32, 4);
  TransformerLMOptions opt;
  opt.dtype = "bfloat16";
  TransformerLM bf16(LlamaGqaConfig(), opt);
  {
    at::NoGradGuard no_grad;
    auto src = f32->NamedWeights();
    auto dst = bf16->NamedWeights();
    for (size_t i = 0; i < src.size(); ++i) dst[i].second.copy_(src[i].second);
  }
  EXPECT_EQ(bf16->dtype(), at::kBFloat16);
  at::NoGradGuard no_grad;
  at::Tensor ids = at::tensor(std::vector<int64_t>{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}).view({1, 10});
  at::Tensor a = f32->forward(ids);
  at::Tensor b = bf16->forward(ids);
  EXPECT_EQ(b.scalar_type(), at::kFloat);  // logits are always float32
  const double scale = a.abs().max().item<double>();
  const double diff = (a - b).abs().max().item<double>();
  EXPECT_GT(scale, 0.5);
  EXPECT_LT(diff, 0.08 * scale + 0.05) << "diff " << diff << " scale " << scale;
  // Same argmax almost everywhere.
  const double agree = a.argmax(-1).eq(b.argmax(-1)).to(at::kFloat).mean().item<double>();
  EXPECT_GE(agree, 0.8);
  // Left padding in bf16: the lowest-bf16 mask keeps every output finite, and the padded row
  // stays close to float32.
  at::Tensor padded = at::tensor(std::vector<int64_t>{0, 0, 1, 2, 3, 4, 5, 6, 7, 8}).view({1, 10});
  at::Tensor mask = at::tensor(std::vector<int64_t>{0, 0, 1, 1, 1, 1, 1, 1, 1, 1}).view({1, 10});
  at::Tensor pb = bf16->forward(padded, mask);
  at::Tensor pa = f32->forward(padded, mask);
  EXPECT_TRUE(at::isfinite(pb).all().item<bool>());
  EXPECT_LT((pa - pb).narrow(1, 2, 8).abs().max().item<double>(), 0.08 * scale + 0.05);
}

bool AllExactlyEqual(TransformerLMImpl& a, TransformerLMImpl& b) {
  auto wa = a.NamedWeights();
  auto wb = b.NamedWeights();
  if (wa.size() != wb.size()) return false;
  for (size_t i = 0; i < wa.size(); ++i) {
    if (wa[i].first != wb[i].first || !at::equal(wa[i].second, wb[i].second)) {
      ADD_FAILURE() << "differs: " << wa[i].first;
      return false;
    }
  }
  return true;
}

TEST(Safetensors, RoundTripIsBitIdentical) {
  for (const ModelConfig& config : {LlamaGqaConfig(), Qwen2Config()}) {
    fs::path dir = TempDir("roundtrip");
    TransformerLM model(config);
    RandomizeWeights(*model, 11);
    SavePretrained(model, dir.string());
    TransformerLM back = LoadPretrained(dir.string());
    EXPECT_TRUE(AllExactlyEqual(*model, *back));
    auto file = SafetensorsFile::Open((dir / "model.safetensors").string());
    EXPECT_EQ(file->metadata().at("format"), "pt");
    EXPECT_EQ(file->tensors().count("lm_head.weight"), config.tie_word_embeddings ? 0u : 1u);
    fs::remove_all(dir);
  }
}

TEST(Safetensors, BfloatAndHalfFilesLoadConverted) {
  TransformerLM model(Qwen2Config());
  RandomizeWeights(*model, 12);
  for (auto type : {at::kBFloat16, at::kHalf}) {
    fs::path dir = TempDir("halfs");
    std::vector<std::pair<std::string, at::Tensor>> tensors;
    for (auto& [n, t] : model->NamedWeights()) tensors.emplace_back(n, t.to(type));
    SaveSafetensors((dir / "model.safetensors").string(), tensors);
    auto file = SafetensorsFile::Open((dir / "model.safetensors").string());
    EXPECT_EQ(file->tensors().at("model.norm.weight").dtype, type == at::kHalf ? "F16" : "BF16");
    TransformerLMOptions opt;
    opt.init_weights = false;
    TransformerLM loaded(Qwen2Config(), opt);
    loaded->LoadWeights(dir.string());
    auto expect = model->NamedWeights();
    auto got = loaded->NamedWeights();
    for (size_t i = 0; i < got.size(); ++i) {
      EXPECT_TRUE(at::equal(got[i].second, expect[i].second.to(type).to(at::kFloat)))
          << got[i].first;
    }
    fs::remove_all(dir);
  }
}

TEST(Safetensors, ShardedCheckpointLoads) {
  TransformerLM model(LlamaGqaConfig());
  RandomizeWeights(*model, 13);
  fs::path dir = TempDir("sharded");
  model->config().Save((dir / "config.json").string());
  auto all = model->NamedWeights();
  std::vector<std::pair<std::string, at::Tensor>> a(all.begin(), all.begin() + 5),
      b(all.begin() + 5, all.end());
  SaveSafetensors((dir / "model-00001-of-00002.safetensors").string(), a);
  SaveSafetensors((dir / "model-00002-of-00002.safetensors").string(), b);
  Json index = {{"metadata", {{"total_size", 0}}}, {"weight_map", Json::object()}};
  for (auto& [n, t] : a) index["weight_map"][n] = "model-00001-of-00002.safetensors";
  for (auto& [n, t] : b) index["weight_map"][n] = "model-00002-of-00002.safetensors";
  std::ofstream(dir / "model.safetensors.index.json") << index.dump();
  TransformerLM back = LoadPretrained(dir.string());
  EXPECT_TRUE(AllExactlyEqual(*model, *back));
  fs::remove_all(dir);
}

class SafetensorsErrors : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = TempDir("errors");
    model_ = TransformerLM(Qwen2Config());
    weights_ = model_->NamedWeights();
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string Save(const std::vector<std::pair<std::string, at::Tensor>>& tensors) {
    std::string path = (dir_ / "model.safetensors").string();
    SaveSafetensors(path, tensors);
    return path;
  }
  std::string LoadError(const std::string& path) {
    TransformerLM m(Qwen2Config());
    return ErrorOf<Error>([&] { m->LoadWeights(path); });
  }
  fs::path dir_;
  TransformerLM model_{nullptr};
  std::vector<std::pair<std::string, at::Tensor>> weights_;
};

TEST_F(SafetensorsErrors, MissingTensorIsNamed) {
  auto w = weights_;
  w.erase(w.begin() + 3);
  EXPECT_THAT(LoadError(Save(w)), AllOf(HasSubstr("missing"), HasSubstr(weights_[3].first)));
}

TEST_F(SafetensorsErrors, UnexpectedTensorIsNamed) {
  auto w = weights_;
  w.emplace_back("model.layers.9.mlp.up_proj.weight", at::zeros({2, 2}));
  EXPECT_THAT(LoadError(Save(w)),
              AllOf(HasSubstr("unexpected"), HasSubstr("model.layers.9.mlp.up_proj.weight")));
  // Rotary buffers of old Llama checkpoints are tolerated.
  w.pop_back();
  w.emplace_back("model.layers.0.self_attn.rotary_emb.inv_freq", at::zeros({6}));
  TransformerLM m(Qwen2Config());
  EXPECT_NO_THROW(m->LoadWeights(Save(w)));
}

TEST_F(SafetensorsErrors, MisShapedTensorNamesBothShapes) {
  auto w = weights_;
  for (auto& [n, t] : w) {
    if (n == "model.layers.1.mlp.gate_proj.weight") t = at::zeros({96, 40});
  }
  EXPECT_THAT(LoadError(Save(w)), AllOf(HasSubstr("model.layers.1.mlp.gate_proj.weight"),
                                        HasSubstr("[96, 40]"), HasSubstr("[96, 48]")));
}

TEST_F(SafetensorsErrors, TruncatedAndCorruptFiles) {
  std::string path = Save(weights_);
  std::string bytes;
  {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    bytes = ss.str();
  }
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes.substr(0, bytes.size() - 100);
  EXPECT_THAT(LoadError(path), AllOf(HasSubstr("truncated"), HasSubstr("model.safetensors")));
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes.substr(0, 50);
  EXPECT_THAT(LoadError(path), HasSubstr("truncated"));
  std::ofstream(path, std::ios::binary | std::ios::trunc) << bytes.substr(0, 5);
  EXPECT_THAT(LoadError(path), HasSubstr("truncated"));
  std::string corrupt = bytes;
  corrupt[8] = '#';  // the JSON header's opening brace
  std::ofstream(path, std::ios::binary | std::ios::trunc) << corrupt;
  EXPECT_THAT(LoadError(path), HasSubstr("corrupt header"));
  EXPECT_THAT(LoadError((dir_ / "nope.safetensors").string()), HasSubstr("cannot open"));
}

}  // namespace
}  // namespace turnwise
