// A benchmark suite: a matrix of models trained on the same work with the same budget, plus
// optional extra parts (operator timings). Suites are TOML files; the built-in ones live in
// configs/suites/*.toml and are embedded in the binary, and `--suite FILE.toml` takes a user's own.
//
//   description = "..."
//   unavailable = "..."                    # skip the suite with this reason (pieces not wired yet)
//   include = ["quick", "kernels"]         # run these suites first (how `all` is made)
//   [requires]                             # a suite whose pieces are missing is skipped, not failed
//   data = ["wikitext-103/wiki.valid.tokens"]   # paths under --data (or ../shared/data)
//   subcommands = ["glue"]                 # lmforge subcommands it needs
//   [budget]                               # the same for every model; steps, tokens or minutes
//   steps = 300                            # tokens = N: steps = N / (batch * seq_len * grad_accum)
//   minutes = 0                            # wall-clock per model (train.max_minutes)
//   max_minutes = 2                        # safety cap per model on a busy machine (graceful stop)
//   suite_minutes = 8                      # safety cap for the matrix: each model gets 1/N of it
//   [defaults]                             # layered under every model
//   configs = ["mqar"]
//   set = ["train.log_every=10"]
//   [[models]]                             # explicit models: name + configs + overrides
//   name = "attention-rms"
//   set = ["model.block.norm=rmsnorm"]
//   [mixers]                               # plus one model per registered mixer (MixerRegistry)
//   all = true
//   exclude = []
//   set = { attention = ["model.block.attention.n_heads=2"] }   # per-mixer options
//   [eval]
//   text_lines = 2000                      # text tasks: word_ppl on the first N lines of data.valid
//   infer_seconds = 0.5                    # timing budget of the inference measurement
//   [report]                               # how the report reads the results (report/findings.h)
//   lesson = "MQAR tests in-context recall ..."
//   bar = 0.9                              # quality that counts as having learned the task
//   [kernels]
//   enabled = true                         # run `lmforge ops perf --json` and record it
//   args = ["--seconds", "0.2"]
//   [glue]                                 # encoders: after MLM pretraining, fine-tune on GLUE
//   tasks = ["SST-2", "RTE"]               # tasks with a train.tsv under --data/glue (others skipped)
//   corpus = ["wikitext-103/wiki.train.prefix.tokens"]   # pretraining text: these files + the
//   corpus_glue_train = true               #   training texts of the tasks (never dev/test text)
//   epochs = 3                             # fine-tuning, every task ...
//   [glue.task.SST-2]                      # ... unless the task overrides it
//   epochs = 1
//   max_train = 20000
//
// Why a matrix of configs + overrides: any mix of mixers, norms, feed-forwards and optimisers is a
// config, so the suite needs no knowledge of components; new mixers join the mixer sweep by being
// registered.
#pragma once
#include <map>
#include <string>
#include <vector>

#include <toml++/toml.h>

#include "lmforge/core/config.h"
#include "lmforge/eval/glue_finetune_options.h"

namespace lmforge {

struct SuiteModel {
  std::string name;
  std::vector<std::string> configs;
  std::vector<std::string> set;
  template <class V>
  void visit(V& v) {
    v("name", name, "model name in the report");
    v("configs", configs, "presets or files, layered after [defaults].configs");
    v("set", set, "key=value overrides, after [defaults].set");
  }
};

struct SuiteBudget {
  int64_t steps = 0;
  int64_t tokens = 0;
  double minutes = 0;
  double max_minutes = 0;
  double suite_minutes = 0;
  template <class V>
  void visit(V& v) {
    v("steps", steps, "optimizer steps per model (0: the config's)");
    v("tokens", tokens, "training tokens per model (0: unused)");
    v("minutes", minutes, "wall-clock training budget per model (0: unused)");
    v("max_minutes", max_minutes, "safety cap per model: stop and record (0: none)");
    v("suite_minutes", suite_minutes, "safety cap for the whole matrix, shared equally by its models (0: none)");
  }
};

struct SuiteRequires {
  std::vector<std::string> data;
  std::vector<std::string> subcommands;
  template <class V>
  void visit(V& v) {
    v("data", data, "data files the suite needs (relative to --data or ../shared/data)");
    v("subcommands", subcommands, "lmforge subcommands the suite needs");
  }
};

struct SuiteDefaults {
  std::vector<std::string> configs;
  std::vector<std::string> set;
  template <class V>
  void visit(V& v) {
    v("configs", configs, "presets or files under every model");
    v("set", set, "overrides for every model");
  }
};

struct SuiteEval {
  int64_t text_lines = 0;
  double infer_seconds = 0.5;
  template <class V>
  void visit(V& v) {
    v("text_lines", text_lines, "text tasks: score word_ppl on the first N lines of data.valid (0 = all)");
    v("infer_seconds", infer_seconds, "timing budget of the inference-throughput measurement");
  }
};

// [report]: how the report reads the suite (report/findings.h).
struct SuiteReport {
  std::string lesson;
  double bar = 0;
  template <class V>
  void visit(V& v) {
    v("lesson", lesson, "what the suite's task tests, printed before the findings");
    v("bar", bar, "the quality a model must reach to count as having learned the task (0: none)");
  }
};

struct SuiteKernels {
  bool enabled = false;
  std::vector<std::string> args;
  bool peers = false;
  double peer_seconds = 0.3;
  template <class V>
  void visit(V& v) {
    v("enabled", enabled, "run `lmforge ops perf --json`");
    v("args", args, "extra arguments for `lmforge ops perf`");
    v("peers", peers, "also time each case's PyTorch peer (bench/peers/kernels_peer.py, Debian's python3 + torch)");
    v("peer_seconds", peer_seconds, "the peer's timing budget per function");
  }
};

// Fine-tuning settings of the GLUE part: the fields of GlueFinetuneOptions a suite may set (the
// rest -- precision, quiet -- the runner decides); a task's own table overrides them.
struct SuiteGlueFinetune {
  GlueFinetuneOptions options = [] {
    GlueFinetuneOptions o;
    o.lr = 3e-4;  // the tiny encoders of the suite fine-tune best a little hotter than BERT-base's 1e-4
    return o;
  }();
  template <class V>
  void visit(V& v) {
    v("epochs", options.epochs, "fine-tuning epochs");
    v("batch_size", options.batch_size, "fine-tuning batch size");
    v("lr", options.lr, "fine-tuning peak learning rate");
    v("max_train", options.max_train, "a seeded random subset of this many training examples (0 = all)");
    v("max_eval", options.max_eval, "score only the first N dev examples (0 = all)");
    v("max_len", options.max_len, "maximum tokens of an example");
  }
};

struct SuiteGlue {
  std::vector<std::string> tasks;
  std::vector<std::string> corpus;
  bool corpus_glue_train = true;
  SuiteGlueFinetune finetune;                          // the top-level keys of [glue]
  std::map<std::string, SuiteGlueFinetune> per_task;  // [glue.task.NAME]
  bool enabled() const { return !tasks.empty(); }
};

struct SuiteMixers {
  bool all = false;
  std::vector<std::string> exclude;
  std::map<std::string, std::vector<std::string>> set;  // mixer -> overrides
};

struct Suite {
  std::string name;    // "quick" or the file's stem
  std::string source;  // "preset quick" or the file path
  std::string text;    // the TOML as read, for the report
  std::string description;
  std::string unavailable;
  std::vector<std::string> include;
  SuiteRequires requires_;
  SuiteBudget budget;
  SuiteDefaults defaults;
  std::vector<SuiteModel> models;
  SuiteMixers mixers;
  SuiteEval eval;
  SuiteReport report;
  SuiteKernels kernels;
  SuiteGlue glue;
};

// Embedded suites (configs/suites/*.toml, generated by CMake).
std::vector<std::string> suite_names();
const char* suite_text(const std::string& name);  // nullptr when unknown
// bench/peers of the source tree this binary was built from (generated by CMake); the
// LMFORGE_PEERS_DIR environment variable overrides it.
const char* built_in_peers_dir();
// The peers environment's python (scripts/setup-peers.sh: $LMFORGE_PEERS, default
// ~/.cache/lmforge/peers), or "" when it is not installed.
std::string peers_env_python();

// Parses a suite from TOML text (unknown keys are refused with their path).
Suite parse_suite(const std::string& text, const std::string& name, const std::string& source);
// A built-in suite by name, or a TOML file by path.
Suite load_suite(const std::string& name_or_path);

// One model of the expanded matrix: what `lmforge train` gets.
struct PlannedModel {
  std::string name;
  std::vector<std::string> configs;
  std::vector<std::string> set;  // [defaults].set, the model's, the mixer's
};

// Expands [defaults], [[models]] and [mixers] against `mixer_names` (MixerRegistry::names() in the
// binary). An explicit model named like a mixer replaces that mixer's entry. `only` (non-empty)
// keeps the named models; an unknown name is a UserError.
std::vector<PlannedModel> plan_models(const Suite& s, const std::vector<std::string>& mixer_names,
                                      const std::vector<std::string>& only = {});

// The budget as overrides for one model's layered config (tokens need its batch size, seq_len and
// grad_accum). The runner puts them after the model's own overrides and before the user's --set.
// n_models shares suite_minutes.
std::vector<std::string> budget_overrides(const SuiteBudget& b, const toml::table& layered, size_t n_models = 1);

}  // namespace lmforge
