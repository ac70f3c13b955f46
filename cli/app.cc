#include "cli/app.h"

#include <CLI/CLI.hpp>
#include <iostream>

#include "core/error.h"
#include "core/logging.h"
#include "core/version.h"

namespace turnwise::cli {

int Run(int argc, char** argv) {
  CLI::App app{"Turnwise: multi-turn RL for LLM agents", "turnwise"};
  app.require_subcommand(1);
  std::string log_level = "info";
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error, off");
  auto* version = app.add_subcommand("version", "Print the version");
  version->callback([] { std::cout << "turnwise " << TURNWISE_VERSION << "\n"; });
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const Error& e) {
    std::cerr << "turnwise: " << e.what() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "turnwise: " << e.what() << "\n";
    return 1;
  }
  return 0;
}

}  // namespace turnwise::cli
