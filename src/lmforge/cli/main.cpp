// The `lmforge` binary: one subcommand per file in cli/ (see cli/subcommand.h).
#include "lmforge/cli/subcommand.h"

int main(int argc, char** argv) { return lmforge::run_cli(argc, argv); }
