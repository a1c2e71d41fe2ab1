// `lmforge pretrain --config FILE [--set k=v ...] --out RUN_DIR`: masked-LM pretraining of an encoder
// through the same trainer as `lmforge train` (data.task = "mlm", model.kind = "encoder" are forced;
// the default preset is mosaicbert-tiny).
#include <iostream>
#include <memory>

#include "lmforge/cli/config_args.h"
#include "lmforge/cli/subcommand.h"
#include "lmforge/core/error.h"
#include "lmforge/train/run_config.h"
#include "lmforge/train/trainer.h"

namespace lmforge {
namespace {

struct PretrainArgs {
  ConfigArgs config;
  std::string out, resume, init;
  bool quiet = false;
  int64_t stop_after = 0;
};

int run_pretrain(const PretrainArgs& a) {
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
    toml::table* data = cfg["data"].as_table();
    if (!data) data = cfg.insert_or_assign("data", toml::table{}).first->second.as_table();
    data->insert_or_assign("task", "mlm");
    toml::table* model = cfg["model"].as_table();
    if (!model) model = cfg.insert_or_assign("model", toml::table{}).first->second.as_table();
    model->insert_or_assign("kind", "encoder");
  }
  nlohmann::json m = train(cfg, o);
  std::cout << m.dump(2) << std::endl;
  return 0;
}

const bool kRegistered = register_subcommand("pretrain", "masked-LM pretraining of an encoder (MosaicBERT / BERT recipes)", [](CLI::App& app) {
  auto a = std::make_shared<PretrainArgs>();
  a->config.add_to(app, "mosaicbert-tiny");
  app.add_option("--out,-o", a->out, "run directory to create (config, log.jsonl, checkpoint/, metrics.json)");
  app.add_option("--resume", a->resume, "continue the run in this directory from its last checkpoint");
  app.add_option("--init-weights", a->init, "start from these weights (pickled dict of tensors, e.g. torch.save)");
  app.add_option("--stop-after", a->stop_after, "save and stop after N steps, as on SIGINT (resume later)");
  app.add_flag("--quiet,-q", a->quiet, "no progress lines");
  return [a] { return run_pretrain(*a); };
});

}  // namespace
}  // namespace lmforge
