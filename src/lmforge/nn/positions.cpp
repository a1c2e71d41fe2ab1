#include "lmforge/nn/positions.h"

#include <cmath>
#include <vector>

namespace lmforge {

at::Tensor apply_rope(const at::Tensor& x, int64_t offset, double base) {
  const int64_t L = x.size(-2), d = x.size(-1), half = d / 2;
  // Angles in fp32 (fp64 for fp64 inputs, so gradient checks are exact); never in bf16, whose
  // 8-bit mantissa cannot hold pos * freq for positions beyond a few hundred.
  auto opts = at::TensorOptions().dtype(x.scalar_type() == at::kDouble ? at::kDouble : at::kFloat).device(x.device());
  at::Tensor inv_freq = at::pow(base, -at::arange(0, half, opts) * (2.0 / d));
  at::Tensor pos = at::arange(offset, offset + L, opts);
  at::Tensor ang = at::outer(pos, inv_freq);          // (L, half)
  at::Tensor cos = at::cat({ang, ang}, -1).cos().to(x.scalar_type());
  at::Tensor sin = at::cat({ang, ang}, -1).sin().to(x.scalar_type());
  at::Tensor x1 = x.narrow(-1, 0, half), x2 = x.narrow(-1, half, d - half);
  at::Tensor rot = at::cat({-x2, x1}, -1);
  return x * cos + rot * sin;
}

at::Tensor alibi_slopes(int64_t n_heads) {
  auto pow2_slopes = [](int64_t n) {
    std::vector<float> s;
    double start = std::pow(2.0, -8.0 / n);
    for (int64_t i = 0; i < n; ++i) s.push_back(static_cast<float>(std::pow(start, i + 1)));
    return s;
  };
  int64_t p = 1;
  while (p * 2 <= n_heads) p *= 2;
  std::vector<float> s = pow2_slopes(p);
  if (p < n_heads) {
    std::vector<float> extra = pow2_slopes(2 * p);
    for (int64_t i = 0; i < n_heads - p; ++i) s.push_back(extra[2 * i]);
  }
  return at::tensor(s);
}

at::Tensor alibi_bias(const at::Tensor& slopes, int64_t L, int64_t S, int64_t q0, bool causal) {
  auto opts = at::TensorOptions().dtype(at::kFloat).device(slopes.device());
  at::Tensor qi = at::arange(q0, q0 + L, opts).unsqueeze(1);
  at::Tensor kj = at::arange(0, S, opts).unsqueeze(0);
  at::Tensor dist = causal ? (qi - kj).clamp_min(0) : (qi - kj).abs();
  return -slopes.view({-1, 1, 1}) * dist.unsqueeze(0);
}

}  // namespace lmforge
