// The kNN-LM distributions (Khandelwal et al., ICLR'20, eq. 2-3), as tensors, in log space.
//
//   p_kNN(y | c) = sum_{j : v_j = y} exp(-d_j / T) / sum_j exp(-d_j / T)
//   p(y | c)     = lambda * p_kNN(y | c) + (1 - lambda) * p_LM(y | c)
//
// over the k neighbours j of the context vector c (squared L2 distance d_j, stored next token v_j).
// Everything stays in log space: log p_kNN aggregates the neighbours of a token with a max-shifted
// logsumexp (the largest score is exp(0) = 1, so nothing that matters underflows), and the mixture
// is logaddexp(log(1 - lambda) + log p_LM, log lambda + log p_kNN). A token no neighbour carries has
// log p_kNN = -inf; lambda = 0 leaves log p_LM bit for bit (logaddexp(x, -inf) = x).
#pragma once
#include <ATen/ATen.h>

namespace lmforge::retrieval {

// dists (Q, k) squared L2 (fp32), vals (Q, k) int64 token ids in [0, vocab) -> log p_kNN (Q, vocab)
// fp32. Neighbours with a negative value (FAISS's -1: fewer than k found) are left out.
at::Tensor knn_log_probs(const at::Tensor& dists, const at::Tensor& vals, int64_t vocab, double temperature);

// log p_kNN of one token per row, without the (Q, vocab) tensor: targets (Q,) -> (Q,).
at::Tensor knn_target_log_probs(const at::Tensor& dists, const at::Tensor& vals, const at::Tensor& targets,
                                double temperature);

// The mixture in log space; log_p_lm and log_p_knn of the same shape (any), lambda in [0, 1].
at::Tensor interpolate_log_probs(const at::Tensor& log_p_lm, const at::Tensor& log_p_knn, double lambda);

// Entropy (nats) of each row of a log-distribution (..., V); -inf entries contribute 0.
at::Tensor entropy_of_log_probs(const at::Tensor& log_p);

}  // namespace lmforge::retrieval
