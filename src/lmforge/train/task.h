// What a run trains on: a source of batches, its vocabulary size and its own metrics.
//   lm:   next-token prediction on a text file (tokenized once into a cached token file)
//   mqar: multi-query associative recall, generated on the fly (no data needed)
// Batches are pure functions of (seed, step, micro-batch, rank): resuming at step s sees exactly
// the batches an uninterrupted run would, and rank r of W takes its own rows of the global batch.
// train.batch_size is the GLOBAL micro-batch: rank r of W gets the rows r, r+W, r+2W, ... of it
// (batch_size / W rows), so the union over ranks is exactly the batch one process would take, and
// the sample sequence does not depend on W (a run may resume with another number of ranks).
#pragma once
#include <memory>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "lmforge/train/run_config.h"

namespace lmforge {

class LanguageModel;
namespace data {
class Tokenizer;
}

struct Batch {
  at::Tensor inputs;   // (B, L) int64
  at::Tensor targets;  // (B, L) int64, -100 where not scored
};

class Task {
 public:
  virtual ~Task() = default;
  virtual int64_t vocab_size() const = 0;
  virtual Batch train_batch(int64_t step, int64_t micro, int rank, int world) = 0;
  // The fixed validation batches used by the periodic evaluation (at most max_batches).
  virtual std::vector<Batch> valid_batches(int64_t max_batches) = 0;
  // Extra metrics beside the loss (MQAR accuracy), computed on the validation batches.
  virtual nlohmann::json extra_metrics(LanguageModel& model, const std::vector<Batch>& batches) { return {}; }
  virtual const data::Tokenizer* tokenizer() const { return nullptr; }
};

// Rows per rank: global_batch / world; ConfigError when world does not divide it.
int64_t rank_batch_size(int64_t global_batch, int world);
// Checks that a config can run on `world` ranks (the batch splits evenly).
void check_world_fits(const RunConfig& cfg, int world);

// Builds the task of a config. For lm, trains the tokenizer into run_dir/tokenizer unless it is
// there already (resume, evaluation), and tokenizes the text files into cached token files.
std::unique_ptr<Task> make_task(const RunConfig& cfg, const std::string& run_dir);

// Mean loss over fixed batches (valid_loss, valid_ppl, valid_tokens) plus the task's extra metrics,
// in eval mode (the model is left in eval mode), without gradients, under `dtype` autocast.
nlohmann::json evaluate_batches(LanguageModel& model, Task& task, const std::vector<Batch>& batches,
                                at::ScalarType dtype, const at::Device& dev);

// Where token files are cached: data.cache_dir, else $XDG_CACHE_HOME/lmforge/tokens
// (~/.cache/lmforge/tokens).
std::string default_token_cache_dir(const DataConfig& d);

}  // namespace lmforge
