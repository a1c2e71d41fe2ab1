// Block-wise dynamic 8-bit quantisation; see blockwise_quant.h.
#include "lmforge/train/optimizers/blockwise_quant.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

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

// Where the search for x's code may start: codes are sorted, so a table over the top 17 bits of
// x's float pattern (sign, exponent, 8 mantissa bits) gives, per bucket of floats, the first code
// >= the bucket's smallest value. A bucket is narrower than the spacing of the codes, so one
// branch-free step from there reaches the first code >= x (adam_kernel.inc, nearest_code): the
// same answer as std::lower_bound over the 256 codes, without its eight unpredictable branches.
std::vector<uint8_t> make_search_starts(const float* book) {
  std::vector<uint8_t> start(size_t{1} << (32 - kQuantSearchShift));
  for (uint32_t key = 0; key < start.size(); ++key) {
    const uint32_t lo_bits = key << kQuantSearchShift, mask = (1u << kQuantSearchShift) - 1;
    // The smallest float of the bucket: the least magnitude when positive, the largest when negative.
    const uint32_t bits = (lo_bits & 0x80000000u) ? (lo_bits | mask) : lo_bits;
    float smallest;
    std::memcpy(&smallest, &bits, 4);
    const int64_t at = std::isnan(smallest) ? 0 : std::lower_bound(book, book + 256, smallest) - book;
    start[key] = static_cast<uint8_t>(std::min<int64_t>(at, 255));
  }
  return start;
}

}  // namespace

void adam_step_8bit(QuantizedTensor& m, QuantizedTensor& v, const at::Tensor& grad, const AdamCoeffs& c, float* dir,
                    float* w) {
  TORCH_CHECK(grad.device().is_cpu(), "8-bit optimizer states run on the CPU only (gradient on ", grad.device(), ")");
  at::Tensor g = grad.detach().to(at::kFloat).contiguous().reshape({-1});
  const int64_t n = g.numel();
  TORCH_CHECK(m.codes.numel() == n && v.codes.numel() == n && v.absmax.numel() == m.absmax.numel(),
              "adam_step_8bit: moments and gradient differ in size");
  static const std::vector<uint8_t> starts_s = make_search_starts(dynamic_codebook(true).data_ptr<float>()),
                                    starts_u = make_search_starts(dynamic_codebook(false).data_ptr<float>());
  const Quant8Tables t{dynamic_codebook(true).data_ptr<float>(), dynamic_codebook(false).data_ptr<float>(),
                       starts_s.data(), starts_u.data()};
  adam_fused_8bit(m.codes.data_ptr<uint8_t>(), v.codes.data_ptr<uint8_t>(), m.absmax.data_ptr<float>(),
                  v.absmax.data_ptr<float>(), g.data_ptr<float>(), n, c, t, dir, w);
}

}  // namespace lmforge
