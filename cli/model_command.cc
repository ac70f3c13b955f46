// `turnwise model init|inspect`: small from-scratch models in the Hugging Face folder layout.
#include <filesystem>
#include <iostream>

#include "agents/model_config.h"
#include "agents/model_io.h"
#include "agents/tokenizer.h"
#include "cli/commands.h"
#include "cli/table.h"
#include "core/error.h"
#include "core/text.h"

namespace turnwise::cli {
namespace {

struct InitOptions {
  std::string preset = "small";
  std::string tokenizer;
  std::string out;
  uint64_t seed = 0;
  std::string dtype = "float32";
  std::string max_shard_size = "5GB";
};

void Inspect(const std::string& dir, bool all_tensors) {
  ModelFolderSummary s = InspectModelFolder(dir);
  const ModelConfig& c = s.config;
  std::cout << "model folder " << dir << "\n"
            << "  architecture  " << c.model_type << ", " << c.num_hidden_layers << " layers, hidden "
            << c.hidden_size << ", intermediate " << c.intermediate_size << ", heads "
            << c.num_attention_heads << " (kv " << c.num_key_value_heads << ", head_dim "
            << c.head_dim << ")\n"
            << "  vocab_size    " << c.vocab_size << (c.tie_word_embeddings ? " (tied embeddings)" : "")
            << "\n"
            << "  context       " << c.max_position_embeddings << " positions, rope_theta "
            << FormatNumber(c.rope_theta, 0) << "\n"
            << "  parameters    " << HumanCount(double(s.checkpoint_parameters)) << " ("
            << s.checkpoint_parameters << " in the checkpoint; config says "
            << c.NumParameters() << ")\n"
            << "  weights       " << s.weight_files.size() << " file(s), "
            << HumanCount(double(s.weight_bytes)) << "B, dtypes " << Join(s.dtypes, ", ") << "\n";
  if (s.has_tokenizer) {
    std::cout << "  tokenizer     tokenizer.json, vocabulary " << s.tokenizer_vocab << ", "
              << s.tokenizer_added_tokens << " added tokens"
              << (s.tokenizer_special.empty() ? "" : " (" + Join(s.tokenizer_special, " ") + ")")
              << "\n";
  } else {
    std::cout << "  tokenizer     none (no tokenizer.json)\n";
  }
  for (const std::string& w : s.warnings) std::cout << "  warning       " << w << "\n";
  TextTable table({"tensor", "dtype", "shape", "file"});
  size_t shown = 0;
  for (const auto& t : s.tensors) {
    if (!all_tensors && shown >= 24) break;
    std::string shape;
    for (size_t i = 0; i < t.shape.size(); ++i) shape += (i ? " x " : "") + std::to_string(t.shape[i]);
    table.AddRow({t.name, t.dtype, shape.empty() ? "scalar" : shape, t.file});
    ++shown;
  }
  std::cout << "\n";
  table.Print(std::cout);
  if (shown < s.tensors.size()) {
    std::cout << "... " << s.tensors.size() - shown << " more tensors (--all to list them)\n";
  }
}

}  // namespace

void AddModelCommand(CLI::App& app) {
  CLI::App* model = app.add_subcommand("model", "Create and inspect policy models (HF folder layout)");
  model->require_subcommand(1);

  auto i = std::make_shared<InitOptions>();
  CLI::App* init = model->add_subcommand(
      "init", "Create a randomly initialised model from a preset: config.json, weights, tokenizer.json");
  init->add_option("--preset", i->preset, Join(ModelConfig::PresetNames(), ", "))->capture_default_str();
  init->add_option("--tokenizer", i->tokenizer, "tokenizer.json (its vocabulary sizes the model)")
      ->required();
  init->add_option("--out", i->out, "Output folder")->required();
  init->add_option("--seed", i->seed, "Initialisation seed")->capture_default_str();
  init->add_option("--dtype", i->dtype, "float32 or bfloat16")->capture_default_str();
  init->add_option("--max-shard-size", i->max_shard_size, "Largest weight file, e.g. 2GB, 500MB")
      ->capture_default_str();
  init->callback([i] {
    ModelInitOptions o;
    o.preset = i->preset;
    o.tokenizer_path = i->tokenizer;
    o.out_dir = i->out;
    o.seed = i->seed;
    o.dtype = i->dtype;
    o.max_shard_size = i->max_shard_size;
    InitModelFolder(o);
    std::cout << "wrote " << i->out << " (preset " << i->preset << ")\n\n";
    Inspect(i->out, false);
  });

  auto dir = std::make_shared<std::string>();
  auto all = std::make_shared<bool>(false);
  CLI::App* inspect = model->add_subcommand(
      "inspect", "Show a model folder: config, parameter count, tensors and dtypes, tokenizer");
  inspect->add_option("dir", *dir, "Model folder")->required();
  inspect->add_flag("--all", *all, "List every tensor");
  inspect->callback([dir, all] { Inspect(*dir, *all); });
}

}  // namespace turnwise::cli
