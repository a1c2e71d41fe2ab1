// `lmforge train --config FILE [--set k=v ...] --out RUN_DIR` and `--resume RUN_DIR`.
#include <memory>

#include "lmforge/cli/subcommand.h"
#include "lmforge/cli/train_args.h"

namespace lmforge {
namespace {

const bool kRegistered = register_subcommand("train", "train a language model (decoder) from a config", [](CLI::App& app) {
  auto a = std::make_shared<TrainArgs>();
  add_train_args(app, *a, "");
  return [a] { return run_train_args(*a); };
});

}  // namespace
}  // namespace lmforge
