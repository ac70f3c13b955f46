#include "cli/app.h"

int main(int argc, char** argv) { return turnwise::cli::Run(argc, argv); }
