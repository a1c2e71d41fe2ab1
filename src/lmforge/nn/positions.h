// Position encodings used inside attention.
//
// RoPE (Su et al. 2021, "RoFormer"): rotate pairs of query/key channels by angle
// pos * base^(-2i/d). We use the half-split layout of GPT-NeoX: channel i pairs with i + d/2,
//   rope(x) = x * cos + rotate_half(x) * sin,   rotate_half([x1, x2]) = [-x2, x1].
// ALiBi (Press et al. 2022, "Train Short, Test Long"): add -m_h * |i - j| to the attention
// scores, with head slopes m_h = 2^(-8 h / H) (geometric; the non-power-of-two rule of the paper
// interleaves slopes from the next power of two).
#pragma once
#include <ATen/ATen.h>

namespace lmforge {

// x: (B, H, L, Dh); positions offset .. offset + L - 1.
at::Tensor apply_rope(const at::Tensor& x, int64_t offset, double base);

// (H,) slopes.
at::Tensor alibi_slopes(int64_t n_heads);

// (H, L, S) additive bias for queries at positions q0..q0+L-1 and keys 0..S-1.
at::Tensor alibi_bias(const at::Tensor& slopes, int64_t L, int64_t S, int64_t q0, bool causal);

}  // namespace lmforge
