#include "lmforge/nn/dense.h"

#include <torch/nn/init.h>

#include "lmforge/core/error.h"
#include "lmforge/nn/lora.h"

namespace lmforge {

Dense::Dense(int64_t in, int64_t out, bool with_bias, double std) {
  weight = register_parameter("weight", at::empty({out, in}));
  torch::NoGradGuard g;
  weight.normal_(0.0, std);
  if (with_bias) bias = register_parameter("bias", at::zeros({out}));
}

at::Tensor Dense::forward(const at::Tensor& x) const {
  at::Tensor y = at::linear(x, weight, bias);
  if (lora_ && !lora_->merged()) y = y + lora_->delta(x);
  return y;
}

void Dense::attach_lora(std::shared_ptr<LoraAdapter> a) {
  LMF_REQUIRE(!lora_, UserError, "this linear layer already has a LoRA adapter");
  lora_ = register_module("lora", std::move(a));
}

Table::Table(int64_t rows, int64_t cols, double std) {
  weight = register_parameter("weight", at::empty({rows, cols}));
  torch::NoGradGuard g;
  weight.normal_(0.0, std);
}

}  // namespace lmforge
