#include "lmforge/cli/config_args.h"

#include "lmforge/core/config.h"

namespace lmforge {

void ConfigArgs::add_to(CLI::App& app, const std::string& default_preset) {
  if (!default_preset.empty()) configs = {default_preset};
  app.add_option("--config,-c", configs, "config file or preset name; repeat to layer (later wins)");
  app.add_option("--set,-s", sets, "override one key: --set train.lr=3e-4 (repeatable)");
  app.add_option("--data", data_dir, "folder that relative data paths in the config are taken from");
  app.add_flag("--dump-config", dump, "print the resolved config and exit");
}

toml::table ConfigArgs::load() const {
  std::vector<std::string> s = sets;
  if (!data_dir.empty()) s.push_back("data.dir=\"" + data_dir + "\"");
  return load_layered(configs, s);
}

}  // namespace lmforge
