// Token-level cross entropy of a language model's outputs, mean over the scored targets
// (target -100 = not scored):  loss = -(1/N) sum_t log softmax(h_t W^T)[y_t]
// Computed by the fused linear cross-entropy (ops/linear_xent): the (tokens x vocab) logits are
// never held whole in memory.
#pragma once
#include <ATen/ATen.h>

namespace lmforge {

class LanguageModel;

// Returns {sum of token losses (fp32 scalar), number of scored tokens}.
std::pair<at::Tensor, int64_t> lm_loss_sum(const LanguageModel& model, const at::Tensor& hidden, const at::Tensor& targets);

// Argmax accuracy on scored targets: {correct, scored}.
std::pair<int64_t, int64_t> lm_accuracy(const LanguageModel& model, const at::Tensor& hidden, const at::Tensor& targets);

}  // namespace lmforge
