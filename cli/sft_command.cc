// `turnwise sft --config FILE [--set k=v ...]`: supervised fine-tuning on expert demonstrations.
#include <malloc.h>

#include <climits>
#include <iostream>

#include "cli/commands.h"
#include "core/config.h"
#include "core/error.h"
#include "training/sft.h"

namespace turnwise::cli {
namespace {

struct SftOptions {
  std::string config;
  std::vector<std::string> sets;
  bool print_config = false;
};

}  // namespace

void AddSftCommand(CLI::App& app) {
  auto o = std::make_shared<SftOptions>();
  CLI::App* sft = app.add_subcommand(
      "sft", "Supervised fine-tuning of the policy model on expert demonstrations, then a "
             "held-out evaluation (docs/sft.md)");
  sft->add_option("--config", o->config, "JSON config (keys: docs/sft.md); omit for the defaults");
  sft->add_option("--set", o->sets, "Override a config key, e.g. --set train.lr=5e-4");
  sft->add_flag("--print-config", o->print_config,
                "Print the complete validated config (defaults filled in) and exit");
  sft->callback([o] {
    Json config = LoadConfig(o->config, o->sets, SftConfigSchema());
    if (o->print_config) {
      std::cout << DumpJson(config, 2) << "\n";
      return;
    }
    // Every step allocates and frees activation tensors of tens of MB; glibc serves those with
    // mmap/munmap, so each step page-faults them in again (measured: ~20% of the run's CPU time
    // in the kernel). Keep freed memory in the heap instead.
    mallopt(M_MMAP_MAX, 0);
    mallopt(M_TRIM_THRESHOLD, INT_MAX);
    SftResult r = RunSft(config, std::cerr);
    std::cout << "steps " << r.steps << ", loss " << r.first_loss << " -> " << r.final_loss
              << ", " << r.parameters << " parameters, checkpoint " << r.final_checkpoint << "\n";
    if (r.evaluated) {
      std::cout << "eval " << r.eval.split << ": success " << 100.0 * r.eval.success_rate << "% ("
                << r.eval.episodes << " episodes), total " << static_cast<int64_t>(r.total_seconds)
                << "s\n";
    }
  });
}

}  // namespace turnwise::cli
