// Which checkpoints a run keeps besides RUN/checkpoint (always the latest save, the resume point):
//
//   train.keep_last = N (default 1): after each save, RUN/checkpoints/step-<S> becomes a snapshot of
//     RUN/checkpoint and all but the newest N snapshots are removed (N = 1: no snapshots; the latest
//     is checkpoint/ itself). Snapshots are hard links to checkpoint/'s files: a save never rewrites
//     a file in place (it writes a new folder and renames it, train/checkpoint.h), so a snapshot
//     costs no disk until the next save replaces checkpoint/. Where links are refused, files are
//     copied. A snapshot is made under a temporary name and renamed, like a checkpoint.
//   train.keep_best = "METRIC": after each evaluation that improves METRIC (lower is better for
//     losses and perplexities, higher for everything else: accuracy, F1, MCC, correlations), the
//     weights are saved (without optimizer state) to RUN/checkpoint-best with the usual protocol;
//     its state.json and the run's checkpoints record {metric, value, step} as "best", so a resumed
//     run only replaces it with a better one.
// Any snapshot or checkpoint-best folder is a checkpoint folder: glue, eval-lm, generate,
// export-hf take it wherever they take RUN/checkpoint.
#pragma once
#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

namespace lmforge {

// Snapshots RUN/checkpoint as RUN/checkpoints/step-<step, 8 digits> and keeps the newest `keep`.
// keep <= 1 only removes snapshots left by an earlier setting. Throws InputError naming the folder
// when the snapshot cannot be made.
void snapshot_checkpoint(const std::string& run_dir, int64_t step, int64_t keep);

// Whether a smaller value of the metric is the better one: names with a '_'-separated part loss,
// ppl, perplexity, bpb, error, cer or wer, or with bits_per in them.
bool lower_is_better(const std::string& metric);

// The best-so-far of one eval metric.
class BestMetric {
 public:
  // `metric` as configured (train.keep_best); `best` the {metric, value, step} saved with the last
  // checkpoint (null: none yet; another metric's record is ignored with a warning).
  BestMetric(std::string metric, const nlohmann::json& best);
  // Whether `eval` (an evaluation record) improves on the best so far; if so it becomes the best.
  // A metric the evaluation does not report is a ConfigError naming train.keep_best and listing the
  // ones it does report.
  bool update(const nlohmann::json& eval, int64_t step);
  nlohmann::json record() const;  // {metric, value, step}; null before the first update
  const std::string& metric() const { return metric_; }

 private:
  std::string metric_;
  bool lower_;
  bool have_ = false;
  double value_ = 0;
  int64_t step_ = 0;
};

}  // namespace lmforge
