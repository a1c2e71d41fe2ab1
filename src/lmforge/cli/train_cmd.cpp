// `lmforge train --config FILE [--set k=v ...] --out RUN_DIR` and `--resume RUN_DIR`.
#include <iostream>
#include <memory>

#include "lmforge/cli/config_args.h"
#include "lmforge/cli/subcommand.h"
#include "lmforge/core/error.h"
#include "lmforge/train/run_config.h"
#include "lmforge/train/trainer.h"

namespace lmforge {
namespace {

struct TrainArgs {
  ConfigArgs config;
  std::string out, resume, init;
  bool quiet = false;
  int64_t stop_after = 0;
};

int run_train(const TrainArgs& a) {
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
  }
  nlohmann::json m = train(cfg, o);
  std::cout << m.dump(2) << std::endl;
  return 0;
}

const bool kRegistered = register_subcommand("train", "train a language model (decoder) from a config", [](CLI::App& app) {
  auto a = std::make_shared<TrainArgs>();
  a->config.add_to(app, "");
  app.add_option("--out,-o", a->out, "run directory to create (config, log.jsonl, checkpoint/, metrics.json)");
  app.add_option("--resume", a->resume, "continue the run in this directory from its last checkpoint");
  app.add_option("--init-weights", a->init, "start from these weights (pickled dict of tensors, e.g. torch.save)");
  app.add_option("--stop-after", a->stop_after, "save and stop after N steps, as on SIGINT (resume later)");
  app.add_flag("--quiet,-q", a->quiet, "no progress lines");
  return [a] { return run_train(*a); };
});

}  // namespace
}  // namespace lmforge
