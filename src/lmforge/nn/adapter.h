// Bottleneck adapter (Houlsby et al., ICML'19), as MEFT uses it (Liao et al., NeurIPS'23,
// models/modules.py of BaohaoLiao/mefts):
//   adapter(x) = W_up dropout(act(W_down x + b_down)) + b_up,   W_down (r x d), W_up (d x r)
// Both weights ~ N(0, 0.02^2), biases 0: unlike LoRA's B, W_up is NOT zero, because MEFT's
// reversible coupling needs a non-degenerate G (MEFT1) and keeps the start close to the
// pretrained function through lambda instead. No residual inside: callers add it where the
// variant puts it (parallel to the FFN, on the attention output, or as a coupling function).
#pragma once
#include <memory>
#include <string>

#include "lmforge/nn/dense.h"

namespace lmforge {

class BottleneckAdapter : public torch::nn::Module {
 public:
  BottleneckAdapter(int64_t d, int64_t r, std::string activation, double dropout);
  at::Tensor forward(const at::Tensor& x) const;

 private:
  std::shared_ptr<Dense> down_, up_;
  std::string act_;
  double dropout_;
};

}  // namespace lmforge
