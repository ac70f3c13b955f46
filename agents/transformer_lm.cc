#include "agents/transformer_lm.h"

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>

#include <cmath>
#include <filesystem>
#include <limits>
#include <set>

#include "agents/safetensors.h"
#include "core/error.h"

namespace turnwise {

namespace internal {

// y = x W^T + b with HF's parameter names ("weight" [out, in], "bias" [out]).
class LinearImpl : public torch::nn::Module {
 public:
  LinearImpl(int64_t in, int64_t out, bool bias, const at::TensorOptions& opt) {
    weight_ = register_parameter("weight", at::empty({out, in}, opt));
    if (bias) bias_ = register_parameter("bias", at::empty({out}, opt));
  }
  at::Tensor Forward(const at::Tensor& x) const { return at::linear(x, weight_, bias_); }
  const at::Tensor& weight() const { return weight_; }

 private:
  at::Tensor weight_;
  at::Tensor bias_;
};

class RmsNormImpl : public torch::nn::Module {
 public:
  RmsNormImpl(int64_t size, double eps, const at::TensorOptions& opt) : eps_(eps) {
    weight_ = register_parameter("weight", at::empty({size}, opt));
  }
  at::Tensor Forward(const at::Tensor& x) const {
    at::Tensor x32 = x.to(at::kFloat);
    at::Tensor var = x32.pow(2).mean(-1, /*keepdim=*/true);
    x32 = x32 * at::rsqrt(var + eps_);
    return weight_ * x32.to(x.scalar_type());
  }

 private:
  double eps_;
  at::Tensor weight_;
};

at::Tensor RotateHalf(const at::Tensor& x) {
  const int64_t half = x.size(-1) / 2;
  return at::cat({-x.narrow(-1, half, half), x.narrow(-1, 0, half)}, -1);
}

class AttentionImpl : public torch::nn::Module {
 public:
  AttentionImpl(const ModelConfig& c, const at::TensorOptions& opt)
      : num_heads_(c.num_attention_heads),
        num_kv_heads_(c.num_key_value_heads),
        head_dim_(c.head_dim),
        scale_(1.0 / std::sqrt(static_cast<double>(c.head_dim))) {
    const bool qkv_bias = c.QkvBias();
    q_proj_ = register_module("q_proj", std::make_shared<LinearImpl>(
                                            c.hidden_size, num_heads_ * head_dim_, qkv_bias, opt));
    k_proj_ = register_module(
        "k_proj",
        std::make_shared<LinearImpl>(c.hidden_size, num_kv_heads_ * head_dim_, qkv_bias, opt));
    v_proj_ = register_module(
        "v_proj",
        std::make_shared<LinearImpl>(c.hidden_size, num_kv_heads_ * head_dim_, qkv_bias, opt));
    o_proj_ = register_module(
        "o_proj",
        std::make_shared<LinearImpl>(num_heads_ * head_dim_, c.hidden_size, c.OutputBias(), opt));
  }

  // x [B, T, H]; cos/sin [B, 1, T, D]; mask: additive, in the model dtype, already grouped as
  // the scores below ([B * Hkv | 1, rep * T, S]) or undefined (attend everywhere).
  at::Tensor Forward(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin,
                     const at::Tensor& mask, KVCache* cache, int64_t layer) const {
    const int64_t b = x.size(0), t = x.size(1);
    at::Tensor q = q_proj_->Forward(x).view({b, t, num_heads_, head_dim_}).transpose(1, 2);
    at::Tensor k = k_proj_->Forward(x).view({b, t, num_kv_heads_, head_dim_}).transpose(1, 2);
    at::Tensor v = v_proj_->Forward(x).view({b, t, num_kv_heads_, head_dim_}).transpose(1, 2);
    q = q * cos + RotateHalf(q) * sin;
    k = k * cos + RotateHalf(k) * sin;
    if (cache) std::tie(k, v) = cache->Append(layer, k, v);
    const int64_t s = k.size(2);
    // Grouped-query attention without materialising repeated keys: the `rep` query heads that
    // share a key/value head are stacked along the time axis of one batched matmul. The
    // 1/sqrt(d) scale goes on q (T*d elements, not T*S) and the mask is added by the GEMM.
    const int64_t rep = num_heads_ / num_kv_heads_;
    at::Tensor qg = (q * scale_).reshape({b * num_kv_heads_, rep * t, head_dim_});
    at::Tensor kt = k.reshape({b * num_kv_heads_, s, head_dim_}).transpose(1, 2);
    at::Tensor scores = mask.defined() ? at::baddbmm(mask, qg, kt) : at::bmm(qg, kt);
    at::Tensor probs = scores.scalar_type() == at::kFloat
                           ? at::softmax(scores, -1)
                           : at::softmax(scores, -1, at::kFloat).to(scores.scalar_type());
    at::Tensor out = at::bmm(probs, v.reshape({b * num_kv_heads_, s, head_dim_}));
    out = out.view({b, num_heads_, t, head_dim_})
              .transpose(1, 2)
              .reshape({b, t, num_heads_ * head_dim_});
    return o_proj_->Forward(out);
  }

 private:
  int64_t num_heads_, num_kv_heads_, head_dim_;
  double scale_;
  std::shared_ptr<LinearImpl> q_proj_, k_proj_, v_proj_, o_proj_;
};

class MlpImpl : public torch::nn::Module {
 public:
  MlpImpl(const ModelConfig& c, const at::TensorOptions& opt) {
    gate_proj_ = register_module(
        "gate_proj", std::make_shared<LinearImpl>(c.hidden_size, c.intermediate_size, false, opt));
    up_proj_ = register_module(
        "up_proj", std::make_shared<LinearImpl>(c.hidden_size, c.intermediate_size, false, opt));
    down_proj_ = register_module(
        "down_proj", std::make_shared<LinearImpl>(c.intermediate_size, c.hidden_size, false, opt));
  }
  at::Tensor Forward(const at::Tensor& x) const {
    return down_proj_->Forward(at::silu(gate_proj_->Forward(x)) * up_proj_->Forward(x));
  }

 private:
  std::shared_ptr<LinearImpl> gate_proj_, up_proj_, down_proj_;
};

class DecoderLayerImpl : public torch::nn::Module {
 public:
  DecoderLayerImpl(const ModelConfig& c, const at::TensorOptions& opt) {
    self_attn_ = register_module("self_attn", std::make_shared<AttentionImpl>(c, opt));
    mlp_ = register_module("mlp", std::make_shared<MlpImpl>(c, opt));
    input_layernorm_ = register_module(
        "input_layernorm", std::make_shared<RmsNormImpl>(c.hidden_size, c.rms_norm_eps, opt));
    post_attention_layernorm_ =
        register_module("post_attention_layernorm",
                        std::make_shared<RmsNormImpl>(c.hidden_size, c.rms_norm_eps, opt));
  }
  at::Tensor Forward(const at::Tensor& x, const at::Tensor& cos, const at::Tensor& sin,
                     const at::Tensor& mask, KVCache* cache, int64_t layer) const {
    at::Tensor h =
        x + self_attn_->Forward(input_layernorm_->Forward(x), cos, sin, mask, cache, layer);
    return h + mlp_->Forward(post_attention_layernorm_->Forward(h));
  }

 private:
  std::shared_ptr<AttentionImpl> self_attn_;
  std::shared_ptr<MlpImpl> mlp_;
  std::shared_ptr<RmsNormImpl> input_layernorm_, post_attention_layernorm_;
};

// Children named "0", "1", ... so parameter names read "layers.<i>.…" as in HF checkpoints.
class LayerListImpl : public torch::nn::Module {
 public:
  LayerListImpl(const ModelConfig& c, const at::TensorOptions& opt) {
    for (int64_t i = 0; i < c.num_hidden_layers; ++i) {
      layers_.push_back(
          register_module(std::to_string(i), std::make_shared<DecoderLayerImpl>(c, opt)));
    }
  }
  const std::vector<std::shared_ptr<DecoderLayerImpl>>& layers() const { return layers_; }

 private:
  std::vector<std::shared_ptr<DecoderLayerImpl>> layers_;
};

class EmbeddingImpl : public torch::nn::Module {
 public:
  EmbeddingImpl(int64_t vocab, int64_t hidden, const at::TensorOptions& opt) {
    weight_ = register_parameter("weight", at::empty({vocab, hidden}, opt));
  }
  const at::Tensor& weight() const { return weight_; }

 private:
  at::Tensor weight_;
};

class DecoderImpl : public torch::nn::Module {
 public:
  DecoderImpl(const ModelConfig& c, const at::TensorOptions& opt) {
    embed_tokens_ = register_module(
        "embed_tokens", std::make_shared<EmbeddingImpl>(c.vocab_size, c.hidden_size, opt));
    layers_ = register_module("layers", std::make_shared<LayerListImpl>(c, opt));
    norm_ =
        register_module("norm", std::make_shared<RmsNormImpl>(c.hidden_size, c.rms_norm_eps, opt));
  }
  std::shared_ptr<EmbeddingImpl> embed_tokens_;
  std::shared_ptr<LayerListImpl> layers_;
  std::shared_ptr<RmsNormImpl> norm_;
};

}  // namespace internal

namespace {

std::string ShapeString(c10::IntArrayRef shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

// The most negative finite value of a floating dtype: masked scores get it (not -inf, so a fully
// masked row softmaxes to a uniform, finite distribution).
double LowestValue(at::ScalarType t) {
  switch (t) {
    case at::kBFloat16:
      return static_cast<double>(std::numeric_limits<c10::BFloat16>::lowest());
    case at::kHalf:
      return static_cast<double>(std::numeric_limits<c10::Half>::lowest());
    default:
      return static_cast<double>(std::numeric_limits<float>::lowest());
  }
}

std::string DtypeConfigName(at::ScalarType t) {
  switch (t) {
    case at::kFloat:
      return "float32";
    case at::kBFloat16:
      return "bfloat16";
    case at::kHalf:
      return "float16";
    default:
      return c10::toString(t);
  }
}

// inv_freq[i] = 1 / theta^(2i/d), computed in float32 like the HF reference, then scaled.
at::Tensor RopeInvFreq(const ModelConfig& c) {
  const int64_t d = c.head_dim;
  at::Tensor exponent = at::arange(0, d, 2, at::TensorOptions().dtype(at::kLong)).to(at::kFloat) /
                        static_cast<double>(d);
  at::Tensor inv_freq = 1.0 / at::pow(c.rope_theta, exponent);
  const RopeScaling& rs = c.rope_scaling;
  if (rs.type == RopeScaling::Type::kLinear) {
    inv_freq = inv_freq / rs.factor;
  } else if (rs.type == RopeScaling::Type::kLlama3) {
    // Long wavelengths are slowed down by `factor`, short ones kept, the band between blended.
    const double old_ctx = static_cast<double>(rs.original_max_position_embeddings);
    const double low_wavelen = old_ctx / rs.low_freq_factor;
    const double high_wavelen = old_ctx / rs.high_freq_factor;
    at::Tensor wavelen = 2.0 * M_PI / inv_freq;
    at::Tensor scaled = at::where(wavelen > low_wavelen, inv_freq / rs.factor, inv_freq);
    at::Tensor smooth =
        (old_ctx / wavelen - rs.low_freq_factor) / (rs.high_freq_factor - rs.low_freq_factor);
    at::Tensor blended = (1 - smooth) * scaled / rs.factor + smooth * scaled;
    at::Tensor medium = (wavelen >= high_wavelen).logical_and(wavelen <= low_wavelen);
    inv_freq = at::where(medium, blended, scaled);
  }
  return inv_freq.contiguous();
}

}  // namespace

at::Device ParseDevice(const std::string& device) {
  if (device == "cpu") return at::Device(at::kCPU);
  if (device == "cuda" || device.rfind("cuda:", 0) == 0) {
    if (!at::hasCUDA()) {
      throw FailedPrecondition("device '" + device +
                               "' requested but this LibTorch build has no CUDA support or no GPU "
                               "is visible; use device \"cpu\"");
    }
    try {
      return at::Device(device);
    } catch (const c10::Error&) {
      throw InvalidArgument("malformed device '" + device + "'; expected cpu, cuda or cuda:N");
    }
  }
  throw InvalidArgument(UnknownNameMessage("device", device, {"cpu", "cuda", "cuda:N"}));
}

at::ScalarType ParseDtype(const std::string& dtype) {
  if (dtype == "float32" || dtype == "fp32" || dtype == "float") return at::kFloat;
  if (dtype == "bfloat16" || dtype == "bf16") return at::kBFloat16;
  if (dtype == "float16" || dtype == "fp16" || dtype == "half") return at::kHalf;
  throw InvalidArgument(UnknownNameMessage("dtype", dtype, {"float32", "bfloat16", "float16"}));
}

KVCache::KVCache(const ModelConfig& config, int64_t batch, int64_t capacity, at::Device device,
                 at::ScalarType dtype)
    : batch_(batch), capacity_(capacity) {
  auto opt = at::TensorOptions().device(device).dtype(dtype);
  for (int64_t i = 0; i < config.num_hidden_layers; ++i) {
    keys_.push_back(at::empty({batch, config.num_key_value_heads, capacity, config.head_dim}, opt));
    values_.push_back(
        at::empty({batch, config.num_key_value_heads, capacity, config.head_dim}, opt));
  }
}

void KVCache::SelectRows(const at::Tensor& index) {
  for (auto* list : {&keys_, &values_}) {
    for (auto& t : *list) t = t.index_select(0, index.to(t.device()));
  }
  batch_ = index.size(0);
}

void KVCache::SetLength(int64_t length) {
  if (length < 0 || length > capacity_) {
    throw InvalidArgument("KV cache length " + std::to_string(length) + " outside [0, " +
                          std::to_string(capacity_) + "]");
  }
  length_ = length;
}

std::pair<at::Tensor, at::Tensor> KVCache::Append(int64_t layer, const at::Tensor& k,
                                                  const at::Tensor& v) {
  const int64_t t = k.size(2);
  if (length_ + t > capacity_) {
    throw InvalidArgument("KV cache full: " + std::to_string(length_) + " + " + std::to_string(t) +
                          " positions exceed capacity " + std::to_string(capacity_));
  }
  if (k.size(0) != batch_) {
    throw InvalidArgument("KV cache holds " + std::to_string(batch_) + " rows, input has " +
                          std::to_string(k.size(0)));
  }
  at::Tensor& keys = keys_[layer];
  at::Tensor& values = values_[layer];
  keys.narrow(2, length_, t).copy_(k);
  values.narrow(2, length_, t).copy_(v);
  return {keys.narrow(2, 0, length_ + t), values.narrow(2, 0, length_ + t)};
}

TransformerLMImpl::TransformerLMImpl(const ModelConfig& config, const TransformerLMOptions& options)
    : config_(config) {
  config_.Validate();
  auto opt =
      at::TensorOptions().device(ParseDevice(options.device)).dtype(ParseDtype(options.dtype));
  if (opt.device().is_cpu() && opt.dtype() == at::kHalf) {
    // LibTorch 1.13 has no CPU float16 matmul ("addmm_impl_cpu_" not implemented for 'Half').
    throw FailedPrecondition("dtype float16 is not supported on the CPU; use bfloat16 or float32");
  }
  model_ = register_module("model", std::make_shared<internal::DecoderImpl>(config_, opt));
  if (!config_.tie_word_embeddings) {
    lm_head_ = register_module("lm_head", std::make_shared<internal::LinearImpl>(
                                              config_.hidden_size, config_.vocab_size, false, opt));
  }
  inv_freq_ = RopeInvFreq(config_);
  if (options.init_weights) InitWeights(options.seed);
}

at::Device TransformerLMImpl::device() const { return model_->embed_tokens_->weight().device(); }
at::ScalarType TransformerLMImpl::dtype() const {
  return model_->embed_tokens_->weight().scalar_type();
}

KVCache TransformerLMImpl::NewCache(int64_t batch, int64_t capacity) const {
  return KVCache(config_, batch, capacity, device(), dtype());
}

at::Tensor TransformerLMImpl::ForwardHidden(const at::Tensor& input_ids,
                                            const at::Tensor& attention_mask,
                                            const at::Tensor& position_ids, KVCache* cache) {
  if (input_ids.dim() != 2) {
    throw InvalidArgument("input_ids must be [batch, time], got " + ShapeString(input_ids.sizes()));
  }
  const at::Device dev = device();
  const int64_t b = input_ids.size(0), t = input_ids.size(1);
  const int64_t past = cache ? cache->length() : 0;
  const int64_t s = past + t;
  at::Tensor mask_bool;
  if (attention_mask.defined()) {
    if (attention_mask.dim() != 2 || attention_mask.size(0) != b || attention_mask.size(1) != s) {
      throw InvalidArgument("attention_mask must be [" + std::to_string(b) + ", " +
                            std::to_string(s) + "] (batch, cached + new positions), got " +
                            ShapeString(attention_mask.sizes()));
    }
    mask_bool = attention_mask.to(dev).ne(0);
  }
  at::Tensor ids = input_ids.to(dev, at::kLong);
  at::Tensor pos;
  if (position_ids.defined()) {
    pos = position_ids.to(dev, at::kLong);
  } else if (mask_bool.defined()) {
    pos = (mask_bool.to(at::kLong).cumsum(-1) - 1).clamp_min(0).narrow(1, past, t);
  } else {
    pos = at::arange(past, s, at::TensorOptions().device(dev).dtype(at::kLong))
              .unsqueeze(0)
              .expand({b, t});
  }
  // Rotary tables [B, 1, T, D]: float32 angles, cast to the activation dtype as HF does.
  at::Tensor freqs = pos.to(at::kFloat).unsqueeze(-1) * inv_freq_.to(dev);
  at::Tensor emb = at::cat({freqs, freqs}, -1);
  at::Tensor cos = emb.cos().to(dtype()).unsqueeze(1);
  at::Tensor sin = emb.sin().to(dtype()).unsqueeze(1);

  // Additive mask, causal (key position <= query position) and padding, in the layout of the
  // grouped attention scores: [B * Hkv | 1, rep * T, S], the rep query heads of a kv head
  // stacked along time. Built once per call, shared by all layers.
  at::Tensor mask;
  if (t > 1 || mask_bool.defined()) {
    auto lopt = at::TensorOptions().device(dev).dtype(at::kLong);
    at::Tensor allowed =
        at::arange(s, lopt).unsqueeze(0).le(at::arange(past, s, lopt).unsqueeze(1));
    allowed = allowed.unsqueeze(0);                                                  // [1, T, S]
    if (mask_bool.defined()) allowed = allowed.logical_and(mask_bool.unsqueeze(1));  // [B, T, S]
    const int64_t kv = config_.num_key_value_heads;
    const int64_t rep = config_.num_attention_heads / kv;
    const int64_t rows = allowed.size(0);
    at::Tensor additive = at::zeros(allowed.sizes(), at::TensorOptions().device(dev).dtype(dtype()))
                              .masked_fill_(allowed.logical_not(), LowestValue(dtype()));
    if (rows == 1) {
      mask = additive.repeat({1, rep, 1});  // [1, rep * T, S]
    } else {
      mask = additive.unsqueeze(1)
                 .unsqueeze(1)
                 .expand({rows, kv, rep, t, s})
                 .reshape({rows * kv, rep * t, s});
    }
  }

  at::Tensor x = at::embedding(model_->embed_tokens_->weight(), ids);
  const auto& layers = model_->layers_->layers();
  for (size_t i = 0; i < layers.size(); ++i) {
    x = layers[i]->Forward(x, cos, sin, mask, cache, static_cast<int64_t>(i));
  }
  if (cache) cache->Advance(t);
  return model_->norm_->Forward(x);
}

at::Tensor TransformerLMImpl::Logits(const at::Tensor& hidden) {
  const at::Tensor& w = lm_head_ ? lm_head_->weight() : model_->embed_tokens_->weight();
  return at::linear(hidden, w).to(at::kFloat);
}

at::Tensor TransformerLMImpl::forward(const at::Tensor& input_ids, const at::Tensor& attention_mask,
                                      const at::Tensor& position_ids, KVCache* cache) {
  return Logits(ForwardHidden(input_ids, attention_mask, position_ids, cache));
}

std::vector<std::pair<std::string, at::Tensor>> TransformerLMImpl::NamedWeights() const {
  std::vector<std::pair<std::string, at::Tensor>> out;
  for (const auto& item : named_parameters(/*recurse=*/true))
    out.emplace_back(item.key(), item.value());
  return out;
}

void TransformerLMImpl::InitWeights(uint64_t seed) {
  at::NoGradGuard no_grad;
  at::Generator gen = at::detail::createCPUGenerator(seed);
  for (auto& [name, param] : NamedWeights()) {
    const bool is_norm =
        name.size() >= 11 && name.compare(name.size() - 11, 11, "norm.weight") == 0;
    const bool is_bias = name.size() >= 5 && name.compare(name.size() - 5, 5, ".bias") == 0;
    if (is_norm) {
      param.fill_(1.0);
    } else if (is_bias) {
      param.zero_();
    } else {
      at::Tensor w = at::empty(param.sizes(), at::TensorOptions().dtype(at::kFloat));
      w.normal_(0.0, config_.initializer_range, gen);
      param.copy_(w);
    }
  }
}

void TransformerLMImpl::LoadWeights(const std::string& path) {
  SafetensorsCheckpoint ckpt = SafetensorsCheckpoint::Open(path);
  auto weights = NamedWeights();
  std::set<std::string> expected;
  std::vector<std::string> missing, shape_errors;
  for (const auto& [name, param] : weights) {
    expected.insert(name);
    if (!ckpt.Contains(name)) {
      missing.push_back(name);
      continue;
    }
    const auto& info = ckpt.Info(name);
    if (param.sizes() != c10::IntArrayRef(info.shape)) {
      shape_errors.push_back("tensor '" + name + "' has shape " + ShapeString(info.shape) +
                             " in the checkpoint but the model expects " +
                             ShapeString(param.sizes()));
    }
  }
  std::vector<std::string> extra;
  for (const std::string& name : ckpt.Names()) {
    if (expected.count(name)) continue;
    const bool rotary = name.find("rotary_emb.inv_freq") != std::string::npos;
    const bool tied_head = name == "lm_head.weight" && config_.tie_word_embeddings;
    if (!rotary && !tied_head) extra.push_back(name);
  }
  if (!missing.empty() || !extra.empty() || !shape_errors.empty()) {
    auto list = [](const std::vector<std::string>& names) {
      std::string s;
      for (size_t i = 0; i < names.size() && i < 8; ++i)
        s += (i ? ", " : "") + ("'" + names[i] + "'");
      if (names.size() > 8) s += " and " + std::to_string(names.size() - 8) + " more";
      return s;
    };
    std::string msg = "checkpoint '" + ckpt.description() + "' does not match the model (" +
                      config_.model_type + ", " + std::to_string(config_.num_hidden_layers) +
                      " layers)";
    if (!missing.empty()) msg += "; missing tensors: " + list(missing);
    if (!extra.empty()) msg += "; unexpected tensors: " + list(extra);
    for (const auto& e : shape_errors) msg += "; " + e;
    throw InvalidArgument(msg);
  }
  at::NoGradGuard no_grad;
  for (auto& [name, param] : weights) ckpt.FileOf(name).CopyTo(name, param);
}

void TransformerLMImpl::SaveWeights(const std::string& path) const {
  SaveSafetensors(path, NamedWeights(), {{"format", "pt"}});
}

TransformerLM LoadPretrained(const std::string& dir, TransformerLMOptions options) {
  ModelConfig config = ModelConfig::Load((std::filesystem::path(dir) / "config.json").string());
  options.init_weights = false;
  TransformerLM model(config, options);
  model->LoadWeights(dir);
  return model;
}

void SavePretrained(TransformerLM& model, const std::string& dir, uint64_t max_shard_bytes) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) throw IoError("cannot create model directory '" + dir + "': " + ec.message());
  ModelConfig config = model->config();
  config.torch_dtype = DtypeConfigName(model->dtype());
  config.Save((std::filesystem::path(dir) / "config.json").string());
  SaveShardedSafetensors(dir, model->NamedWeights(), max_shard_bytes, {{"format", "pt"}});
}

}  // namespace turnwise
