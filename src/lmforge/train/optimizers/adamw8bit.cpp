// 8-bit AdamW (Dettmers, Lewis, Shleifer & Zettlemoyer 2022, "8-bit Optimizers via Block-wise
// Quantization"): AdamW's update, with m and v stored between steps in block-wise dynamic 8-bit
// (blockwise_quant.h: blocks of 2048, per-block absmax, signed map for m and unsigned for v) and
// computed in fp32 within the step. Tensors under 4096 entries keep fp32 moments. State: about
// 2 bytes per parameter (+ 8 bytes of absmax per 2048) instead of 8.
//   [train.optimizer]
//   name = "adamw8bit"
//   bits = 8            # 32: the same code path with fp32 moments (equals "adamw")
#include "lmforge/core/error.h"
#include "lmforge/train/optimizers/adam_family.h"

namespace lmforge {
namespace {

struct AdamW8bitConfig : AdamOptionsBase {
  int64_t bits = 8;
  template <class V>
  void visit(V& v) {
    visit_adam(v);
    v("bits", bits, "8 | 32: moments in block-wise 8-bit, or fp32 (for comparison)");
  }
};

const bool kRegistered = OptimizerRegistry::add<AdamW8bitConfig>(
    "adamw8bit", "AdamW with block-wise 8-bit moments (Dettmers et al. 2022)",
    [](const AdamW8bitConfig& o, const OptimizerContext& c) -> std::shared_ptr<torch::optim::Optimizer> {
      LMF_REQUIRE(o.bits == 8 || o.bits == 32, ConfigError, "config key 'train.optimizer.bits': 8 or 32, got ", o.bits);
      const bool eight = o.bits == 8;
      return std::make_shared<AdamFamily>(c.groups, c.lr, o.hyper(eight, "train.optimizer"),
                                          [eight](const std::string&, const at::Tensor& p) { return make_adam_rule(p, eight); });
    });

}  // namespace
}  // namespace lmforge
