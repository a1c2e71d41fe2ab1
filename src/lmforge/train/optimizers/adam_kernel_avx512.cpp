// adam_kernel.inc compiled for the avx512 path (CMake adds the AVX-512 flags for *_avx512.cpp); dispatched by adam_kernel.cpp.
#pragma GCC optimize("O3", "no-math-errno")  // vectorise the loops; sqrt needs no errno
#include <algorithm>
#include <cmath>
#include <cstring>

#include "lmforge/train/optimizers/adam_kernel.h"

namespace lmforge {
namespace adamk {
namespace avx512_isa {

#include "lmforge/train/optimizers/adam_kernel.inc"

}  // namespace avx512_isa
}  // namespace adamk
}  // namespace lmforge
