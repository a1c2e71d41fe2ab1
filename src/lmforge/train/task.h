// A task (objective) turns its data into batches and the model's output into a loss and metrics.
// Every kind of training runs on the one loop of train/loop.h with a task:
//   lm     next-token prediction on a text file (tasks/lm.cpp)           registered, data.task = "lm"
//   mqar   multi-query associative recall, generated on the fly          registered, data.task = "mqar"
//   mlm    masked language modelling for encoders                        registered, data.task = "mlm"
//   ditto  lm with DITTO's pseudo-repetition loss mixed in (tasks/ditto.h)  registered, data.task = "ditto"
//   classification / regression of sentence pairs (GLUE fine-tuning; tasks/classification.h)
//   distillation from a teacher (attention maps or logits; tasks/distill.h, lmforge convert)
// Tasks that a config alone describes are registered (TaskRegistry) and take their options from
// the table named after them ([data.mqar], [data.mlm]); the others are built by their subcommand.
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
#include <torch/nn/module.h>

#include "lmforge/core/registry.h"
#include "lmforge/nn/context.h"
#include "lmforge/train/run_config.h"

namespace lmforge {

class LanguageModel;
namespace data {
class Tokenizer;
}

struct Batch {
  at::Tensor inputs;       // (B, L) int64 token ids
  at::Tensor targets;      // LM/MLM: (B, L) int64, -100 where not scored; classification (B) int64; regression (B) float
  at::Tensor segments;     // (B, L) int64 token types, or undefined
  at::Tensor key_padding;  // (B, L) bool, true = real token, or undefined (no padding)
  at::Tensor aux;          // task-specific per-row data (DITTO: (B) unit lengths of repetition rows), or undefined
  // Tokens the model reads (for tokens/s): the real ones when padded.
  int64_t tokens() const;
  Batch to(const at::Device& dev) const;
};

// A loss as a sum and what it sums over (tokens, examples): micro-batches and evaluation batches
// aggregate as sum / count.
struct LossSum {
  at::Tensor sum;  // scalar, differentiable
  int64_t count = 0;
};

class Task {
 public:
  static constexpr const char* kKind = "task";
  virtual ~Task() = default;
  virtual Batch train_batch(int64_t step, int64_t micro, int rank, int world) = 0;
  // The fixed validation batches used by the periodic evaluation (at most max_batches).
  virtual std::vector<Batch> valid_batches(int64_t max_batches) = 0;
  // The objective on one batch (the caller sets autocast and ctx.training). Auxiliary losses the
  // model leaves in ctx (MoE balance, routing) are added by the loop, never by the task.
  virtual LossSum loss(torch::nn::Module& model, const Batch& b, ForwardContext& ctx) = 0;
  // What loss(b).count will be, known before the forward pass: the step all-reduces these counts
  // so that data-parallel ranks divide by the global count. Default: targets that are not -100
  // (integer targets), or one per row (real-valued targets).
  virtual int64_t loss_count(const Batch& b) const;
  // Metrics beside the loss (MQAR accuracy), on the validation batches, in eval mode, no gradients.
  virtual nlohmann::json extra_metrics(torch::nn::Module& model, const std::vector<Batch>& batches) { return {}; }
  // True when exp(valid_loss) is a perplexity worth reporting (token-level likelihoods).
  virtual bool reports_perplexity() const { return true; }
  // Tokens per word of the validation text (words: whitespace items + one end-of-line per line, as
  // eval-lm counts them); > 0 adds valid_word_ppl = exp(valid_loss * tokens_per_word), an estimate
  // from the evaluated windows of what eval-lm reports on the whole file. 0: not a text task.
  virtual double tokens_per_word() const { return 0; }
  // The vocabulary the task's data needs (0: none, e.g. classification heads).
  virtual int64_t vocab_size() const { return 0; }
  virtual const data::Tokenizer* tokenizer() const { return nullptr; }
};

// What a registered task is built from: the whole run config and its run directory.
struct TaskContext {
  const RunConfig* cfg = nullptr;
  std::string run_dir;
};
using TaskRegistry = Registry<Task, TaskContext>;

// Rows per rank: global_batch / world; ConfigError when world does not divide it.
int64_t rank_batch_size(int64_t global_batch, int world);
// Checks that a config can run on `world` ranks (the batch splits evenly).
void check_world_fits(const RunConfig& cfg, int world);

// Builds the task of a config (data.task, its options data.<task>). For text tasks, trains the
// tokenizer into run_dir/tokenizer unless it is there already (resume, evaluation), and tokenizes
// the text files into cached token files.
std::shared_ptr<Task> make_task(const RunConfig& cfg, const std::string& run_dir);

// Mean loss over fixed batches (valid_loss, valid_ppl when the task reports it, valid_tokens) plus
// the task's extra metrics, in eval mode (the model is left in eval mode), without gradients,
// under `dtype` autocast. Auxiliary losses are not part of valid_loss.
nlohmann::json evaluate_batches(torch::nn::Module& model, Task& task, const std::vector<Batch>& batches,
                                at::ScalarType dtype, const at::Device& dev);

// The LanguageModel a token-level task runs, or a UserError naming the task.
LanguageModel& as_language_model(torch::nn::Module& model, const char* task);

// Where token files are cached: data.cache_dir, else $XDG_CACHE_HOME/lmforge/tokens
// (~/.cache/lmforge/tokens).
std::string default_token_cache_dir(const DataConfig& d);

}  // namespace lmforge
