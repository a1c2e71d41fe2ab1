// Subcommands of the `lmforge` binary register themselves here, one file each:
//
//   static const bool kRegistered = register_subcommand("train", "train a model", [](CLI::App& app) {
//     auto opts = std::make_shared<Options>();
//     app.add_option(...);
//     return [opts] { return run(*opts); };   // called after parsing; returns the exit code
//   });
#pragma once
#include <functional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

namespace lmforge {

using SubcommandRun = std::function<int()>;
using SubcommandSetup = std::function<SubcommandRun(CLI::App&)>;

struct Subcommand {
  std::string name, help;
  SubcommandSetup setup;
};

bool register_subcommand(const std::string& name, const std::string& help, SubcommandSetup setup);
std::vector<Subcommand>& subcommands();

// Runs the CLI: parses, dispatches, maps errors to exit codes (user error 2, internal error 1).
int run_cli(int argc, char** argv);

}  // namespace lmforge
