#include "training/checkpoint.h"

#include <torch/optim/optimizer.h>
#include <torch/serialize.h>

#include <filesystem>
#include <fstream>

#include "agents/tokenizer.h"
#include "agents/transformer_lm.h"
#include "core/error.h"

namespace turnwise {

namespace fs = std::filesystem;

void SaveCheckpoint(const std::string& dir, const CheckpointContents& contents) {
  TURNWISE_CHECK(contents.model != nullptr && contents.tokenizer != nullptr);
  const fs::path final_dir(dir);
  const fs::path tmp = final_dir.string() + ".tmp";
  std::error_code ec;
  fs::remove_all(tmp, ec);
  fs::create_directories(tmp, ec);
  if (ec) throw IoError("cannot create checkpoint folder '" + tmp.string() + "': " + ec.message());
  TransformerLM model(contents.model);
  SavePretrained(model, tmp.string(), contents.max_shard_bytes);
  contents.tokenizer->Save((tmp / "tokenizer.json").string());
  if (contents.optimizer != nullptr) {
    try {
      torch::save(*contents.optimizer, (tmp / "optimizer.pt").string());
    } catch (const c10::Error& e) {
      throw IoError("cannot write optimizer state to '" + (tmp / "optimizer.pt").string() +
                    "': " + e.what_without_backtrace());
    }
  }
  for (const auto& [name, doc] : contents.json_files) {
    std::ofstream out(tmp / name, std::ios::trunc);
    out << DumpJson(doc, 2) << "\n";
    if (!out.flush()) throw IoError("cannot write '" + (tmp / name).string() + "'");
  }
  fs::remove_all(final_dir, ec);
  fs::rename(tmp, final_dir, ec);
  if (ec) {
    throw IoError("cannot move checkpoint '" + tmp.string() + "' to '" + dir + "': " + ec.message());
  }
}

void LoadOptimizerState(const std::string& dir, torch::optim::Optimizer& optimizer) {
  const fs::path path = fs::path(dir) / "optimizer.pt";
  std::error_code ec;
  if (!fs::exists(path, ec)) throw NotFound("no optimizer state '" + path.string() + "'");
  try {
    torch::load(optimizer, path.string());
  } catch (const c10::Error& e) {
    throw InvalidArgument("cannot load optimizer state '" + path.string() +
                          "': " + e.what_without_backtrace());
  }
}

}  // namespace turnwise
