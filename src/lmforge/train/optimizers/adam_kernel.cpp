// Dispatch of the fused Adam kernels (adam_kernel.h) on the active ISA.
#include "lmforge/train/optimizers/adam_kernel.h"

#include <algorithm>
#include <cmath>

#include <ATen/Parallel.h>

#include "lmforge/ops/isa.h"

namespace lmforge {

namespace adamk {  // the per-ISA builds of adam_kernel.inc
#define LMF_ADAM_KERNELS(ns)                                                                              \
  namespace ns {                                                                                          \
  void fp32_loop(float*, float*, const float*, int64_t, const AdamCoeffs&, float*, float*);              \
  void eight_bit_block(uint8_t*, uint8_t*, float*, float*, const float*, int64_t, const AdamCoeffs&,       \
                       const Quant8Tables&, float*, float*);                                              \
  }
LMF_ADAM_KERNELS(generic_isa)
LMF_ADAM_KERNELS(avx512_isa)
#undef LMF_ADAM_KERNELS
}  // namespace adamk

namespace {
constexpr int64_t kGrain = 1 << 15;
}  // namespace

AdamCoeffs adam_coeffs(double beta1, double beta2, double eps, int64_t t, double lr, double wd) {
  AdamCoeffs c;
  c.beta1 = static_cast<float>(beta1), c.one_minus_beta1 = static_cast<float>(1 - beta1);
  c.beta2 = static_cast<float>(beta2), c.one_minus_beta2 = static_cast<float>(1 - beta2);
  c.eps = static_cast<float>(eps);
  c.bc1 = static_cast<float>(1 - std::pow(beta1, static_cast<double>(t)));
  c.sqrt_bc2 = static_cast<float>(std::sqrt(1 - std::pow(beta2, static_cast<double>(t))));
  c.lr = static_cast<float>(lr), c.decay = static_cast<float>(1 - lr * wd);
  return c;
}

void adam_fused_fp32(float* m, float* v, const float* g, int64_t n, const AdamCoeffs& c, float* dir, float* w) {
  const auto f = active_isa() >= Isa::avx512 ? adamk::avx512_isa::fp32_loop : adamk::generic_isa::fp32_loop;
  at::parallel_for(0, n, kGrain, [&](int64_t b, int64_t e) {
    f(m + b, v + b, g + b, e - b, c, dir ? dir + b : nullptr, w ? w + b : nullptr);
  });
}

void adam_fused_8bit(uint8_t* cm, uint8_t* cv, float* am, float* av, const float* g, int64_t n, const AdamCoeffs& c,
                     const Quant8Tables& t, float* dir, float* w) {
  const auto f = active_isa() >= Isa::avx512 ? adamk::avx512_isa::eight_bit_block : adamk::generic_isa::eight_bit_block;
  const int64_t blocks = (n + kQuantBlock - 1) / kQuantBlock;
  at::parallel_for(0, blocks, 1, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      const int64_t i = b * kQuantBlock;
      f(cm + i, cv + i, am + b, av + b, g + i, std::min(kQuantBlock, n - i), c, t, dir ? dir + i : nullptr,
        w ? w + i : nullptr);
    }
  });
}

}  // namespace lmforge
