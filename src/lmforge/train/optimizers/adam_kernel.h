// Fused per-element Adam kernels of the AdamFamily optimiser (adam_family.h), dispatched on the
// active ISA (ops/isa.h: avx512 or generic; one source, adam_kernel.inc, compiled twice):
//   m <- b1 m + (1 - b1) g;  v <- b2 v + (1 - b2) g^2;  d = (m / bc1) / (sqrt(v) / sqrt(bc2) + eps)
// then either d is written out (for a projected optimiser to map back) or the weight is stepped in
// the same pass, w <- (1 - lr wd) w - lr d. One read and one write of each array, no temporaries:
// the ATen chain allocates four tensor-sized temporaries per step.
// The 8-bit form works on one block of blockwise_quant.h: it dequantises m and v, updates, and
// requantises against the block's new absmax.
#pragma once
#include <cstdint>

namespace lmforge {

// The step's constants in fp32, each computed in double first: 1 - 0.999f in fp32 is off by
// 1.3e-5 relative, which the moments would carry.
struct AdamCoeffs {
  float beta1, one_minus_beta1, beta2, one_minus_beta2, eps;
  float bc1, sqrt_bc2;      // 1 - b1^t, sqrt(1 - b2^t)
  float lr = 0, decay = 1;  // for the weight-stepping form: decay = 1 - lr wd
};
// Step t (1-based); lr and wd only for the weight-stepping form.
AdamCoeffs adam_coeffs(double beta1, double beta2, double eps, int64_t t, double lr = 0, double wd = 0);

// fp32 moments m, v (n entries, in place); d to `dir`, or with `w` the weight step instead.
// Both functions split the work over the intra-op threads.
void adam_fused_fp32(float* m, float* v, const float* g, int64_t n, const AdamCoeffs& c, float* dir, float* w);

// Entries per block of the 8-bit states (blockwise_quant.h): one absmax each.
constexpr int64_t kQuantBlock = 2048;

// The codebooks (256 sorted codes, signed and unsigned) and their search-start tables.
struct Quant8Tables {
  const float *book_s, *book_u;
  const uint8_t *starts_s, *starts_u;
};
constexpr int kQuantSearchShift = 15;  // starts tables are indexed by the float's bits >> 15

// 8-bit moments of n entries in blocks of 2048: codes cm/cv and block scales am/av in place.
void adam_fused_8bit(uint8_t* cm, uint8_t* cv, float* am, float* av, const float* g, int64_t n, const AdamCoeffs& c,
                     const Quant8Tables& t, float* dir, float* w);

}  // namespace lmforge
