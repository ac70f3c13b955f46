#include "cli/app.h"

#include <CLI/CLI.hpp>
#include <iostream>

#include "cli/commands.h"
#include "core/error.h"
#include "core/logging.h"
#include "core/version.h"

namespace turnwise::cli {

int Run(int argc, char** argv) {
  CLI::App app{"Turnwise: reinforcement learning for multi-turn LLM agents", "turnwise"};
  app.require_subcommand(1);
  app.fallthrough();
  std::string log_level = "info";
  app.add_option("--log-level", log_level, "trace, debug, info, warn, error, off")
      ->capture_default_str();
  app.parse_complete_callback([&] { SetLogLevel(log_level); });

  CLI::App* version = app.add_subcommand("version", "Print the version");
  version->callback([] { std::cout << "turnwise " << TURNWISE_VERSION << "\n"; });
  AddRunsCommand(app);
  AddBenchCommand(app);
  AddEnvsCommand(app);
  AddEvalCommand(app);
  AddEnvServerCommand(app);
  AddAdvantagesCommand(app);
  AddPlotCommand(app);
  AddWebCommand(app);
#ifdef TURNWISE_WITH_TORCH
  AddTokenizerCommand(app);
  AddTrainCommand(app);
  AddModelCommand(app);
  AddSftCommand(app);
#endif

  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {
    return app.exit(e);  // --help
  } catch (const CLI::ParseError& e) {
    // One line, then where to look; exit 2 for usage errors.
    std::cerr << "turnwise: " << e.what() << " (run with --help for usage)\n";
    return 2;
  } catch (const Error& e) {
    std::cerr << "turnwise: " << e.what() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "turnwise: internal error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}

}  // namespace turnwise::cli
