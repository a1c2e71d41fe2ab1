#include "lmforge/cli/subcommand.h"

#include <iostream>

#include <c10/util/Exception.h>

#include "lmforge/core/error.h"
#include "lmforge/core/version.h"

namespace lmforge {

std::vector<Subcommand>& subcommands() {
  static std::vector<Subcommand> v;
  return v;
}

bool register_subcommand(const std::string& name, const std::string& help, SubcommandSetup setup) {
  subcommands().push_back({name, help, std::move(setup)});
  return true;
}

int run_cli(int argc, char** argv) {
  CLI::App app{"lmforge " + version() + ": efficient language models, trained and evaluated"};
  app.require_subcommand(1);
  app.set_version_flag("--version", version());
  std::vector<std::pair<CLI::App*, SubcommandRun>> runs;
  std::sort(subcommands().begin(), subcommands().end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  for (auto& s : subcommands()) {
    CLI::App* sub = app.add_subcommand(s.name, s.help);
    runs.emplace_back(sub, s.setup(*sub));
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  try {
    for (auto& [sub, run] : runs)
      if (sub->parsed()) return run();
  } catch (const UserError& e) {
    std::cerr << "lmforge: error: " << e.what() << std::endl;
    return 2;
  } catch (const c10::Error& e) {
    std::cerr << "lmforge: internal error (please report): " << e.what_without_backtrace() << std::endl;
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "lmforge: internal error (please report): " << e.what() << std::endl;
    return 1;
  }
  return 0;
}

}  // namespace lmforge
