// adam_kernel.inc compiled for the avx512 path (CMake adds the AVX-512 flags for *_avx512.cpp); dispatched by adam_kernel.cpp.
#pragma GCC optimize("O3", "no-math-errno")  // vectorise the loops; sqrt needs no errno
#include <algorithm>
#include <cmath>
#include <cstring>

#include "lmforge/train/optimizers/adam_kernel.h"

namespace lmforge {
namespace adam_avx512 {

#include "lmforge/train/optimizers/adam_kernel.inc"

}  // namespace adam_avx512
}  // namespace lmforge
