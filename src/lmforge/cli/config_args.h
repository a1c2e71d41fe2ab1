// The config options every training-like subcommand shares: --config (repeatable; presets or
// files, layered in order), --set key=value (repeatable), --data DIR, --dump-config.
#pragma once
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <toml++/toml.h>

namespace lmforge {

struct ConfigArgs {
  std::vector<std::string> configs;
  std::vector<std::string> sets;
  std::string data_dir;
  bool dump = false;
  void add_to(CLI::App& app, const std::string& default_preset);
  // The layered config with --data applied.
  toml::table load() const;
};

}  // namespace lmforge
