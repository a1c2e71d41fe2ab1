// adam_kernel.inc compiled for the generic path; dispatched by adam_kernel.cpp.
#pragma GCC optimize("O3", "no-math-errno")  // vectorise the loops; sqrt needs no errno
#include <algorithm>
#include <cmath>
#include <cstring>

#include "lmforge/train/optimizers/adam_kernel.h"

namespace lmforge {
namespace adamk {
namespace generic_isa {

#include "lmforge/train/optimizers/adam_kernel.inc"

}  // namespace generic_isa
}  // namespace adamk
}  // namespace lmforge
