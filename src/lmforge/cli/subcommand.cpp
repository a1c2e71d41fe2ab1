#include "lmforge/cli/subcommand.h"

#include <iostream>

#include <c10/util/Exception.h>

#include "lmforge/core/config.h"
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

namespace {

// `lmforge completion bash`: a completion script built from the parser itself, so it never goes
// stale: the subcommands, and each one's options.
std::string bash_completion(CLI::App& app) {
  std::string subs, cases;
  for (CLI::App* sub : app.get_subcommands([](CLI::App*) { return true; })) {
    subs += (subs.empty() ? "" : " ") + sub->get_name();
    std::string opts;
    for (const CLI::Option* o : sub->get_options()) {
      for (const std::string& l : o->get_lnames()) opts += " --" + l;
      for (const std::string& sn : o->get_snames()) opts += " -" + sn;
    }
    cases += "    " + sub->get_name() + ") opts=\"" + opts.substr(opts.empty() ? 0 : 1) + "\" ;;\n";
  }
  return "# bash completion for lmforge: eval \"$(lmforge completion bash)\" (e.g. in ~/.bashrc)\n"
         "_lmforge() {\n"
         "  local cur=${COMP_WORDS[COMP_CWORD]} sub=${COMP_WORDS[1]} opts\n"
         "  if [[ $COMP_CWORD -eq 1 ]]; then\n"
         "    COMPREPLY=($(compgen -W \"" + subs + " --help --version\" -- \"$cur\")); return\n"
         "  fi\n"
         "  case $sub in\n" + cases +
         "    *) opts=\"\" ;;\n"
         "  esac\n"
         "  if [[ $cur == -* ]]; then COMPREPLY=($(compgen -W \"$opts\" -- \"$cur\")); "
         "else COMPREPLY=($(compgen -f -- \"$cur\")); fi\n"
         "}\n"
         "complete -F _lmforge lmforge\n";
}

}  // namespace

int run_cli(int argc, char** argv) {
  CLI::App app{"lmforge " + version() + ": efficient language models, trained and evaluated"};
  app.require_subcommand(1);
  app.set_version_flag("--version", version());
  std::vector<std::pair<CLI::App*, SubcommandRun>> runs;
  std::sort(subcommands().begin(), subcommands().end(), [](const auto& a, const auto& b) { return a.name < b.name; });
  std::vector<std::string> names;
  for (auto& s : subcommands()) {
    CLI::App* sub = app.add_subcommand(s.name, s.help);
    runs.emplace_back(sub, s.setup(*sub));
    names.push_back(s.name);
  }
  std::string shell;
  CLI::App* completion = app.add_subcommand("completion", "print a shell completion script (bash)");
  completion->add_option("shell", shell, "bash")->required()->check(CLI::IsMember({"bash"}));
  names.push_back("completion");
  // An unknown subcommand is an error with a suggestion (CLI11 alone would say "A subcommand is
  // required", or print the main help and exit 0 for `nosuch --help`).
  if (argc > 1 && argv[1][0] != '-' && std::find(names.begin(), names.end(), argv[1]) == names.end()) {
    const std::string near = detail::closest_key(argv[1], names);
    std::cerr << "lmforge: error: unknown subcommand '" << argv[1] << "'"
              << (near.empty() ? std::string() : " (did you mean '" + near + "'?)") << "; see lmforge --help"
              << std::endl;
    return 2;
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (completion->parsed()) {
    std::cout << bash_completion(app);
    return 0;
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
