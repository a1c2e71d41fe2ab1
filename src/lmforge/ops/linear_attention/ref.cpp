// Oracles of linear attention (op.h): the parallel (masked quadratic) form and the recurrent form,
// both plain ATen, so the chunked kernels can be checked against two independent formulations.
#include <algorithm>
#include <vector>

#include "lmforge/ops/linear_attention/op.h"

namespace lmforge {

at::Tensor linear_attention_ref(const at::Tensor& phi_q, const at::Tensor& phi_k, const at::Tensor& v,
                                const LinearAttentionOptions& o) {
  at::Tensor A = at::matmul(phi_q, phi_k.transpose(-2, -1));  // (B, H, L, L)
  if (o.causal) A = A.tril();
  return at::matmul(A, v) / (A.sum(-1, /*keepdim=*/true) + o.eps);
}

at::Tensor linear_attention_chunked_ref(const at::Tensor& phi_q, const at::Tensor& phi_k, const at::Tensor& v,
                                        const LinearAttentionOptions& o) {
  const int64_t L = phi_q.size(2), C = std::max<int64_t>(1, o.chunk);
  at::Tensor S = at::zeros({phi_q.size(0), phi_q.size(1), phi_q.size(3), v.size(3)}, v.options());
  at::Tensor z = at::zeros({phi_q.size(0), phi_q.size(1), 1, phi_q.size(3)}, v.options());
  if (!o.causal) S = at::matmul(phi_k.transpose(-2, -1), v), z = phi_k.sum(2, true);
  std::vector<at::Tensor> ys;
  for (int64_t t0 = 0; t0 < L; t0 += C) {
    const int64_t n = std::min(C, L - t0);
    at::Tensor qc = phi_q.narrow(2, t0, n), kc = phi_k.narrow(2, t0, n), vc = v.narrow(2, t0, n);
    at::Tensor num = at::matmul(qc, S), den = (qc * z).sum(-1, true);
    if (o.causal) {
      at::Tensor A = at::matmul(qc, kc.transpose(-2, -1)).tril();
      num = num + at::matmul(A, vc), den = den + A.sum(-1, true);
      S = S + at::matmul(kc.transpose(-2, -1), vc), z = z + kc.sum(2, true);
    }
    ys.push_back(num / (den + o.eps));
  }
  return at::cat(ys, 2);
}

at::Tensor linear_attention_recurrent_ref(const at::Tensor& phi_q, const at::Tensor& phi_k, const at::Tensor& v,
                                          double eps) {
  const int64_t L = phi_q.size(2);
  at::Tensor S = at::zeros({phi_q.size(0), phi_q.size(1), phi_q.size(3), v.size(3)}, v.options());
  at::Tensor z = at::zeros({phi_q.size(0), phi_q.size(1), phi_q.size(3)}, v.options());
  std::vector<at::Tensor> ys;
  for (int64_t t = 0; t < L; ++t) {
    at::Tensor qt = phi_q.select(2, t), kt = phi_k.select(2, t), vt = v.select(2, t);  // (B, H, F|D)
    S = S + kt.unsqueeze(-1) * vt.unsqueeze(-2);
    z = z + kt;
    at::Tensor num = at::matmul(qt.unsqueeze(-2), S).squeeze(-2);  // (B, H, D)
    at::Tensor den = (qt * z).sum(-1, true) + eps;
    ys.push_back(num / den);
  }
  return at::stack(ys, 2);
}

}  // namespace lmforge
