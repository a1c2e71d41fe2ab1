// monarch_mlp: the `mlp` feed-forward with both projections Monarch matrices (Dao et al., ICML 2022;
// fly's configs/model/gpt2_mlp_cfg/bflyblockdiag.yaml uses nblocks = 4):
//   y = M2 act(M1 x + b1) + b2,  M1: d -> h, M2: h -> d  (nn/monarch_linear.h)
// Parameters fc1.{blkdiag1,blkdiag2,bias}, fc2.{...}; `lmforge convert-monarch` maps them to and
// from mlp's fc1.weight / fc2.weight.
#include <cmath>

#include "lmforge/nn/components.h"
#include "lmforge/nn/monarch_linear.h"
#include "lmforge/ops/activation.h"

namespace lmforge {


namespace {

struct MonarchMlpOptions {
  double mult = 4.0;
  int64_t hidden = 0;
  std::string activation = "gelu";
  bool bias = true;
  int64_t nblocks = 4;
  template <class V>
  void visit(V& v) {
    v("mult", mult, "hidden width as a multiple of d_model");
    v("hidden", hidden, "hidden width; 0 = mult * d_model");
    v("activation", activation, "gelu | gelu_tanh | relu | silu");
    v("bias", bias, "biases on the projections");
    v("nblocks", nblocks, "blocks per block-diagonal factor (4 in the paper's GPT-2 runs)");
  }
};

class MonarchMlp : public FeedForward {
 public:
  MonarchMlp(const MonarchMlpOptions& o, const LayerContext& c) : act_(o.activation) {
    check_activation(act_, "monarch_mlp.activation");
    const int64_t h = o.hidden > 0 ? o.hidden : static_cast<int64_t>(std::llround(o.mult * c.d_model));
    fc1_ = register_module("fc1", std::make_shared<MonarchLinear>(c.d_model, h, o.nblocks, o.bias, c.init_std));
    fc2_ = register_module("fc2", std::make_shared<MonarchLinear>(h, c.d_model, o.nblocks, o.bias,
                                                                 c.init_std / std::sqrt(2.0 * c.n_layers)));
  }
  at::Tensor forward(const at::Tensor& x, ForwardContext&) override {
    return fc2_->forward(activation(fc1_->forward(x), act_));
  }
  double flops_per_token() const override { return fc1_->flops_per_row() + fc2_->flops_per_row(); }

 private:
  std::string act_;
  std::shared_ptr<MonarchLinear> fc1_, fc2_;
};

const bool kRegistered = FfnRegistry::add<MonarchMlpOptions>(
    "monarch_mlp", "MLP with Monarch (block-diagonal x permutation x block-diagonal) projections",
    [](const MonarchMlpOptions& o, const LayerContext& c) { return std::make_shared<MonarchMlp>(o, c); });

}  // namespace
}  // namespace lmforge
