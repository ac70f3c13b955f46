// TransformerLM: a decoder-only transformer with the Llama / Qwen2 architecture, as a LibTorch
// module whose parameter names are exactly the Hugging Face checkpoint names, so safetensors
// files move between Turnwise and HF transformers unchanged.
//
//   x = embed_tokens(ids)
//   for each layer:  x = x + o_proj(Attention(RoPE(q_proj(rms(x))), RoPE(k_proj(..)), v_proj(..)))
//                    x = x + down_proj(silu(gate_proj(rms(x))) * up_proj(rms(x)))
//   logits = lm_head(norm(x))            (lm_head shares embed_tokens.weight when tied)
//
// Semantics follow HF `LlamaForCausalLM` / `Qwen2ForCausalLM` (eager attention):
//  * RMSNorm computes in float32 and casts back to the input dtype before the weight multiply.
//  * RoPE uses the rotate-half convention, inv_freq[i] = 1 / theta^(2i / head_dim) (then the
//    configured scaling), cos/sin computed in float32 from position ids and cast to the
//    activation dtype; applied to q and k.
//  * Grouped-query attention: each key/value head serves num_heads / num_kv_heads query heads.
//    Scores are scaled by head_dim^-0.5, masked (causal + padding), softmaxed in float32.
//  * Masked positions get the dtype's lowest finite value (not -inf), so a query with nothing
//    to attend to (a left-padding position) gets a uniform, finite distribution instead of NaN.
//
// Padding: batched inputs are LEFT-padded. `attention_mask` [B, S] (S = cached length + new
// length; 1 = real token, 0 = padding) hides the padding keys; position ids default to
// cumsum(mask) - 1, so every row's first real token has position 0 whatever its padding.
// Outputs at padding positions are meaningless but finite.
//
// Devices and dtypes: options.device "cpu" or "cuda[:N]" (FailedPrecondition when this LibTorch
// has no CUDA or no GPU is visible), options.dtype "float32" | "bfloat16" | "float16" (float16
// only on CUDA: LibTorch 1.13 has no CPU half matmul; FailedPrecondition on the CPU).
//
// Thread safety: a module is not thread-safe for concurrent Forward calls that train; concurrent
// inference calls with separate KVCaches are fine (parameters are only read). LibTorch's
// NoGradGuard / InferenceMode are thread-local; generation sets them itself.
#ifndef TURNWISE_AGENTS_TRANSFORMER_LM_H_
#define TURNWISE_AGENTS_TRANSFORMER_LM_H_

#include <torch/nn/module.h>
#include <torch/nn/pimpl.h>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "agents/model_config.h"

namespace turnwise {

namespace internal {
class DecoderImpl;
class LinearImpl;
}  // namespace internal

// Runtime choices that are not part of the architecture.
struct TransformerLMOptions {
  std::string device = "cpu";     // "cpu", "cuda", "cuda:1"
  std::string dtype = "float32";  // "float32", "bfloat16", "float16"
  // Initialise weights from N(0, initializer_range) (norms 1, biases 0), deterministically from
  // `seed`. Set false when weights will be loaded anyway (they are then uninitialised memory).
  bool init_weights = true;
  uint64_t seed = 0;
};

// Parses a device string; FailedPrecondition for CUDA when unavailable, InvalidArgument for
// anything unknown.
at::Device ParseDevice(const std::string& device);
// Parses "float32" | "bfloat16" | "float16" (also "fp32", "bf16", "fp16"); InvalidArgument
// listing the known names otherwise.
at::ScalarType ParseDtype(const std::string& dtype);

// Keys and values of past positions, one pair per layer, preallocated for `capacity`
// positions: tensors [batch, num_key_value_heads, capacity, head_dim] in the model dtype.
// Forward appends the new positions and advances length(). Not thread-safe; one per sequence
// batch.
class KVCache {
 public:
  KVCache(const ModelConfig& config, int64_t batch, int64_t capacity, at::Device device,
          at::ScalarType dtype);
  int64_t batch() const { return batch_; }
  int64_t capacity() const { return capacity_; }
  int64_t length() const { return length_; }  // positions already stored

  // Reorders / selects rows (index: int64 [new_batch] on any device), e.g. to drop finished
  // sequences from a batch.
  void SelectRows(const at::Tensor& index);

  // Used by the model: stores `k`, `v` [B, Hkv, T, D] of layer `layer` at positions
  // [length, length + T) and returns views of all positions [B, Hkv, length + T, D].
  // InvalidArgument when capacity would be exceeded.
  std::pair<at::Tensor, at::Tensor> Append(int64_t layer, const at::Tensor& k, const at::Tensor& v);
  // Used by the model after all layers saw the new positions.
  void Advance(int64_t steps) { length_ += steps; }

  // The whole buffers of `layer`, [batch, num_key_value_heads, capacity, head_dim] (handles
  // sharing the storage: writing into them writes the cache). Positions >= length() hold
  // whatever was there. With SetLength, a caller loads keys and values computed earlier (the
  // episode layout carries each episode's cache from turn to turn this way).
  at::Tensor keys(int64_t layer) const { return keys_[static_cast<size_t>(layer)]; }
  at::Tensor values(int64_t layer) const { return values_[static_cast<size_t>(layer)]; }
  int64_t num_layers() const { return static_cast<int64_t>(keys_.size()); }
  // Declares positions [0, length) filled. InvalidArgument beyond the capacity.
  void SetLength(int64_t length);

 private:
  int64_t batch_;
  int64_t capacity_;
  int64_t length_ = 0;
  std::vector<at::Tensor> keys_;
  std::vector<at::Tensor> values_;
};

class TransformerLMImpl : public torch::nn::Module {
 public:
  // Creates the module on options.device in options.dtype. Throws ConfigError for an invalid
  // config and InvalidArgument / FailedPrecondition for bad options.
  explicit TransformerLMImpl(const ModelConfig& config, const TransformerLMOptions& options = {});

  const ModelConfig& config() const { return config_; }
  at::Device device() const;
  at::ScalarType dtype() const;

  // Final hidden states (after the last RMSNorm).
  //   input_ids       int64 [B, T]
  //   attention_mask  optional (undefined tensor = all ones), [B, S] with S = past + T, any
  //                   integer/bool dtype; 1 = attend, 0 = padding
  //   position_ids    optional int64 [B, T]; default cumsum(mask) - 1 over all S columns
  //                   (padding clamped to 0), or past + arange(T) without a mask
  //   cache           optional; keys/values of the new positions are appended, and past ones
  //                   attended to. Must have batch B and room for T more positions.
  // Returns [B, T, hidden_size] in the model dtype.
  at::Tensor ForwardHidden(const at::Tensor& input_ids, const at::Tensor& attention_mask = {},
                           const at::Tensor& position_ids = {}, KVCache* cache = nullptr);

  // lm_head over hidden states [..., hidden_size] -> float32 logits [..., vocab_size].
  at::Tensor Logits(const at::Tensor& hidden);

  // Logits(ForwardHidden(...)): float32 [B, T, vocab_size].
  at::Tensor forward(const at::Tensor& input_ids, const at::Tensor& attention_mask = {},
                     const at::Tensor& position_ids = {}, KVCache* cache = nullptr);

  // A cache sized for this model.
  KVCache NewCache(int64_t batch, int64_t capacity) const;

  // (HF name, tensor) for every weight, in a stable order; lm_head.weight only when untied.
  // These are the tensors SaveWeights writes and LoadWeights expects.
  std::vector<std::pair<std::string, at::Tensor>> NamedWeights() const;

  // Loads weights from a checkpoint (a .safetensors file, a sharded index, or a directory;
  // see SafetensorsCheckpoint::Open). Tensors are converted to the model dtype and device.
  // Throws InvalidArgument naming the tensor(s) when a tensor is missing, unexpected (extra),
  // or mis-shaped (both shapes in the message). Tolerated extras: rotary `inv_freq` buffers
  // and `lm_head.weight` in a tied model (ignored, as HF does).
  void LoadWeights(const std::string& path);

  // Writes all weights (model dtype) to `path` as safetensors with {"format": "pt"} metadata.
  void SaveWeights(const std::string& path) const;

  // Re-initialises every weight from N(0, initializer_range) (norm weights 1, biases 0),
  // deterministic given `seed` (generated on CPU in float32, then converted).
  void InitWeights(uint64_t seed);

 private:
  ModelConfig config_;
  std::shared_ptr<internal::DecoderImpl> model_;
  std::shared_ptr<internal::LinearImpl> lm_head_;  // null when tied
  at::Tensor inv_freq_;                            // float32 [head_dim / 2], on CPU
};
TORCH_MODULE(TransformerLM);

// Loads a HF-style model directory: `dir/config.json` and the weights in `dir`
// (model.safetensors or model.safetensors.index.json). options.init_weights is ignored.
TransformerLM LoadPretrained(const std::string& dir, TransformerLMOptions options = {});

// Writes `dir/config.json` (torch_dtype = the model dtype) and the weights, creating `dir` when
// needed: `model.safetensors`, or shards of at most `max_shard_bytes` with
// `model.safetensors.index.json` when the weights are larger (SaveShardedSafetensors; 0 = never
// shard). Stale weight files of an earlier save in `dir` are removed.
void SavePretrained(TransformerLM& model, const std::string& dir,
                    uint64_t max_shard_bytes = 5'000'000'000ull);

}  // namespace turnwise

#endif  // TURNWISE_AGENTS_TRANSFORMER_LM_H_
