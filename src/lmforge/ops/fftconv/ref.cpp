// The FFT convolution oracle in plain ATen (FlashFFTConv's reference: rfft with n >= L + Lk - 1,
// pointwise product, irfft), and the direct O(L Lk) causal convolution that checks it.
// Why plain ATen: obviously right, differentiable by autograd, the yardstick of every fast path.
#include "lmforge/ops/fftconv/op.h"

#include <cmath>

#include "lmforge/core/error.h"
#include "lmforge/ops/fftconv/plan.h"

namespace lmforge {

int64_t fftconv_size(int64_t L, int64_t Lk) {
  int64_t n = 1;
  while (n < L + Lk - 1) n <<= 1;
  return n;
}

std::vector<uint8_t> fftconv_keep_rows(int64_t N, double sparsity) {
  const fftk::FftPlan& p = fftk::fft_plan(N);
  const int64_t r = p.radix[0];
  std::vector<uint8_t> keep(r, 1);
  if (sparsity <= 0) return keep;
  const double bound = (1.0 - sparsity) * r / 2.0;
  for (int64_t c = 0; c < r; ++c) keep[c] = std::min(c, r - c) <= bound + 1e-9;
  return keep;
}

at::Tensor fftconv_freq_mask(int64_t N, double sparsity, at::ScalarType dtype) {
  std::vector<uint8_t> keep = fftconv_keep_rows(N, sparsity);
  const int64_t r = static_cast<int64_t>(keep.size());
  at::Tensor m = at::empty({N / 2 + 1}, at::kDouble);
  double* d = m.data_ptr<double>();
  for (int64_t f = 0; f <= N / 2; ++f) d[f] = keep[f % r];
  return m.to(dtype);
}

at::Tensor fftconv_ref(const at::Tensor& u, const at::Tensor& k, const at::Tensor& pre, const at::Tensor& post,
                       const at::Tensor& D, const FftConvOptions& o) {
  const at::ScalarType out = u.scalar_type(), cdt = out == at::kDouble ? at::kDouble : at::kFloat;
  at::Tensor v = u.to(cdt);
  if (pre.defined()) v = v * pre.to(cdt);
  at::Tensor kk = k.to(cdt);
  if (o.partial > 0 && o.partial < kk.size(-1)) kk = kk.narrow(-1, 0, o.partial);
  const int64_t L = u.size(-1), N = fftconv_size(L, kk.size(-1));
  at::Tensor K = at::fft_rfft(kk, N);
  if (o.sparsity > 0) K = K * fftconv_freq_mask(N, o.sparsity, cdt);
  at::Tensor y = at::fft_irfft(at::fft_rfft(v, N) * K, N).narrow(-1, 0, L);
  if (D.defined()) y = y + D.to(cdt).unsqueeze(-1) * v;
  if (post.defined()) y = y * post.to(cdt);
  return y.to(out);
}

at::Tensor direct_causal_conv(const at::Tensor& u, const at::Tensor& k) {
  const int64_t L = u.size(-1), Lk = k.size(-1);
  at::Tensor y = at::zeros_like(u);
  for (int64_t j = 0; j < Lk && j < L; ++j)
    y.narrow(-1, j, L - j).add_(u.narrow(-1, 0, L - j) * k.select(-1, j).unsqueeze(-1));
  return y;
}

}  // namespace lmforge
