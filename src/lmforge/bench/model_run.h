// One model of a benchmark suite, measured in its own process (`lmforge bench-one`, started by the
// suite runner): train with the trainer, then measure on the trained model what the report
// compares: parameters, training FLOPs per token, inference tokens/s (a timed no-grad forward of a
// training-shaped batch, best of N), word perplexity on a validation prefix for text tasks, and the
// process's peak resident memory (VmHWM). Why a process per model: a crash, an abort or a leak
// of one model cannot take the suite down, and peak memory is the model's own.
#pragma once
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <toml++/toml.h>

#include "lmforge/bench/suite.h"

namespace lmforge {

// The GLUE part of an encoder's measurement: after pretraining, fine-tune on each task and score
// its dev files (eval/glue_finetune.h). The suite runner writes it as a TOML file
// (bench-one --glue FILE): data = DIR, then [[tasks]] with the name and the [glue] fine-tuning keys.
struct BenchGlueTask {
  std::string name;
  SuiteGlueFinetune finetune;
};
struct BenchGlueOptions {
  std::string data_dir;
  std::vector<BenchGlueTask> tasks;
};
BenchGlueOptions parse_bench_glue(const toml::table& t);
toml::table to_toml(const BenchGlueOptions& g);

struct BenchModelOptions {
  std::string run_dir;
  int64_t text_lines = 0;      // text tasks: word_ppl on the first N lines of data.valid (0 = all)
  double infer_seconds = 0.5;  // timing budget of the inference measurement
  bool quiet = true;           // no per-step console lines
  BenchGlueOptions glue;       // encoders: GLUE fine-tuning after pretraining (none when empty)
};

// Trains and measures; writes RUN_DIR/bench.json and returns the same object:
//   train: the trainer's metrics; final_eval: validation loss and task metrics (MQAR accuracy) of
//   the final weights; parameters, train_flops_per_token, infer_tokens_per_s,
//   word_ppl / text_eval (text tasks), glue / glue_task_score / glue_mean (when o.glue has
//   tasks), peak_rss_mb, stopped (the run ended before its steps).
// Throws what the trainer throws (divergence, bad config).
nlohmann::json run_bench_model(const toml::table& config, const BenchModelOptions& o);

// Peak resident memory of this process (VmHWM of /proc/self/status), in MiB; 0 when unknown.
double peak_rss_mb();

}  // namespace lmforge
