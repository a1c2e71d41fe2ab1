// Next-token prediction on a tokenized text file (data.task = "lm"):
//   loss = -(1/N) sum_t log softmax(h_t W^T)[y_t]   over the scored targets (train/loss.h)
// Trains the tokenizer into RUN_DIR/tokenizer unless it is there (resume, evaluation) and caches
// the token files. Also the data source of mlm (tasks/mlm.cpp), which corrupts its windows.
#pragma once
#include <memory>

#include "lmforge/data/lm_sampler.h"
#include "lmforge/data/token_file.h"
#include "lmforge/data/tokenizer.h"
#include "lmforge/train/task.h"

namespace lmforge {

class LmTask : public Task {
 public:
  LmTask(const RunConfig& cfg, const std::string& run_dir);
  Batch train_batch(int64_t step, int64_t micro, int rank, int world) override;
  std::vector<Batch> valid_batches(int64_t max_batches) override;
  LossSum loss(torch::nn::Module& model, const Batch& b, ForwardContext& ctx) override;
  int64_t vocab_size() const override { return tok_->vocab_size(); }
  const data::Tokenizer* tokenizer() const override { return tok_.get(); }
  double tokens_per_word() const override;

 private:
  RunConfig cfg_;
  std::unique_ptr<data::Tokenizer> tok_;
  std::unique_ptr<data::TokenFile> train_, valid_;
  std::unique_ptr<data::LmSampler> sampler_;
  int rank_ = 0, world_ = 1;
};

// The token-level cross-entropy of a LanguageModel on a batch's scored targets (lm, mqar, mlm and
// the step benchmark share it); `task` names the caller in the error for another kind of model.
LossSum token_loss(torch::nn::Module& model, const Batch& b, ForwardContext& ctx, const char* task);

// Argmax accuracy over the scored targets of fixed batches (MQAR answers, masked tokens).
double token_accuracy(LanguageModel& model, const std::vector<Batch>& batches);

}  // namespace lmforge
