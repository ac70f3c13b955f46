#include "agents/model_io.h"

#include <filesystem>
#include <set>

#include "agents/safetensors.h"
#include "agents/tokenizer.h"
#include "agents/transformer_lm.h"
#include "core/error.h"

namespace turnwise {

namespace fs = std::filesystem;

void InitModelFolder(const ModelInitOptions& o) {
  if (o.out_dir.empty()) throw InvalidArgument("model init: an output folder is required");
  std::error_code ec;
  if (fs::exists(fs::path(o.out_dir) / "config.json", ec)) {
    throw FailedPrecondition("model init: '" + o.out_dir +
                             "' already holds a model (config.json); choose another --out");
  }
  const uint64_t max_shard = ParseByteSize(o.max_shard_size);
  Tokenizer tokenizer = Tokenizer::FromFile(o.tokenizer_path);
  ModelConfig config = ModelConfig::Preset(o.preset, tokenizer.VocabSize());
  TransformerLMOptions mo;
  mo.seed = o.seed;
  mo.dtype = o.dtype;
  TransformerLM model(config, mo);
  SavePretrained(model, o.out_dir, max_shard);
  tokenizer.Save((fs::path(o.out_dir) / "tokenizer.json").string());
}

ModelFolderSummary InspectModelFolder(const std::string& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) throw NotFound("model folder '" + dir + "' does not exist");
  const fs::path config_path = fs::path(dir) / "config.json";
  if (!fs::exists(config_path, ec)) throw NotFound("no config.json in '" + dir + "'");
  ModelFolderSummary s;
  s.config = ModelConfig::Load(config_path.string());
  SafetensorsCheckpoint ckpt = SafetensorsCheckpoint::Open(dir);
  std::set<std::string> files, dtypes;
  for (const std::string& name : ckpt.Names()) {
    const SafetensorsTensorInfo& info = ckpt.Info(name);
    const std::string file = fs::path(ckpt.FileOf(name).path()).filename().string();
    int64_t numel = 1;
    for (int64_t d : info.shape) numel *= d;
    s.checkpoint_parameters += numel;
    s.weight_bytes += info.end - info.begin;
    files.insert(file);
    dtypes.insert(info.dtype);
    s.tensors.push_back({name, info.dtype, info.shape, file});
  }
  s.weight_files.assign(files.begin(), files.end());
  s.dtypes.assign(dtypes.begin(), dtypes.end());
  if (s.checkpoint_parameters != s.config.NumParameters()) {
    s.warnings.push_back("the weights hold " + std::to_string(s.checkpoint_parameters) +
                         " parameters but config.json describes " +
                         std::to_string(s.config.NumParameters()));
  }
  const fs::path tok_path = fs::path(dir) / "tokenizer.json";
  if (fs::exists(tok_path, ec)) {
    Tokenizer tok = Tokenizer::FromFile(tok_path.string());
    s.has_tokenizer = true;
    s.tokenizer_vocab = tok.VocabSize();
    s.tokenizer_added_tokens = static_cast<int64_t>(tok.AddedTokens().size());
    for (const AddedTokenInfo& t : tok.AddedTokens()) {
      if (t.special) s.tokenizer_special.push_back(t.content);
    }
    if (s.tokenizer_vocab > s.config.vocab_size) {
      s.warnings.push_back("tokenizer.json has " + std::to_string(s.tokenizer_vocab) +
                           " ids but vocab_size is " + std::to_string(s.config.vocab_size));
    }
  }
  return s;
}

}  // namespace turnwise
