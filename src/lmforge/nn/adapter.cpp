// Bottleneck adapter; see adapter.h.
#include "lmforge/nn/adapter.h"

#include "lmforge/ops/activation.h"

namespace lmforge {

BottleneckAdapter::BottleneckAdapter(int64_t d, int64_t r, std::string activation, double dropout)
    : act_(std::move(activation)), dropout_(dropout) {
  down_ = register_module("down", std::make_shared<Dense>(d, r, true, 0.02));
  up_ = register_module("up", std::make_shared<Dense>(r, d, true, 0.02));
}

at::Tensor BottleneckAdapter::forward(const at::Tensor& x) const {
  at::Tensor h = activation(down_->forward(x), act_);
  if (dropout_ > 0 && is_training()) h = at::dropout(h, dropout_, true);
  return up_->forward(h);
}

}  // namespace lmforge
