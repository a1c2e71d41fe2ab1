#include "lmforge/train/loss.h"

#include "lmforge/models/language_model.h"

namespace lmforge {

std::pair<at::Tensor, int64_t> lm_loss_sum(const LanguageModel& model, const at::Tensor& hidden, const at::Tensor& targets) {
  at::Tensor h = hidden.reshape({-1, hidden.size(-1)});
  at::Tensor y = targets.reshape({-1});
  const int64_t n = (y != -100).sum().item<int64_t>();
  // Sparse targets (MLM scores 15-30% of the positions): project only the scored rows, as
  // MosaicBERT's subset_idx does for its MLM head; the output projection is the costliest matmul.
  if (n * 2 < y.size(0)) {
    at::Tensor rows = (y != -100).nonzero().squeeze(1);
    h = h.index_select(0, rows);
    y = y.index_select(0, rows);
  }
  return {model.loss_sum(h, y), n};
}

std::pair<int64_t, int64_t> lm_accuracy(const LanguageModel& model, const at::Tensor& hidden, const at::Tensor& targets) {
  at::Tensor y = targets.reshape({-1});
  at::Tensor mask = y != -100;
  at::Tensor pred = model.logits(hidden.reshape({-1, hidden.size(-1)})).argmax(-1);
  return {((pred == y) & mask).sum().item<int64_t>(), mask.sum().item<int64_t>()};
}

}  // namespace lmforge
