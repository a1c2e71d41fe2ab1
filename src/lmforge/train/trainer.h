// The training loop: AdamW (decay on matrices only), warmup + cosine schedule, gradient clipping
// and accumulation, bf16 autocast, periodic validation, atomic checkpoints, bit-exact resume and
// save-and-exit on SIGINT/SIGTERM. Logs one console line per log step and a JSONL record per step
// and per evaluation to RUN_DIR/log.jsonl; the final metrics go to RUN_DIR/metrics.json.
#pragma once
#include <memory>
#include <string>

#include <nlohmann/json.hpp>
#include <toml++/toml.h>

#include "lmforge/train/dist.h"
#include "lmforge/train/run_config.h"

namespace lmforge {

struct TrainOptions {
  std::string run_dir;
  bool resume = false;
  std::string init_weights;  // optional: start from these weights (a pickled dict, e.g. from PyTorch)
  bool quiet = false;
  int64_t stop_after = 0;  // stop (saving, as on SIGINT) after this many steps of this call; 0 = never
  int threads = 0;         // intra-op threads, overriding run.threads (not stored); 0 = run.threads
};

// Trains according to `config` (the layered TOML; resumed runs take it from the checkpoint).
// Returns the final metrics. Throws UserError on bad input.
nlohmann::json train(const toml::table& config, const TrainOptions& opts, Distributed* dist = nullptr);

}  // namespace lmforge
