// Linear attention (Katharopoulos et al. 2020; Hedgehog, Zhang et al. ICLR 2024) on feature-mapped
// queries and keys:
//   causal:     y_t = phi(q_t)^T S_t / (phi(q_t)^T z_t + eps),  S_t = sum_{s<=t} phi(k_s) v_s^T,
//                                                               z_t = sum_{s<=t} phi(k_s)
//   non-causal: the same with the sums over all s.
// The feature map phi is applied by the caller (nn/linear_attention.cpp), so this op sees features:
// phi_q, phi_k (B, H, L, F) and v (B, H, L, D) -> y (B, H, L, D).
// The fast path is chunked (quadratic inside a chunk of `chunk` positions, a carried F x D state
// between chunks), forward and backward (ops/linear_attention/driver.inc), and needs no L x L or
// L x F x D buffer: memory is the inputs, the output, one (B, H, L) denominator and a few F x D
// blocks per thread. Everything accumulates in fp32 (fp64 for double inputs). bf16 inputs take
// the AMX tile kernel under Isa::amx (bf16 in and out, fp32 accumulation and states; memory adds
// an fp32 copy of y kept for the backward); below amx they are widened to fp32 on entry and the
// output rounded back.
#pragma once
#include <ATen/ATen.h>

namespace lmforge {

struct LinearAttentionOptions {
  bool causal = true;
  int64_t chunk = 64;  // positions per chunk of the chunked form
  double eps = 1e-6;   // added to the denominator
};

// The public op (dispatches on active_isa(); Isa::ref runs the masked-quadratic oracle).
at::Tensor linear_attention(const at::Tensor& phi_q, const at::Tensor& phi_k, const at::Tensor& v,
                            const LinearAttentionOptions& o = {});

// Oracles (plain ATen, differentiable by autograd; ref.cpp).
// Parallel form: A = phi_q phi_k^T (lower-triangular when causal), y = A v / (A 1 + eps).
at::Tensor linear_attention_ref(const at::Tensor& phi_q, const at::Tensor& phi_k, const at::Tensor& v,
                                const LinearAttentionOptions& o = {});
// Chunked form in plain ATen (a loop over chunks of o.chunk positions with a carried state): the
// third formulation, and the memory-linear reference of the long-sequence perf cases.
at::Tensor linear_attention_chunked_ref(const at::Tensor& phi_q, const at::Tensor& phi_k, const at::Tensor& v,
                                        const LinearAttentionOptions& o = {});
// Recurrent form: one position at a time through S_t, z_t (causal only; slow, for tests).
at::Tensor linear_attention_recurrent_ref(const at::Tensor& phi_q, const at::Tensor& phi_k, const at::Tensor& v,
                                          double eps = 1e-6);

// Decoding state: S (B, H, F, D) and z (B, H, F), kept in fp32 (fp64 for double inputs) so
// long contexts do not drift in bf16.
struct LinearAttentionState {
  at::Tensor S, z;
  int64_t seen = 0;  // positions absorbed so far
};

// Incremental causal linear attention: absorbs the T new positions (B, H, T, *) into `state` and
// returns their outputs (B, H, T, D). An empty state takes the chunked op for the whole block
// (prefill) and sums its state in one matmul; a non-empty one steps token by token (O(F D) each).
at::Tensor linear_attention_step(const at::Tensor& phi_q, const at::Tensor& phi_k, const at::Tensor& v,
                                 LinearAttentionState& state, const LinearAttentionOptions& o = {});

}  // namespace lmforge
