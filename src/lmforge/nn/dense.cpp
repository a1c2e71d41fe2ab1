#include "lmforge/nn/dense.h"

#include <torch/nn/init.h>

namespace lmforge {

Dense::Dense(int64_t in, int64_t out, bool with_bias, double std) {
  weight = register_parameter("weight", at::empty({out, in}));
  torch::NoGradGuard g;
  weight.normal_(0.0, std);
  if (with_bias) bias = register_parameter("bias", at::zeros({out}));
}

Table::Table(int64_t rows, int64_t cols, double std) {
  weight = register_parameter("weight", at::empty({rows, cols}));
  torch::NoGradGuard g;
  weight.normal_(0.0, std);
}

}  // namespace lmforge
