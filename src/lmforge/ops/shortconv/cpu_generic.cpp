// Short-convolution kernels (generic build of kernel.inc; the compiler vectorises the 16-channel
// lanes ). See op.h and kernel.h.
#include <algorithm>
#include <cstring>

#include "lmforge/ops/shortconv/kernel.h"

namespace lmforge {
namespace sck {
namespace generic_isa {
#include "lmforge/ops/shortconv/kernel.inc"
}  // namespace generic_isa

void fwd_generic(const Args& a, int64_t c0, int64_t c1) { generic_isa::fwd_dispatch(a, c0, c1); }
void bwd_generic(const Args& a, int64_t c0, int64_t c1) { generic_isa::bwd_dispatch(a, c0, c1); }

}  // namespace sck
}  // namespace lmforge
