// Training checkpoints as Hugging Face model folders, so every checkpoint is directly usable as
// `policy.checkpoint` of the lm policy, by `turnwise model inspect`, and by HF transformers:
//
//   <dir>/config.json                      ModelConfig (HF field names)
//   <dir>/model.safetensors                or model-0000i-of-0000N.safetensors + the index
//   <dir>/tokenizer.json
//   <dir>/optimizer.pt                     optimizer state (torch::save), when given
//   <dir>/<name>.json                      any extra JSON documents (run config, trainer state)
//
// The folder is written under "<dir>.tmp" and renamed into place at the end, so a crash never
// leaves a half-written checkpoint under `dir` (an existing `dir` is replaced).
// Torch-free header; the types are forward-declared.
#ifndef TURNWISE_TRAINING_CHECKPOINT_H_
#define TURNWISE_TRAINING_CHECKPOINT_H_

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "core/json.h"

namespace torch::optim {
class Optimizer;
}  // namespace torch::optim

namespace turnwise {

class Tokenizer;
class TransformerLMImpl;

struct CheckpointContents {
  std::shared_ptr<TransformerLMImpl> model;         // required
  const Tokenizer* tokenizer = nullptr;             // required
  torch::optim::Optimizer* optimizer = nullptr;     // optional
  std::map<std::string, Json> json_files;           // file name -> document, e.g. "sft_config.json"
  uint64_t max_shard_bytes = 5'000'000'000ull;      // SaveShardedSafetensors; 0 = one file
};

// Writes the checkpoint folder. Throws IoError naming the path on any write failure.
void SaveCheckpoint(const std::string& dir, const CheckpointContents& contents);

// Restores `optimizer` from <dir>/optimizer.pt. Throws NotFound when the file is absent and
// InvalidArgument when it does not match the optimizer's parameters.
void LoadOptimizerState(const std::string& dir, torch::optim::Optimizer& optimizer);

}  // namespace turnwise

#endif  // TURNWISE_TRAINING_CHECKPOINT_H_
