// Sequence(-pair) classification and regression (GLUE fine-tuning, Devlin et al. 2019) on a
// SequenceClassifier: cross-entropy over the classes, or MSE on one output (STS-B):
//   loss = (1/B) sum_i CE(f(x_i), y_i)      or      (1/B) sum_i (f(x_i) - s_i)^2
// Training batches follow epochs: epoch e visits the examples in a permutation seeded by
// (seed, e), in batches of batch_size, so batch k is a pure function of (seed, k) and a resumed
// or data-parallel run sees exactly the same examples (rank r takes its own rows of each batch).
#pragma once
#include <vector>

#include "lmforge/data/glue_encode.h"
#include "lmforge/train/task.h"

namespace lmforge {

class ClassificationTask : public Task {
 public:
  ClassificationTask(std::vector<EncodedExample> train, bool regression, int64_t batch_size, uint64_t seed,
                     int64_t pad_id);
  int64_t steps_per_epoch() const;
  Batch train_batch(int64_t step, int64_t micro, int rank, int world) override;
  std::vector<Batch> valid_batches(int64_t) override { return {}; }  // dev sets are scored by the caller
  LossSum loss(torch::nn::Module& model, const Batch& b, ForwardContext& ctx) override;
  bool reports_perplexity() const override { return false; }

 private:
  std::vector<EncodedExample> train_;
  bool regression_;
  int64_t batch_size_;
  uint64_t seed_;
  int64_t pad_;
  int64_t cached_epoch_ = -1;
  std::vector<size_t> order_;
};

}  // namespace lmforge
