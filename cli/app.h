// The `turnwise` command: builds the CLI11 app with every subcommand and runs it.
//
// Run() is the one error boundary of the command line: a turnwise::Error (and any other
// exception) becomes one readable line on stderr, "turnwise: <message>", and exit code 1;
// usage errors from CLI11 print their message and exit 2. Nothing escapes as a stack trace.
#ifndef TURNWISE_CLI_APP_H_
#define TURNWISE_CLI_APP_H_

#include <iosfwd>

namespace turnwise::cli {

// Parses argv and runs the chosen subcommand. Returns the process exit code.
int Run(int argc, char** argv);

}  // namespace turnwise::cli

#endif  // TURNWISE_CLI_APP_H_
