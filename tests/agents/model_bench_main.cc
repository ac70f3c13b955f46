// Stand-alone driver of RunModelBench until `turnwise bench model` is wired in the CLI.
//   model_bench [--quick] [--threads N] [--repeats N] [--preset NAME] [--no-decode] [--no-python]
#include <cstdlib>
#include <iostream>
#include <string>

#include "agents/model_bench.h"

int main(int argc, char** argv) {
  turnwise::ModelBenchOptions options;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::cerr << "missing value for " << arg << "\n";
        std::exit(2);
      }
      return argv[++i];
    };
    if (arg == "--quick") {
      options.repeats = 1;
      options.no_cache_repeats = 1;
      options.decode_batches = {1, 4};
      options.train_tokens = 64;
      options.matmul_size = 512;
    } else if (arg == "--threads") {
      options.threads = std::stoi(next());
    } else if (arg == "--repeats") {
      options.repeats = std::stoi(next());
    } else if (arg == "--preset") {
      options.preset = next();
    } else if (arg == "--no-decode") {
      options.decode_batches.clear();
    } else if (arg == "--no-python") {
      options.python.clear();
    } else {
      std::cerr << "unknown flag " << arg << "\n";
      return 2;
    }
  }
  return turnwise::RunModelBench(options, std::cout);
}
