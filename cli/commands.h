// Subcommand registration. Each Add*Command adds one subcommand (and its children) to the app;
// its callback does the work and throws turnwise::Error on failure (cli/app.cc turns that into
// one line on stderr and exit code 1). Register a command only once it does something real.
#ifndef TURNWISE_CLI_COMMANDS_H_
#define TURNWISE_CLI_COMMANDS_H_

#include <CLI/CLI.hpp>

namespace turnwise::cli {

void AddRunsCommand(CLI::App& app);
void AddBenchCommand(CLI::App& app);
void AddWebCommand(CLI::App& app);
void AddEnvsCommand(CLI::App& app);
void AddEvalCommand(CLI::App& app);
void AddEnvServerCommand(CLI::App& app);
void AddAdvantagesCommand(CLI::App& app);
void AddPlotCommand(CLI::App& app);
#ifdef TURNWISE_WITH_TORCH
void AddTokenizerCommand(CLI::App& app);
void AddTrainCommand(CLI::App& app);
void AddModelCommand(CLI::App& app);
void AddSftCommand(CLI::App& app);
#endif

}  // namespace turnwise::cli

#endif  // TURNWISE_CLI_COMMANDS_H_
