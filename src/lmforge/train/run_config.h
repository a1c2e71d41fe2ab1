// The whole config of a run: [run], [data], [model], [train], [eval]. Parsed once, validated
// completely (unknown keys, wrong types, bad values) before anything is built, and stored
// resolved (every default filled in) in the run directory and in each checkpoint.
#pragma once
#include <string>

#include <toml++/toml.h>

#include "lmforge/core/config.h"
#include "lmforge/data/tokenizer.h"
#include "lmforge/models/model_config.h"

namespace lmforge {

struct RunSection {
  int64_t seed = 1234;
  std::string device = "cpu";
  int64_t threads = 0;  // 0: all cores
  template <class V>
  void visit(V& v) {
    v("seed", seed, "seed for initialisation, data order and dropout");
    v("device", device, "cpu | cuda | cuda:N");
    v("threads", threads, "intra-op threads; 0 = all cores");
  }
};

struct DataConfig {
  std::string task = "lm";  // a registered task (train/task.h): lm | mqar | mlm
  std::string dir;          // base folder for relative paths; "" = working directory, then ../shared/data
  std::string train, valid, test;
  std::string cache_dir;    // token files; "" = <dir of the text file>/.lmforge-cache or ~/.cache/lmforge
  data::TokenizerOptions tokenizer;
  // The chosen task's options: the table [data.<task>], resolved by the task registry (every
  // default filled in). Not visited: parse_run_config reads and writes it beside the fields.
  toml::table task_options;
  template <class V>
  void visit(V& v) {
    v("task", task, "lm (next-token language modelling on text files) | mqar (synthetic recall) | mlm (masked LM, encoders); options in [data.<task>]");
    v("dir", dir, "folder that relative data paths are taken from");
    v("train", train, "training text file (lm)");
    v("valid", valid, "validation text file (lm)");
    v("test", test, "test text file (lm), scored at the end when given");
    v("cache_dir", cache_dir, "where tokenized files are cached");
    v("tokenizer", tokenizer);
  }
};

struct TrainConfig {
  int64_t steps = 1000;
  int64_t batch_size = 16;
  int64_t seq_len = 256;
  int64_t grad_accum = 1;
  Choice optimizer{"adamw", {}};
  double lr = 1e-3;
  double min_lr_ratio = 0.1;
  int64_t warmup_steps = 100;
  Choice schedule{"cosine", {}};
  double weight_decay = 0.1;
  double grad_clip = 1.0;
  std::string on_nonfinite = "stop";
  std::string precision = "bf16";
  int64_t log_every = 10;
  int64_t eval_every = 200;
  int64_t eval_batches = 16;
  int64_t save_every = 0;
  int64_t keep_last = 1;
  std::string keep_best;
  double max_minutes = 0;
  std::string schedule_clock = "steps";
  double ddp_bucket_mb = 25;
  double ddp_timeout_s = 300;
  bool tensorboard = true;
  template <class V>
  void visit(V& v) {
    v("steps", steps, "optimizer steps");
    v("batch_size", batch_size, "sequences per micro-batch, over all ranks (each of N data-parallel ranks takes batch_size / N)");
    v("seq_len", seq_len, "tokens per training sequence");
    v("grad_accum", grad_accum, "micro-batches per optimizer step");
    v("optimizer", optimizer, "a registered optimizer (adamw | sgd) with its options: [train.optimizer] name = ...");
    v("lr", lr, "peak learning rate");
    v("min_lr_ratio", min_lr_ratio, "final learning rate as a fraction of the peak");
    v("warmup_steps", warmup_steps, "linear warmup steps");
    v("schedule", schedule, "a registered decay shape (cosine | linear | constant | wsd): [train.schedule] name = ...");
    v("weight_decay", weight_decay, "decoupled weight decay (matrices only)");
    v("grad_clip", grad_clip, "clip the global gradient norm to this; 0 = off");
    v("on_nonfinite", on_nonfinite, "a NaN/Inf loss or gradient: stop (the last checkpoint is kept) | skip (drop that update)");
    v("precision", precision, "fp32 | bf16 (autocast; fp32 master weights) | auto (the faster on this machine: lmforge info --peak)");
    v("log_every", log_every, "console and log line every N steps");
    v("eval_every", eval_every, "validation every N steps; 0 = only at the end");
    v("eval_batches", eval_batches, "validation batches for the periodic evaluation");
    v("save_every", save_every, "checkpoint every N steps; 0 = only at the end");
    v("keep_last", keep_last, "keep the N most recent saves as checkpoints/step-S (hard links of checkpoint/); 1 = only checkpoint/");
    v("keep_best", keep_best, "an eval metric (valid_loss, valid_ppl, valid_word_ppl, ...): keep the best weights in checkpoint-best/; empty = off");
    v("max_minutes", max_minutes, "time budget; 0 = none. schedule_clock steps: stop (and save) after this many wall-clock minutes of this call; time/auto: the run's training time, evaluation and checkpoints excluded, summed over resumes");
    v("schedule_clock", schedule_clock, "what warmup and decay follow: steps (step / train.steps) | time (the share of train.max_minutes used: the run anneals and ends when the budget does) | auto (steps, until the measured step time says max_minutes ends first, then time)");
    v("ddp_bucket_mb", ddp_bucket_mb, "data parallel: MiB of gradients per all-reduce bucket");
    v("ddp_timeout_s", ddp_timeout_s, "data parallel: seconds before a collective or the rendezvous gives up on a rank");
    v("tensorboard", tensorboard, "write TensorBoard event files (events.out.tfevents.*) beside log.jsonl");
  }
};

struct EvalConfig {
  int64_t context = 0;  // 0: train.seq_len
  int64_t stride = 0;   // 0: context / 2
  template <class V>
  void visit(V& v) {
    v("context", context, "sliding-window length for perplexity; 0 = train.seq_len");
    v("stride", stride, "new tokens scored per window; 0 = context / 2");
  }
};

struct RunConfig {
  RunSection run;
  DataConfig data;
  ModelConfig model;
  TrainConfig train;
  EvalConfig eval;
};

RunConfig parse_run_config(const toml::table& t);
toml::table run_config_to_toml(const RunConfig& c);
// Resolves a data path: absolute, relative to data.dir, to the working directory, or to
// ../shared/data beside the source tree. Empty stays empty.
std::string resolve_data_path(const DataConfig& d, const std::string& p);

}  // namespace lmforge
