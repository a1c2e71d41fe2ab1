// Softmax attention without the L x S matrix: flash attention on CPU (Dao et al. 2022,
// "FlashAttention: Fast and Memory-Efficient Exact Attention with IO-Awareness"; the loop order and
// the log-sum-exp bookkeeping of FlashAttention-2, Dao 2023).
//
//   y = softmax(scale Q K^T + bias + mask) V,   scale = 1/sqrt(d) by default,
//   bias(i, j) = -slope_h |i - j|               (ALiBi, Press et al. 2022; optional)
//   mask: causal (key j > query i hidden), a sliding window (|i - j| >= window hidden), and key
//   padding (the padded keys of an unpadded batch hidden); a row that sees no key outputs 0.
//
// q is (B, H, L, d), k and v (B, H, S, d): the queries are the last L of the S positions (L = S in
// training, L < S when decoding with a KV cache). Query and key blocks are visited tile by tile with
// an online softmax; the backward recomputes the probabilities from the saved per-row log-sum-exp.
// Memory is O((L + S) d) beyond the inputs and output; work skips the tiles the mask hides (about
// half under causal masking, all but a band under a window). fp32 and bf16 inputs compute in fp32
// (bf16 is widened on entry and the output rounded back); float64 takes the generic kernel (for
// finite differences). Dropout on the probabilities is not fused: the attention mixer takes the
// reference path when it needs dropout.
#pragma once
#include <ATen/ATen.h>

#include "lmforge/ops/isa.h"

namespace lmforge {

struct FlashAttentionOptions {
  bool causal = true;
  int64_t window = 0;       // 0: none; else keys with |i - j| >= window are hidden
  at::Tensor alibi_slopes;  // (H) float, or undefined for no ALiBi bias
  at::Tensor key_padding;   // (B, S) bool, true = a real key; undefined = all keys real
  double scale = 0;         // 0: 1 / sqrt(d)
};

// The public op (dispatches on active_isa(); Isa::ref runs the oracle). Differentiable in q, k, v.
at::Tensor flash_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                           const FlashAttentionOptions& o = {});

// Whether bf16 inputs with head width d run their GEMMs on AMX tiles under `isa` (else on fp32
// copies, or VDPBF16PS under avx512bf16). The mixer's "auto" core asks it (nn/attention.cpp).
bool flash_attention_bf16_tiles(int64_t d, Isa isa);

// The oracle (ref.cpp): the L x S scores in plain ATen, masked, softmax, times v; differentiable by
// autograd (twice). `dropout` > 0 with `training` drops probabilities (the fast path has no dropout).
// It is softmax_attention() below with the ALiBi bias built from o.alibi_slopes.
at::Tensor flash_attention_ref(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                               const FlashAttentionOptions& o = {}, double dropout = 0.0, bool training = false);

// The ATen attention core with any additive bias (broadcastable to (B, H, L, S), or undefined):
// softmax(scale q k^T + bias + mask) v with the masks of attention_hidden_mask(), rows without a
// visible key 0, optional dropout on the probabilities; scale 0 means 1 / sqrt(d). q is (B, H, L, d),
// k and v (B, H, S, d), the queries being the last L of the S positions.
at::Tensor softmax_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, bool causal,
                             int64_t window, const at::Tensor& bias, const at::Tensor& key_padding, double dropout,
                             bool training, double scale = 0.0);

// The (1 or B, 1, L, S) bool mask of hidden keys (true = hidden) of queries that are the last L of S
// positions, or an undefined tensor when nothing is hidden. Shared with nn/attention.cpp.
at::Tensor attention_hidden_mask(int64_t L, int64_t S, bool causal, int64_t window, const at::Tensor& key_padding,
                                 at::Device device);

}  // namespace lmforge
