// Block-wise dynamic 8-bit quantisation; see blockwise_quant.h.
#include "lmforge/train/optimizers/blockwise_quant.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

#include <ATen/Parallel.h>

namespace lmforge {

namespace {

// 7 decades of magnitude: level i (0..6) covers [0.1, 1] x 10^(i-6) with 2^i fractions (signed) or
// 2^(i+1) (unsigned), each the midpoint of an equal split of (0.1, 1]. Signed: 2 x 127 codes,
// unsigned: 254; plus 0 and 1 = 256.
at::Tensor make_codebook(bool is_signed) {
  std::vector<float> codes = {0.0f, 1.0f};
  const int levels = 7;
  for (int i = 0; i < levels; ++i) {
    const int n = is_signed ? (1 << i) : (1 << (i + 1));
    const double scale = std::pow(10.0, i - (levels - 1));
    for (int k = 0; k < n; ++k) {
      const double lo = 0.1 + 0.9 * k / n, hi = 0.1 + 0.9 * (k + 1) / n;
      const float c = static_cast<float>(scale * 0.5 * (lo + hi));
      codes.push_back(c);
      if (is_signed) codes.push_back(-c);
    }
  }
  std::sort(codes.begin(), codes.end());
  return at::tensor(codes, at::kFloat);
}

}  // namespace

const at::Tensor& dynamic_codebook(bool is_signed) {
  static const at::Tensor s = make_codebook(true), u = make_codebook(false);
  return is_signed ? s : u;
}

QuantizedTensor quantize_blockwise(const at::Tensor& x, bool is_signed) {
  QuantizedTensor q;
  q.is_signed = is_signed;
  q.shape = x.sizes().vec();
  at::Tensor flat = x.detach().to(at::kFloat).reshape({-1});
  const int64_t n = flat.numel(), blocks = (n + kQuantBlock - 1) / kQuantBlock;
  at::Tensor padded = n == blocks * kQuantBlock ? flat : at::constant_pad_nd(flat, {0, blocks * kQuantBlock - n});
  at::Tensor rows = padded.view({blocks, kQuantBlock});
  q.absmax = rows.abs().amax(1);
  at::Tensor scaled = rows / q.absmax.clamp_min(1e-30).unsqueeze(1);  // in [-1, 1]
  // Nearest code: the insertion point and its left neighbour, whichever is closer.
  const at::Tensor& book = dynamic_codebook(is_signed);
  at::Tensor hi = at::searchsorted(book, scaled).clamp(1, book.numel() - 1);
  at::Tensor lo = hi - 1;
  at::Tensor pick_hi = (book.index({hi}) - scaled).abs() < (scaled - book.index({lo})).abs();
  q.codes = at::where(pick_hi, hi, lo).to(at::kByte).reshape({-1}).narrow(0, 0, n).contiguous();
  return q;
}

at::Tensor dequantize_blockwise(const QuantizedTensor& q) {
  const int64_t n = q.codes.numel(), blocks = q.absmax.numel();
  at::Tensor vals = dynamic_codebook(q.is_signed).index({q.codes.to(at::kLong)});
  if (n != blocks * kQuantBlock) vals = at::constant_pad_nd(vals, {0, blocks * kQuantBlock - n});
  return (vals.view({blocks, kQuantBlock}) * q.absmax.unsqueeze(1)).reshape({-1}).narrow(0, 0, n).reshape(q.shape);
}

namespace {

// Where the search for x's code may start: codes are sorted, so a table over the top 14 bits of
// x's float pattern (sign, exponent, 5 mantissa bits) gives, per bucket of floats, the first code
// >= the bucket's smallest value; a short scan from there reaches the first code >= x. Same
// answer as std::lower_bound over the 256 codes, in about one step instead of eight branches.
constexpr int kBucketShift = 18;

std::vector<uint8_t> make_search_starts(const float* book) {
  std::vector<uint8_t> start(size_t{1} << (32 - kBucketShift));
  for (uint32_t key = 0; key < start.size(); ++key) {
    const uint32_t lo_bits = key << kBucketShift, mask = (1u << kBucketShift) - 1;
    // The smallest float of the bucket: the least magnitude when positive, the largest when negative.
    const uint32_t bits = (lo_bits & 0x80000000u) ? (lo_bits | mask) : lo_bits;
    float smallest;
    std::memcpy(&smallest, &bits, 4);
    const int64_t at = std::isnan(smallest) ? 0 : std::lower_bound(book, book + 256, smallest) - book;
    start[key] = static_cast<uint8_t>(std::min<int64_t>(at, 255));
  }
  return start;
}

const std::vector<uint8_t>& search_starts(bool is_signed) {
  static const std::vector<uint8_t> s = make_search_starts(dynamic_codebook(true).data_ptr<float>()),
                                    u = make_search_starts(dynamic_codebook(false).data_ptr<float>());
  return is_signed ? s : u;
}

// The index of the code nearest to x as quantize_blockwise picks it: the first code >= x (clamped
// to 1..255), or its left neighbour when that is at least as close.
inline uint8_t nearest_code(const float* book, const uint8_t* starts, float x) {
  uint32_t bits;
  std::memcpy(&bits, &x, 4);
  int64_t h = starts[bits >> kBucketShift];
  while (h < 256 && book[h] < x) ++h;
  h = std::clamp<int64_t>(h, 1, 255);
  return static_cast<uint8_t>(std::abs(book[h] - x) < std::abs(x - book[h - 1]) ? h : h - 1);
}

}  // namespace

void adam_step_8bit(QuantizedTensor& m, QuantizedTensor& v, const at::Tensor& grad, const Adam8bitCoeffs& c,
                    float* dir, float* w) {
  TORCH_CHECK(grad.device().is_cpu(), "8-bit optimizer states run on the CPU only (gradient on ", grad.device(), ")");
  at::Tensor g = grad.detach().to(at::kFloat).contiguous().reshape({-1});
  const int64_t n = g.numel(), blocks = m.absmax.numel();
  TORCH_CHECK(m.codes.numel() == n && v.codes.numel() == n && v.absmax.numel() == blocks,
              "adam_step_8bit: moments and gradient differ in size");
  const float* gp = g.data_ptr<float>();
  uint8_t* cm = m.codes.data_ptr<uint8_t>();
  uint8_t* cv = v.codes.data_ptr<uint8_t>();
  float* am = m.absmax.data_ptr<float>();
  float* av = v.absmax.data_ptr<float>();
  const float* bs = dynamic_codebook(true).data_ptr<float>();
  const float* bu = dynamic_codebook(false).data_ptr<float>();
  const uint8_t* ss = search_starts(true).data();
  const uint8_t* su = search_starts(false).data();
  at::parallel_for(0, blocks, 1, [&](int64_t b0, int64_t b1) {
    std::vector<float> mb(kQuantBlock), vb(kQuantBlock);
    for (int64_t b = b0; b < b1; ++b) {
      const int64_t i0 = b * kQuantBlock, len = std::min(kQuantBlock, n - i0);
      const float sm = am[b], sv = av[b];
      float top_m = 0, top_v = 0;
      for (int64_t j = 0; j < len; ++j) {
        const int64_t i = i0 + j;
        const float gi = gp[i];
        const float mi = c.beta1 * (bs[cm[i]] * sm) + (1 - c.beta1) * gi;
        const float vi = c.beta2 * (bu[cv[i]] * sv) + (1 - c.beta2) * gi * gi;
        mb[j] = mi, vb[j] = vi;
        top_m = std::max(top_m, std::abs(mi)), top_v = std::max(top_v, vi);
        const float d = (mi / c.bc1) / (std::sqrt(vi) / c.sqrt_bc2 + c.eps);
        if (w) w[i] = w[i] * c.decay - c.lr * d;
        else dir[i] = d;
      }
      am[b] = top_m, av[b] = top_v;
      const float dm = std::max(top_m, 1e-30f), dv = std::max(top_v, 1e-30f);
      for (int64_t j = 0; j < len; ++j) {
        cm[i0 + j] = nearest_code(bs, ss, mb[j] / dm);
        cv[i0 + j] = nearest_code(bu, su, vb[j] / dv);
      }
    }
  });
}

}  // namespace lmforge
