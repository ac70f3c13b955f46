// The architecture of a decoder-only transformer (Llama / Qwen2 family), read from and written
// to a Hugging Face `config.json` with the same field names, plus presets for small models
// trained from scratch.
//
// This header is torch-free: code that only needs to read or validate a model config (the CLI,
// the trainer's config loader) includes it without paying for LibTorch headers.
//
// Supported `config.json` contents (anything else is rejected with a ConfigError naming the key):
//   model_type                 "llama" or "qwen2"
//   hidden_act                 "silu" only
//   attention_bias             llama: optional flag (q/k/v/o biases); qwen2: q/k/v always have a
//                              bias and o_proj never has one (the field is ignored)
//   head_dim                   optional, defaults to hidden_size / num_attention_heads
//   num_key_value_heads        optional, defaults to num_attention_heads (no GQA)
//   rope_scaling               null, {"rope_type"|"type": "default"}, "linear" (factor) or
//                              "llama3" (factor, low_freq_factor, high_freq_factor,
//                              original_max_position_embeddings); other types are rejected
//   use_sliding_window         must be false or absent (sliding-window attention is not
//                              implemented)
//   mlp_bias                   must be false or absent
// Fields Turnwise does not use (architectures, transformers_version, ...) are ignored on load
// and not written back.
#ifndef TURNWISE_AGENTS_MODEL_CONFIG_H_
#define TURNWISE_AGENTS_MODEL_CONFIG_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/json.h"

namespace turnwise {

// RoPE frequency scaling. kNone leaves inv_freq = 1 / theta^(2i/d) unchanged.
struct RopeScaling {
  enum class Type { kNone, kLinear, kLlama3 };
  Type type = Type::kNone;
  double factor = 1.0;
  // llama3 only.
  double low_freq_factor = 1.0;
  double high_freq_factor = 4.0;
  int64_t original_max_position_embeddings = 8192;
};

struct ModelConfig {
  std::string model_type = "qwen2";  // "llama" | "qwen2"
  int64_t vocab_size = 0;
  int64_t hidden_size = 0;
  int64_t intermediate_size = 0;
  int64_t num_hidden_layers = 0;
  int64_t num_attention_heads = 0;
  int64_t num_key_value_heads = 0;  // divides num_attention_heads
  int64_t head_dim = 0;             // per-head width of q, k and v
  int64_t max_position_embeddings = 2048;
  double rms_norm_eps = 1e-6;
  double rope_theta = 10000.0;
  RopeScaling rope_scaling;
  bool tie_word_embeddings = false;
  // Llama's flag: q/k/v/o projections have biases. For qwen2 use QkvBias()/OutputBias().
  bool attention_bias = false;
  std::string hidden_act = "silu";
  // dtype the checkpoint was saved in ("float32", "bfloat16", "float16"); informative only:
  // the runtime dtype is a separate option of TransformerLM.
  std::string torch_dtype = "float32";
  double initializer_range = 0.02;  // std of the normal init of freshly created weights
  std::optional<int64_t> bos_token_id;
  std::vector<int64_t> eos_token_ids;  // config.json's eos_token_id, an int or a list

  // Whether q_proj/k_proj/v_proj carry a bias (qwen2 always; llama when attention_bias).
  bool QkvBias() const { return model_type == "qwen2" || attention_bias; }
  // Whether o_proj carries a bias (llama with attention_bias only).
  bool OutputBias() const { return model_type == "llama" && attention_bias; }

  // Total number of parameters (tied embeddings counted once).
  int64_t NumParameters() const;
  // Parameters that take part in matrix multiplies per token: every linear layer including the
  // output projection (tied or not), excluding the embedding lookup and norms. Used for the
  // 6 * N * tokens FLOP estimate.
  int64_t NumMatmulParameters() const;

  // Throws ConfigError (key path = the offending field) when the config is inconsistent:
  // non-positive sizes, heads not dividing, unsupported activation, ...
  void Validate() const;

  // Parses a config.json object. Missing required fields and unsupported values throw
  // ConfigError naming the field; the result is Validate()d.
  static ModelConfig FromJson(const Json& json);
  // Reads `path` (a config.json file). IoError when unreadable, ConfigError as FromJson with
  // the path in the message.
  static ModelConfig Load(const std::string& path);

  // The HF-compatible config.json object (includes "architectures" for HF loaders).
  Json ToJson() const;
  // Writes ToJson() to `path`, pretty-printed. IoError on failure.
  void Save(const std::string& path) const;

  // Small architectures for from-scratch training; `vocab_size` comes from the tokenizer.
  //   "tiny"     hidden 128, 4 layers, 4 heads / 2 kv heads, ~0.7M non-embedding params
  //   "small"    hidden 256, 6 layers, 8 heads / 4 kv heads, ~4.4M non-embedding params
  //   "base20m"  hidden 512, 6 layers, 8 heads / 4 kv heads, ~17.7M non-embedding params
  // All are qwen2-type with tied embeddings, rope_theta 10000, max_position_embeddings 4096.
  // Unknown names throw NotFound listing the known ones.
  static ModelConfig Preset(const std::string& name, int64_t vocab_size);
  static std::vector<std::string> PresetNames();
};

}  // namespace turnwise

#endif  // TURNWISE_AGENTS_MODEL_CONFIG_H_
