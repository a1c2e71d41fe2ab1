// `lmforge pretrain --config FILE [--set k=v ...] --out RUN_DIR`: masked-LM pretraining of an encoder
// through the same trainer as `lmforge train` (data.task = "mlm", model.kind = "encoder" are forced;
// the default preset is mosaicbert-tiny).
#include <memory>

#include "lmforge/cli/subcommand.h"
#include "lmforge/cli/train_args.h"

namespace lmforge {
namespace {

void force_mlm_encoder(toml::table& cfg) {
  toml::table* data = cfg["data"].as_table();
  if (!data) data = cfg.insert_or_assign("data", toml::table{}).first->second.as_table();
  data->insert_or_assign("task", "mlm");
  toml::table* model = cfg["model"].as_table();
  if (!model) model = cfg.insert_or_assign("model", toml::table{}).first->second.as_table();
  model->insert_or_assign("kind", "encoder");
}

const bool kRegistered = register_subcommand("pretrain", "masked-LM pretraining of an encoder (MosaicBERT / BERT recipes)", [](CLI::App& app) {
  auto a = std::make_shared<TrainArgs>();
  add_train_args(app, *a, "mosaicbert-tiny");
  return [a] { return run_train_args(*a, force_mlm_encoder); };
});

}  // namespace
}  // namespace lmforge
