// FFT long convolution (FlashFFTConv, Fu et al. 2023; the long convolution of Hyena, Poli et al.
// 2023), with the gates and the skip term of a Hyena step fused in:
//   v = pre * u,   y = post * (causal_conv(v, k[:, :Lk]) + D * v),
//   causal_conv(v, k)[b, h, t] = sum_{j <= t, j < Lk} k[h, j] v[b, h, t - j]
// u, pre, post: (B, H, L); k: (H, Lk0) with Lk0 <= L; D: (H). pre/post/D may be undefined.
// fp32, bf16 (fp32 accumulation inside) and fp64 inputs; differentiable in every input.
// Computed as IFFT(FFT(v) * FFT(k)) with N = next power of two >= L + Lk - 1 (no wrap-around), the
// FFT done as Monarch matrix multiplies on AVX-512 (fp32), one pass per (channel, pair of batch
// elements) kept in cache, the filter spectrum once per channel per call (ops/fftconv/kernel.h).
// Options: `partial` uses only the first taps of k (HyenaDNA-style partial convolution);
// `sparsity` zeroes a fraction of the filter's frequency rows (see fftconv_keep_rows), which lets
// the kernel skip the matching sub-FFTs, so time falls with sparsity.
#pragma once
#include <cstdint>
#include <vector>

#include <ATen/ATen.h>

namespace lmforge {

struct FftConvOptions {
  int64_t partial = 0;  // use only the first `partial` taps of k; 0 = all
  double sparsity = 0;  // fraction of frequency rows zeroed, in [0, 1)
};

at::Tensor fftconv(const at::Tensor& u, const at::Tensor& k, const at::Tensor& pre = {}, const at::Tensor& post = {},
                   const at::Tensor& D = {}, const FftConvOptions& o = {});

// The oracle: rfft with n = N, pointwise product, irfft, in plain ATen (autograd differentiates it).
at::Tensor fftconv_ref(const at::Tensor& u, const at::Tensor& k, const at::Tensor& pre = {},
                       const at::Tensor& post = {}, const at::Tensor& D = {}, const FftConvOptions& o = {});

// The O(L * Lk) direct causal convolution (for tests): y[b,h,t] = sum_j k[h,j] u[b,h,t-j].
at::Tensor direct_causal_conv(const at::Tensor& u, const at::Tensor& k);

// FFT size for L outputs and Lk taps: the next power of two >= L + Lk - 1.
int64_t fftconv_size(int64_t L, int64_t Lk);

// Frequency sparsity: frequencies f are grouped by the row c = f mod r0 of the top Monarch level
// (r0 = its radix; each row is one whole sub-FFT). Row c is kept when min(c, r0 - c) <=
// (1 - sparsity) * r0 / 2; the set is symmetric, so the zeroed filter stays Hermitian and the
// convolution real. sparsity 0 keeps every row.
std::vector<uint8_t> fftconv_keep_rows(int64_t N, double sparsity);
// The same pattern on rfft bins 0..N/2, as a real tensor of 0/1.
at::Tensor fftconv_freq_mask(int64_t N, double sparsity, at::ScalarType dtype = at::kFloat);

}  // namespace lmforge
