// FFT convolution kernels in portable C++ (the float64 path used by the gradient checks, and the
// fallback for CPUs without AVX2). Same Monarch algorithm as the SIMD paths; see kernel.h.
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>

#include "lmforge/ops/fftconv/kernel.h"

namespace lmforge {
namespace fftk {
namespace generic_isa {
#include "lmforge/ops/fftconv/driver.inc"
}  // namespace generic_isa

void conv_fwd_generic(const ConvArgs& a, int64_t h0, int64_t h1) { generic_isa::conv_fwd_dispatch<generic_isa::Generic>(a, h0, h1); }
void conv_bwd_generic(const ConvArgs& a, int64_t h0, int64_t h1) { generic_isa::conv_bwd_dispatch<generic_isa::Generic>(a, h0, h1); }
void fft_generic_f64(const FftPlan& p, double* re, double* im) { generic_isa::fft_whole<generic_isa::Generic, double>(p, re, im); }
void fft_generic_f32(const FftPlan& p, float* re, float* im) { generic_isa::fft_whole<generic_isa::Generic, float>(p, re, im); }

}  // namespace fftk
}  // namespace lmforge
