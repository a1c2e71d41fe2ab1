// FFT convolution kernels for AVX2 + FMA: the portable Monarch kernels of driver.inc, vectorised
// by the compiler for 256-bit registers (compiled with -mavx2 -mfma). See kernel.h.
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>

#include "lmforge/ops/fftconv/kernel.h"

namespace lmforge {
namespace fftk {
namespace avx2_isa {
#include "lmforge/ops/fftconv/driver.inc"
}  // namespace avx2_isa

void conv_fwd_avx2(const ConvArgs& a, int64_t h0, int64_t h1) { avx2_isa::conv_fwd_dispatch<avx2_isa::Generic>(a, h0, h1); }
void conv_bwd_avx2(const ConvArgs& a, int64_t h0, int64_t h1) { avx2_isa::conv_bwd_dispatch<avx2_isa::Generic>(a, h0, h1); }

}  // namespace fftk
}  // namespace lmforge
