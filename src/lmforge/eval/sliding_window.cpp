#include "lmforge/eval/sliding_window.h"

#include <algorithm>

#include "lmforge/core/error.h"

namespace lmforge {

std::vector<Window> sliding_windows(int64_t n, int64_t context, int64_t stride) {
  LMF_REQUIRE(context >= 1, ConfigError, "eval.context must be >= 1, got ", context);
  LMF_REQUIRE(stride >= 1 && stride <= context, ConfigError, "eval.stride must be in [1, context = ", context,
              "], got ", stride);
  std::vector<Window> w;
  if (n <= 0) return w;
  int64_t scored = 0;  // targets 1..scored are done
  int64_t hi = std::min(context, n);
  while (true) {
    const int64_t lo = std::max<int64_t>(0, hi - context);
    w.push_back({lo, hi, scored + 1});
    scored = hi;
    if (hi >= n) break;
    hi = std::min(hi + stride, n);
  }
  return w;
}

}  // namespace lmforge
