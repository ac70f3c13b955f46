// Model folders in the Hugging Face layout, as whole units: create one from a preset
// (`turnwise model init`) and summarise one (`turnwise model inspect`).
//
//   <dir>/config.json                    ModelConfig (agents/model_config.h)
//   <dir>/model.safetensors              or model-0000i-of-0000N.safetensors +
//                                        model.safetensors.index.json (agents/safetensors.h)
//   <dir>/tokenizer.json                 agents/tokenizer.h
//
// Torch-free header (the CLI includes it); the implementation uses LibTorch.
#ifndef TURNWISE_AGENTS_MODEL_IO_H_
#define TURNWISE_AGENTS_MODEL_IO_H_

#include <cstdint>
#include <string>
#include <vector>

#include "agents/model_config.h"

namespace turnwise {

struct ModelInitOptions {
  std::string preset = "small";  // ModelConfig::Preset name
  std::string tokenizer_path;    // tokenizer.json; its VocabSize() is the model's vocab_size
  std::string out_dir;
  uint64_t seed = 0;             // weight initialisation
  std::string dtype = "float32"; // saved dtype ("float32" | "bfloat16")
  std::string max_shard_size = "5GB";  // ParseByteSize; "0" = one file
};

// Creates `out_dir` with a randomly initialised model (N(0, initializer_range), norms 1) and a
// copy of the tokenizer. Throws NotFound for an unknown preset, IoError / InvalidArgument for an
// unreadable tokenizer or an unwritable folder, AlreadyExists-style FailedPrecondition when
// `out_dir` already holds a config.json (never overwrites a model).
void InitModelFolder(const ModelInitOptions& options);

struct ModelTensorSummary {
  std::string name;
  std::string dtype;  // safetensors dtype name ("F32", "BF16", ...)
  std::vector<int64_t> shape;
  std::string file;   // the weight file holding it
};

struct ModelFolderSummary {
  ModelConfig config;
  int64_t checkpoint_parameters = 0;      // elements of all tensors in the weight files
  uint64_t weight_bytes = 0;              // bytes of tensor data
  std::vector<std::string> weight_files;  // relative to the folder
  std::vector<std::string> dtypes;        // distinct, sorted
  std::vector<ModelTensorSummary> tensors;  // sorted by name
  bool has_tokenizer = false;
  int64_t tokenizer_vocab = 0;
  int64_t tokenizer_added_tokens = 0;
  std::vector<std::string> tokenizer_special;  // contents of special added tokens
  // Inconsistencies a loader would reject or a user should know (tokenizer larger than the
  // embedding table, tensors missing for the config, ...). Empty for a healthy folder.
  std::vector<std::string> warnings;
};

// Reads config.json, the weight headers (no tensor data is read) and tokenizer.json when
// present. Throws NotFound when `dir` is not a folder or lacks config.json / weights, and what
// ModelConfig::Load and SafetensorsCheckpoint::Open throw for malformed files.
ModelFolderSummary InspectModelFolder(const std::string& dir);

}  // namespace turnwise

#endif  // TURNWISE_AGENTS_MODEL_IO_H_
