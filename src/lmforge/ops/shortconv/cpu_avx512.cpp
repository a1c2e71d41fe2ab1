// Short-convolution kernels (avx512 build of kernel.inc; the compiler vectorises the 16-channel
// lanes into one AVX-512 register). See op.h and kernel.h.
#include <algorithm>
#include <cstring>

#include "lmforge/ops/shortconv/kernel.h"

namespace lmforge {
namespace sck {
namespace avx512_isa {
#include "lmforge/ops/shortconv/kernel.inc"
}  // namespace avx512_isa

void fwd_avx512(const Args& a, int64_t c0, int64_t c1) { avx512_isa::fwd_dispatch(a, c0, c1); }
void bwd_avx512(const Args& a, int64_t c0, int64_t c1) { avx512_isa::bwd_dispatch(a, c0, c1); }

}  // namespace sck
}  // namespace lmforge
