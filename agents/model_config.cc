#include "agents/model_config.h"

#include <fstream>

#include "core/error.h"

namespace turnwise {
namespace {

int64_t RequireInt(const Json& j, const std::string& key) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) throw ConfigError(key, "missing required field");
  if (!it->is_number_integer()) {
    throw ConfigError(key, "expected an integer, got " + JsonTypeName(*it));
  }
  return it->get<int64_t>();
}

int64_t OptionalInt(const Json& j, const std::string& key, int64_t fallback) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  if (!it->is_number_integer()) {
    throw ConfigError(key, "expected an integer, got " + JsonTypeName(*it));
  }
  return it->get<int64_t>();
}

double OptionalDouble(const Json& j, const std::string& key, double fallback) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  if (!it->is_number()) throw ConfigError(key, "expected a number, got " + JsonTypeName(*it));
  return it->get<double>();
}

bool OptionalBool(const Json& j, const std::string& key, bool fallback) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  if (!it->is_boolean()) throw ConfigError(key, "expected a boolean, got " + JsonTypeName(*it));
  return it->get<bool>();
}

std::string OptionalString(const Json& j, const std::string& key, const std::string& fallback) {
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return fallback;
  if (!it->is_string()) throw ConfigError(key, "expected a string, got " + JsonTypeName(*it));
  return it->get<std::string>();
}

RopeScaling ParseRopeScaling(const Json& j) {
  RopeScaling scaling;
  auto it = j.find("rope_scaling");
  if (it == j.end() || it->is_null()) return scaling;
  if (!it->is_object()) {
    throw ConfigError("rope_scaling", "expected an object or null, got " + JsonTypeName(*it));
  }
  const Json& rs = *it;
  std::string type = OptionalString(rs, "rope_type", "");
  if (type.empty()) type = OptionalString(rs, "type", "default");
  try {
    if (type == "default") return scaling;
    if (type == "linear") {
      scaling.type = RopeScaling::Type::kLinear;
      scaling.factor = OptionalDouble(rs, "factor", 1.0);
    } else if (type == "llama3") {
      scaling.type = RopeScaling::Type::kLlama3;
      scaling.factor = OptionalDouble(rs, "factor", 8.0);
      scaling.low_freq_factor = OptionalDouble(rs, "low_freq_factor", 1.0);
      scaling.high_freq_factor = OptionalDouble(rs, "high_freq_factor", 4.0);
      scaling.original_max_position_embeddings =
          OptionalInt(rs, "original_max_position_embeddings", 8192);
    } else {
      throw ConfigError(
          "type", UnknownNameMessage("rope scaling type", type, {"default", "linear", "llama3"}));
    }
  } catch (const ConfigError& e) {
    throw e.Under("rope_scaling");
  }
  if (scaling.factor <= 0) throw ConfigError("rope_scaling.factor", "must be > 0");
  if (scaling.type == RopeScaling::Type::kLlama3 &&
      scaling.high_freq_factor <= scaling.low_freq_factor) {
    throw ConfigError("rope_scaling.high_freq_factor", "must be > low_freq_factor");
  }
  return scaling;
}

}  // namespace

int64_t ModelConfig::NumMatmulParameters() const {
  const int64_t q = hidden_size * num_attention_heads * head_dim;
  const int64_t kv = 2 * hidden_size * num_key_value_heads * head_dim;
  const int64_t o = num_attention_heads * head_dim * hidden_size;
  const int64_t mlp = 3 * hidden_size * intermediate_size;
  return num_hidden_layers * (q + kv + o + mlp) + vocab_size * hidden_size;
}

int64_t ModelConfig::NumParameters() const {
  int64_t n = NumMatmulParameters();
  if (!tie_word_embeddings) n += vocab_size * hidden_size;  // separate embedding table
  n += num_hidden_layers * 2 * hidden_size + hidden_size;   // norms
  if (QkvBias())
    n += num_hidden_layers * (num_attention_heads + 2 * num_key_value_heads) * head_dim;
  if (OutputBias()) n += num_hidden_layers * hidden_size;
  return n;
}

void ModelConfig::Validate() const {
  if (model_type != "llama" && model_type != "qwen2") {
    throw ConfigError("model_type",
                      UnknownNameMessage("model_type", model_type, {"llama", "qwen2"}));
  }
  if (hidden_act != "silu") {
    throw ConfigError("hidden_act", UnknownNameMessage("hidden_act", hidden_act, {"silu"}));
  }
  auto positive = [](int64_t v, const char* key) {
    if (v <= 0) throw ConfigError(key, "must be > 0, got " + std::to_string(v));
  };
  positive(vocab_size, "vocab_size");
  positive(hidden_size, "hidden_size");
  positive(intermediate_size, "intermediate_size");
  positive(num_hidden_layers, "num_hidden_layers");
  positive(num_attention_heads, "num_attention_heads");
  positive(num_key_value_heads, "num_key_value_heads");
  positive(head_dim, "head_dim");
  positive(max_position_embeddings, "max_position_embeddings");
  if (num_attention_heads % num_key_value_heads != 0) {
    throw ConfigError("num_key_value_heads", "must divide num_attention_heads (" +
                                                 std::to_string(num_attention_heads) + "), got " +
                                                 std::to_string(num_key_value_heads));
  }
  if (head_dim % 2 != 0) throw ConfigError("head_dim", "must be even for rotary embeddings");
  if (rms_norm_eps <= 0) throw ConfigError("rms_norm_eps", "must be > 0");
  if (rope_theta <= 0) throw ConfigError("rope_theta", "must be > 0");
  for (int64_t id : eos_token_ids) {
    if (id < 0 || id >= vocab_size) {
      throw ConfigError("eos_token_id",
                        "token id " + std::to_string(id) + " outside [0, vocab_size)");
    }
  }
}

ModelConfig ModelConfig::FromJson(const Json& j) {
  if (!j.is_object()) throw ConfigError("", "model config must be a JSON object");
  ModelConfig c;
  c.model_type = OptionalString(j, "model_type", "");
  if (c.model_type.empty()) throw ConfigError("model_type", "missing required field");
  if (c.model_type != "llama" && c.model_type != "qwen2") {
    throw ConfigError("model_type",
                      UnknownNameMessage("model_type", c.model_type, {"llama", "qwen2"}));
  }
  c.vocab_size = RequireInt(j, "vocab_size");
  c.hidden_size = RequireInt(j, "hidden_size");
  c.intermediate_size = RequireInt(j, "intermediate_size");
  c.num_hidden_layers = RequireInt(j, "num_hidden_layers");
  c.num_attention_heads = RequireInt(j, "num_attention_heads");
  c.num_key_value_heads = OptionalInt(j, "num_key_value_heads", c.num_attention_heads);
  c.head_dim = OptionalInt(j, "head_dim", 0);
  if (c.head_dim == 0 && c.num_attention_heads > 0) {
    if (c.hidden_size % c.num_attention_heads != 0) {
      throw ConfigError("head_dim",
                        "absent and hidden_size is not divisible by num_attention_heads");
    }
    c.head_dim = c.hidden_size / c.num_attention_heads;
  }
  c.max_position_embeddings = OptionalInt(j, "max_position_embeddings", 2048);
  c.rms_norm_eps = OptionalDouble(j, "rms_norm_eps", 1e-6);
  c.rope_theta = OptionalDouble(j, "rope_theta", 10000.0);
  c.rope_scaling = ParseRopeScaling(j);
  c.tie_word_embeddings = OptionalBool(j, "tie_word_embeddings", false);
  c.attention_bias = OptionalBool(j, "attention_bias", false);
  c.hidden_act = OptionalString(j, "hidden_act", "silu");
  c.torch_dtype = OptionalString(j, "torch_dtype", "float32");
  c.initializer_range = OptionalDouble(j, "initializer_range", 0.02);
  if (OptionalBool(j, "use_sliding_window", false)) {
    throw ConfigError("use_sliding_window", "sliding-window attention is not supported");
  }
  if (OptionalBool(j, "mlp_bias", false)) {
    throw ConfigError("mlp_bias", "MLP biases are not supported");
  }
  if (auto it = j.find("bos_token_id"); it != j.end() && !it->is_null()) {
    c.bos_token_id = RequireInt(j, "bos_token_id");
  }
  if (auto it = j.find("eos_token_id"); it != j.end() && !it->is_null()) {
    if (it->is_array()) {
      for (const Json& v : *it) {
        if (!v.is_number_integer()) throw ConfigError("eos_token_id", "expected integers");
        c.eos_token_ids.push_back(v.get<int64_t>());
      }
    } else {
      c.eos_token_ids.push_back(RequireInt(j, "eos_token_id"));
    }
  }
  c.Validate();
  return c;
}

ModelConfig ModelConfig::Load(const std::string& path) {
  Json j = ReadJsonFile(path);
  try {
    return FromJson(j);
  } catch (const ConfigError& e) {
    throw ConfigError(e.key_path(), path + ": " + e.detail());
  }
}

Json ModelConfig::ToJson() const {
  Json j = Json::object();
  j["architectures"] =
      Json::array({model_type == "llama" ? "LlamaForCausalLM" : "Qwen2ForCausalLM"});
  j["model_type"] = model_type;
  j["vocab_size"] = vocab_size;
  j["hidden_size"] = hidden_size;
  j["intermediate_size"] = intermediate_size;
  j["num_hidden_layers"] = num_hidden_layers;
  j["num_attention_heads"] = num_attention_heads;
  j["num_key_value_heads"] = num_key_value_heads;
  j["head_dim"] = head_dim;
  j["max_position_embeddings"] = max_position_embeddings;
  j["rms_norm_eps"] = rms_norm_eps;
  j["rope_theta"] = rope_theta;
  switch (rope_scaling.type) {
    case RopeScaling::Type::kNone:
      j["rope_scaling"] = nullptr;
      break;
    case RopeScaling::Type::kLinear:
      j["rope_scaling"] = {{"rope_type", "linear"}, {"factor", rope_scaling.factor}};
      break;
    case RopeScaling::Type::kLlama3:
      j["rope_scaling"] = {
          {"rope_type", "llama3"},
          {"factor", rope_scaling.factor},
          {"low_freq_factor", rope_scaling.low_freq_factor},
          {"high_freq_factor", rope_scaling.high_freq_factor},
          {"original_max_position_embeddings", rope_scaling.original_max_position_embeddings}};
      break;
  }
  j["tie_word_embeddings"] = tie_word_embeddings;
  if (model_type == "llama") j["attention_bias"] = attention_bias;
  if (model_type == "qwen2") j["use_sliding_window"] = false;
  j["hidden_act"] = hidden_act;
  j["torch_dtype"] = torch_dtype;
  j["initializer_range"] = initializer_range;
  if (bos_token_id) j["bos_token_id"] = *bos_token_id;
  if (eos_token_ids.size() == 1) {
    j["eos_token_id"] = eos_token_ids[0];
  } else if (!eos_token_ids.empty()) {
    j["eos_token_id"] = eos_token_ids;
  }
  return j;
}

void ModelConfig::Save(const std::string& path) const {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) throw IoError("cannot write model config '" + path + "'");
  out << DumpJson(ToJson(), 2) << "\n";
  if (!out.flush()) throw IoError("error writing model config '" + path + "'");
}

std::vector<std::string> ModelConfig::PresetNames() { return {"tiny", "small", "base20m"}; }

ModelConfig ModelConfig::Preset(const std::string& name, int64_t vocab_size) {
  ModelConfig c;
  c.model_type = "qwen2";
  c.vocab_size = vocab_size;
  c.tie_word_embeddings = true;
  c.max_position_embeddings = 4096;
  c.rope_theta = 10000.0;
  c.rms_norm_eps = 1e-6;
  if (name == "tiny") {
    c.hidden_size = 128;
    c.intermediate_size = 352;
    c.num_hidden_layers = 4;
    c.num_attention_heads = 4;
    c.num_key_value_heads = 2;
  } else if (name == "small") {
    c.hidden_size = 256;
    c.intermediate_size = 704;
    c.num_hidden_layers = 6;
    c.num_attention_heads = 8;
    c.num_key_value_heads = 4;
  } else if (name == "base20m") {
    c.hidden_size = 512;
    c.intermediate_size = 1408;
    c.num_hidden_layers = 6;
    c.num_attention_heads = 8;
    c.num_key_value_heads = 4;
  } else {
    throw NotFound(UnknownNameMessage("model preset", name, PresetNames()));
  }
  c.head_dim = c.hidden_size / c.num_attention_heads;
  try {
    c.Validate();
  } catch (const ConfigError& e) {
    throw InvalidArgument("model preset '" + name + "': " + e.detail());
  }
  return c;
}

}  // namespace turnwise
