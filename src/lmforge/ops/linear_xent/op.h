// Fused output projection + cross entropy ("linear cross-entropy").
//
//   loss = sum_t [ logsumexp(h_t W^T) - (h_t W^T)[y_t] ]   over targets y_t != ignore_index
//
// The unfused way forms the (tokens x vocab) logits, their fp32 copy, the log-softmax and its
// gradient: four passes over a matrix that is 64 MB for 2K tokens and an 8K vocabulary. Here the
// rows go through in chunks small enough to stay in cache; for each chunk the forward computes the
// logits, the loss and right away the gradient d logits = softmax - onehot, and folds it into
// dL/dh = dlogits W and dL/dW += dlogits^T h. Backward then only scales those by the upstream
// gradient. Same three GEMMs as the unfused path, no full logits matrix in memory.
// (The gradient-in-forward trick is the one Liger-Kernel's FusedLinearCrossEntropy uses on GPUs.)
// Under bf16 autocast the GEMMs run in bf16 (as F.linear would) and everything else in fp32.
#pragma once
#include <ATen/ATen.h>

namespace lmforge {

// h (N, D), weight (V, D), targets (N,) int64. Returns the fp32 scalar sum of token losses.
at::Tensor linear_cross_entropy_sum(const at::Tensor& h, const at::Tensor& weight, const at::Tensor& targets,
                                    int64_t ignore_index = -100);

// The oracle: at::linear then at::cross_entropy_loss (sum), differentiable by autograd.
at::Tensor linear_cross_entropy_sum_ref(const at::Tensor& h, const at::Tensor& weight, const at::Tensor& targets,
                                        int64_t ignore_index = -100);

}  // namespace lmforge
