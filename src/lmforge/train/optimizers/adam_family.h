// The Adam variants lmforge implements itself (LibTorch's AdamW stays the "adamw" optimiser):
//   adamw8bit     AdamW with both moments in block-wise 8-bit (blockwise_quant.h)
//   galore        GaLore: Adam on a low-rank projection of each matrix's gradient (low_rank.h)
//   gradnormlorp  GradNormLoRP: weight-normalised matrices, their direction's gradient projected
// One optimiser class with one update rule per parameter, because the pieces combine: GaLore with
// bits = 8 is 8-bit GaLore, and the parameters a projection does not apply to (embeddings, norms,
// biases, classifier heads) take the plain Adam rule inside the same optimiser.
//
// Every rule: w <- (1 - lr wd) w - lr u, with u its update direction; the decay acts on the weight
// before the step, as LibTorch's AdamW does, so that "adamw8bit" with 8-bit off equals "adamw".
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <torch/optim/optimizer.h>
#include <torch/serialize/archive.h>

#include "lmforge/train/optimizer.h"
#include "lmforge/train/optimizers/blockwise_quant.h"

namespace lmforge {

struct AdamHyper {
  double beta1 = 0.9, beta2 = 0.999, eps = 1e-8;
  bool eight_bit = false;  // moments of tensors with >= kMinQuantized entries in 8 bits
};

// Tensors smaller than this keep fp32 moments even in 8-bit mode (the paper's rule: their memory
// is negligible and their statistics are the least smooth).
constexpr int64_t kMinQuantized = 4096;

// Adam's first and second moments of one shape, fp32 or block-wise 8-bit (m signed, v unsigned).
class AdamMoments {
 public:
  AdamMoments() = default;
  AdamMoments(at::IntArrayRef shape, bool eight_bit);
  // Advances the moments with g and returns the bias-corrected direction m^ / (sqrt(v^) + eps) at
  // step t (1-based); in 8-bit mode the moments are dequantised, updated in fp32, requantised
  // (one fused pass either way). CPU only: a gradient elsewhere is a UserError.
  at::Tensor direction(const at::Tensor& g, int64_t t, const AdamHyper& h);
  // An fp32 contiguous CPU weight: advances the moments and applies w <- (1 - lr wd) w - lr
  // direction in one fused pass (adam_kernel.h); false (nothing done) otherwise.
  bool step_weight(at::Tensor& w, const at::Tensor& g, int64_t t, const AdamHyper& h, double lr, double wd);
  int64_t bytes() const;
  void save(torch::serialize::OutputArchive& a, const std::string& prefix) const;
  void load(torch::serialize::InputArchive& a, const std::string& prefix);

 private:
  // The fused kernel (adam_kernel.h) on these moments: d to `dir`, or the weight step into `w`.
  void advance(const at::Tensor& g, const AdamCoeffs& c, float* dir, float* w);

  bool quantized_ = false;
  at::Tensor m_, v_;           // fp32
  QuantizedTensor qm_, qv_;    // 8-bit
};

// How one parameter is updated; see the rule files (adam_family.cpp, galore.cpp, gradnormlorp.cpp).
class ParamRule {
 public:
  virtual ~ParamRule() = default;
  virtual void step(at::Tensor& w, const at::Tensor& grad, double lr, double wd, int64_t t, const AdamHyper& h) = 0;
  virtual int64_t state_bytes() const = 0;
  virtual void save(torch::serialize::OutputArchive& a, const std::string& prefix) const = 0;
  virtual void load(torch::serialize::InputArchive& a, const std::string& prefix) = 0;
};

// Plain AdamW with fp32 or 8-bit moments.
std::unique_ptr<ParamRule> make_adam_rule(const at::Tensor& p, bool eight_bit);

// name, tensor -> its rule
using RuleFactory = std::function<std::unique_ptr<ParamRule>(const std::string& name, const at::Tensor& p)>;

class AdamFamily : public torch::optim::Optimizer {
 public:
  // Groups as make_param_groups builds them (their names select rules); group g's lr is
  // lr x lr_scale, its weight decay its own; betas and eps from h.
  AdamFamily(const std::vector<ParamGroup>& groups, double lr, const AdamHyper& h, const RuleFactory& rule_for);
  at::Tensor step(LossClosure closure = nullptr) override;
  void save(torch::serialize::OutputArchive& a) const override;
  void load(torch::serialize::InputArchive& a) override;
  int64_t state_bytes() const;
  int64_t steps_taken() const { return t_; }

 private:
  AdamHyper h_;
  int64_t t_ = 0;
  std::vector<std::vector<std::unique_ptr<ParamRule>>> rules_;  // [group][param]
};

// Bytes of optimiser state now held: AdamFamily's own count, LibTorch's AdamW/Adam/SGD from their
// per-parameter states (which LibTorch creates at the first step: 0 before it).
int64_t optimizer_state_bytes(const torch::optim::Optimizer& opt);

// Options shared by the Adam-family registrations (visit() into each one's Options struct).
// Defaults as lmforge's "adamw" (train/optimizers/adamw.cpp), so that switching optimiser changes
// only what the switch is about.
struct AdamOptionsBase {
  double beta1 = 0.9, beta2 = 0.95, eps = 1e-8;
  template <class V>
  void visit_adam(V& v) {
    v("beta1", beta1, "first-moment decay");
    v("beta2", beta2, "second-moment decay");
    v("eps", eps, "added to sqrt(v^) in the denominator");
  }
  AdamHyper hyper(bool eight_bit, const std::string& where) const;
};

}  // namespace lmforge
