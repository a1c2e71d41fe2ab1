#include "lmforge/cli/train_args.h"

#include <iostream>

#include "lmforge/core/error.h"
#include "lmforge/train/run_config.h"
#include "lmforge/train/trainer.h"

namespace lmforge {

void add_train_args(CLI::App& app, TrainArgs& a, const std::string& default_preset) {
  a.config.add_to(app, default_preset);
  app.add_option("--out,-o", a.out, "run directory to create (config, log.jsonl, checkpoint/, metrics.json)");
  app.add_option("--resume", a.resume, "continue the run in this directory from its last checkpoint");
  app.add_option("--init-weights", a.init, "start from these weights (pickled dict of tensors, e.g. torch.save)");
  app.add_option("--stop-after", a.stop_after, "save and stop after N steps, as on SIGINT (resume later)");
  app.add_flag("--quiet,-q", a.quiet, "no progress lines");
}

int run_train_args(const TrainArgs& a, const std::function<void(toml::table&)>& adjust) {
  if (a.config.dump) {
    toml::table t = a.config.load();
    RunConfig rc = parse_run_config(t);
    std::cout << to_toml_string(run_config_to_toml(rc));
    return 0;
  }
  TrainOptions o;
  o.quiet = a.quiet;
  o.init_weights = a.init;
  o.stop_after = a.stop_after;
  toml::table cfg;
  if (!a.resume.empty()) {
    LMF_REQUIRE(a.out.empty() || a.out == a.resume, UserError, "give either --out or --resume, not both");
    o.run_dir = a.resume;
    o.resume = true;
  } else {
    LMF_REQUIRE(!a.out.empty(), UserError, "train needs --out RUN_DIR (or --resume RUN_DIR)");
    o.run_dir = a.out;
    cfg = a.config.load();
    if (adjust) adjust(cfg);
  }
  nlohmann::json m = train(cfg, o);
  std::cout << m.dump(2) << std::endl;
  return 0;
}

}  // namespace lmforge
