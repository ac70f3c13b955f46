// Shared helpers for the model tests: small configs and weights that make every parameter
// matter (the default N(0, 0.02) init gives near-uniform logits that hide mistakes).
#ifndef TURNWISE_TESTS_AGENTS_MODEL_TEST_UTIL_H_
#define TURNWISE_TESTS_AGENTS_MODEL_TEST_UTIL_H_

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "agents/model_config.h"
#include "agents/transformer_lm.h"

namespace turnwise::testing_util {

// Llama, GQA 4 heads / 2 kv heads, tied embeddings.
inline ModelConfig LlamaGqaConfig() {
  ModelConfig c;
  c.model_type = "llama";
  c.vocab_size = 97;
  c.hidden_size = 64;
  c.intermediate_size = 112;
  c.num_hidden_layers = 2;
  c.num_attention_heads = 4;
  c.num_key_value_heads = 2;
  c.head_dim = 16;
  c.rms_norm_eps = 1e-5;
  c.rope_theta = 10000.0;
  c.tie_word_embeddings = true;
  c.attention_bias = false;
  c.max_position_embeddings = 256;
  return c;
}

// Qwen2 with q/k/v biases, untied lm_head, head_dim != hidden/heads.
inline ModelConfig Qwen2Config() {
  ModelConfig c;
  c.model_type = "qwen2";
  c.vocab_size = 131;
  c.hidden_size = 48;
  c.intermediate_size = 96;
  c.num_hidden_layers = 3;
  c.num_attention_heads = 6;
  c.num_key_value_heads = 2;
  c.head_dim = 12;
  c.rms_norm_eps = 1e-6;
  c.rope_theta = 1000000.0;
  c.tie_word_embeddings = false;
  c.max_position_embeddings = 256;
  return c;
}

// Linear weights N(0, 0.15), norm weights 1 + N(0, 0.2), biases N(0, 0.2); deterministic.
inline void RandomizeWeights(TransformerLMImpl& model, uint64_t seed) {
  at::NoGradGuard no_grad;
  at::Generator gen = at::detail::createCPUGenerator(seed);
  for (auto& [name, p] : model.NamedWeights()) {
    at::Tensor w = at::empty(p.sizes(), at::TensorOptions().dtype(at::kFloat));
    const bool norm = name.find("norm.weight") != std::string::npos;
    const bool bias = name.find(".bias") != std::string::npos;
    w.normal_(norm ? 1.0 : 0.0, norm || bias ? 0.2 : 0.15, gen);
    p.copy_(w);
  }
}

// A fresh empty directory under the system temp dir.
inline std::filesystem::path TempDir(const std::string& name) {
  auto dir = std::filesystem::temp_directory_path() /
             ("turnwise_model_test_" + std::to_string(::getpid()) + "_" + name);
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

}  // namespace turnwise::testing_util

#endif  // TURNWISE_TESTS_AGENTS_MODEL_TEST_UTIL_H_
