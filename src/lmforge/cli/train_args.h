// The options and the run logic shared by `lmforge train` and `lmforge pretrain`: the config
// options, --out / --resume / --init-weights / --stop-after / --quiet, --dump-config, and the
// data-parallel launch: --nproc N on one machine, or the torchrun variables (RANK, WORLD_SIZE,
// MASTER_ADDR, MASTER_PORT) across machines.
#pragma once
#include <functional>
#include <string>

#include <CLI/CLI.hpp>
#include <toml++/toml.h>

#include "lmforge/cli/config_args.h"

namespace lmforge {

struct TrainArgs {
  ConfigArgs config;
  std::string out, resume, init;
  bool quiet = false;
  int64_t stop_after = 0;
  int nproc = 1;    // local ranks (data parallel); >1 starts that many processes
  int threads = 0;  // intra-op threads per rank; 0 = run.threads (0 there: cores / local ranks)
};

void add_train_args(CLI::App& app, TrainArgs& a, const std::string& default_preset);

// Trains (or resumes, or dumps the config) and prints the final metrics. `adjust` edits the
// layered config of a new run (pretrain forces the MLM task and an encoder).
int run_train_args(const TrainArgs& a, const std::function<void(toml::table&)>& adjust = {});

}  // namespace lmforge
