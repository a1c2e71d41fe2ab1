// GLUE-style classification / regression task; see classification.h.
#include "lmforge/train/tasks/classification.h"

#include <algorithm>
#include <numeric>
#include <random>

#include "lmforge/models/sequence_classifier.h"

namespace lmforge {

ClassificationTask::ClassificationTask(std::vector<EncodedExample> train, bool regression, int64_t batch_size,
                                       uint64_t seed, int64_t pad_id)
    : train_(std::move(train)), regression_(regression), batch_size_(batch_size), seed_(seed), pad_(pad_id) {
  LMF_REQUIRE(!train_.empty(), InputError, "classification task: no training examples");
  LMF_REQUIRE(batch_size_ > 0, ConfigError, "classification task: batch size must be positive, got ", batch_size_);
}

int64_t ClassificationTask::steps_per_epoch() const {
  return (static_cast<int64_t>(train_.size()) + batch_size_ - 1) / batch_size_;
}

Batch ClassificationTask::train_batch(int64_t step, int64_t micro, int rank, int world) {
  // Gradient accumulation counts micro-batches as steps of the epoch walk.
  (void)micro;
  const int64_t per_epoch = steps_per_epoch();
  const int64_t epoch = step / per_epoch, k = step % per_epoch;
  if (epoch != cached_epoch_) {
    order_.resize(train_.size());
    std::iota(order_.begin(), order_.end(), 0);
    std::mt19937_64 rng(seed_ * 0x9E3779B97F4A7C15ULL + static_cast<uint64_t>(epoch));
    std::shuffle(order_.begin(), order_.end(), rng);
    cached_epoch_ = epoch;
  }
  const size_t b = static_cast<size_t>(k * batch_size_);
  const size_t e = std::min(order_.size(), b + static_cast<size_t>(batch_size_));
  // Rank r of W: its contiguous share of the batch's rows.
  const size_t n = e - b;
  size_t lo = b + n * static_cast<size_t>(rank) / static_cast<size_t>(world),
         hi = b + n * static_cast<size_t>(rank + 1) / static_cast<size_t>(world);
  if (hi <= lo) lo = e - 1, hi = e;  // a last batch smaller than the world: every rank needs a row
  GlueTensors t = glue_batch(train_, order_, lo, hi, pad_);
  Batch out;
  out.inputs = t.ids, out.segments = t.segments, out.key_padding = t.key_padding;
  out.targets = regression_ ? t.scores : t.labels;
  return out;
}

LossSum ClassificationTask::loss(torch::nn::Module& model, const Batch& b, ForwardContext& ctx) {
  auto* clf = dynamic_cast<SequenceClassifier*>(&model);
  LMF_REQUIRE(clf, UserError, "classification task: the model is a ", model.name(), ", not a SequenceClassifier");
  at::Tensor y = clf->forward(b.inputs, b.segments, b.key_padding, ctx).to(at::kFloat);
  const int64_t B = y.size(0);
  at::Tensor sum = regression_ ? at::mse_loss(y.select(1, 0), b.targets, at::Reduction::Sum)
                               : at::cross_entropy_loss(y, b.targets, {}, at::Reduction::Sum, -100);
  return {sum, B};
}

}  // namespace lmforge
