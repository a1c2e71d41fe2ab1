// Monarch matrices (Dao et al., ICML 2022, "Monarch: Expressive Structured Matrices for Efficient
// and Accurate Training"): M = P_out * BlockDiag(W2) * P * BlockDiag(W1), in the convention of
// HazyResearch/fly's blockdiag_butterfly_multiply:
//   x in R^n, W1: (k, q, p) with k*p = n, W2: (l, s, r) with l*r = k*q, output m = l*s.
//   1) Y1[i] = W1[i] * x[i*p : (i+1)*p]            (k blocks of q outputs, flat index i*q + j)
//   2) X2[l_i, r_i] = Y1flat[r_i * l + l_i]          (the stride permutation P)
//   3) Y2[l_i] = W2[l_i] * X2[l_i]                   (l blocks of s outputs)
//   4) y[s_i * l + l_i] = Y2[l_i, s_i]               (the output permutation P_out)
// Cost 2*(n*q + m*r) FLOPs per row instead of 2*n*m: with 4 blocks, 2x (square) to 3.2x (d -> 4d)
// fewer than the dense layer.
#pragma once
#include <ATen/ATen.h>

namespace lmforge {

// x: (..., n), w1: (k, q, p), w2: (l, s, r), bias: (m) or undefined -> (..., m).
// Differentiable in x, w1, w2, bias. Under CPU/CUDA autocast the inputs are cast to the autocast
// dtype (like a linear layer). Dispatch: Isa::ref runs the oracle, every other ISA the fast path
// (two batched block GEMMs on contiguous per-block activations, hand-written backward).
at::Tensor monarch_linear(const at::Tensor& x, const at::Tensor& w1, const at::Tensor& w2, const at::Tensor& bias = {});

// The oracle: plain ATen (reshape/permute + einsum), differentiable by autograd.
at::Tensor monarch_linear_ref(const at::Tensor& x, const at::Tensor& w1, const at::Tensor& w2, const at::Tensor& bias = {});

// The dense (m, n) matrix M with monarch_linear(x) == x M^T (materialised through the oracle).
at::Tensor monarch_to_dense(const at::Tensor& w1, const at::Tensor& w2);

// Projection of a dense (m, n) matrix onto the Monarch matrices with the shapes of w1 (k,q,p) and
// w2 (l,s,r): returns {W1, W2} minimising ||M - monarch(W1, W2)||_F. Closed form (the paper's
// Algorithm 1, generalised as in fly's blockdiag_butterfly_project_einsum_rank): block (l_i, k_i) of
// M, an (s x p) matrix, is a sum of the outer products W2[l_i][:, r] W1[k_i][j, :] over the middle
// indices f = k_i*q + j = r*l + l_i; every parameter row/column belongs to exactly one block, so the
// best fit is the truncated SVD of each block at the rank = number of such f (1 for the square
// sqrt(n) Monarch, q/l for nblocks-4 layers). Exact when M is a Monarch matrix of these shapes.
std::pair<at::Tensor, at::Tensor> monarch_project(const at::Tensor& dense, at::IntArrayRef w1_shape,
                                                  at::IntArrayRef w2_shape);

}  // namespace lmforge
