// LoRA adapter; see lora.h.
#include "lmforge/nn/lora.h"

#include <cmath>

#include "lmforge/core/error.h"
#include "lmforge/nn/dense.h"

namespace lmforge {

LoraAdapter::LoraAdapter(int64_t in, int64_t out, int64_t rank, double alpha, double dropout)
    : scale_(alpha / static_cast<double>(rank)), dropout_(dropout) {
  A = register_parameter("A", at::empty({rank, in}));
  B = register_parameter("B", at::zeros({out, rank}));
  // Kaiming-uniform with a = sqrt(5), as torch.nn.Linear and the LoRA reference (loralib) draw A:
  // bound = 1/sqrt(in).
  torch::NoGradGuard g;
  const double bound = 1.0 / std::sqrt(static_cast<double>(in));
  A.uniform_(-bound, bound);
}

at::Tensor LoraAdapter::delta(const at::Tensor& x) const {
  const at::Tensor xd = dropout_ > 0 && is_training() ? at::dropout(x, dropout_, true) : x;
  return at::linear(at::linear(xd, A), B) * scale_;
}

void LoraAdapter::merge(Dense& layer) {
  LMF_REQUIRE(!merged_, UserError, "LoRA adapter is already merged into its layer");
  torch::NoGradGuard g;
  layer.weight.add_(at::mm(B, A).to(layer.weight.scalar_type()), scale_);
  merged_ = true;
}

void LoraAdapter::unmerge(Dense& layer) {
  LMF_REQUIRE(merged_, UserError, "LoRA adapter is not merged into its layer");
  torch::NoGradGuard g;
  layer.weight.sub_(at::mm(B, A).to(layer.weight.scalar_type()), scale_);
  merged_ = false;
}

}  // namespace lmforge
