// Flash attention for bf16 inputs on AMX tiles (TDPBF16PS: fp32 C += bf16 A x bf16 B).
// At 64 x 64 tiles one tile product takes well under a microsecond, so nothing may be packed per
// product that can be packed once: per (batch, head) slice the operands are laid out once, in bf16,
// zero-padded to whole 64-row blocks (and d to a multiple of 32):
//   Q, dO  row-major (L x d)          the A of S = Q K^T and dP = dO V^T
//   Q^T, dO^T row-major (d x L)       the A of dK^T += Q^T dS and dV^T += dO^T P
//   K^T, V^T in pairs along d         the B of S = Q K^T and dP = dO V^T
//   K, V   in pairs along the keys    the B of dQ += dS K and O += P V
// and per block only P and dS are converted (row-major as an A, in pairs along the rows as a B).
// The online softmax, the masks and the log-sum-exp are driver.inc's and avx512_common.inc's (fp32),
// so this path rounds exactly what the GPU flash kernels round: the inputs (already bf16), P and dS.
// Needs d % 32 == 0 (op.cpp falls back to the fp32 kernel otherwise). Outputs y, dq, dk, dv in fp32.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>
#include <vector>

#include "lmforge/ops/flash_attn/kernel.h"

namespace lmforge {
namespace fak {
namespace {

#include "lmforge/ops/flash_attn/driver.inc"

#include "lmforge/ops/flash_attn/avx512_common.inc"

#include "lmforge/ops/amx_tiles.inc"

using bf16 = uint16_t;

int64_t round_up(int64_t x, int64_t m) { return (x + m - 1) / m * m; }

// n rows of D bf16 (row stride ld) -> dst (n_pad x D, row-major), rows >= n zero.
void copy_rows(const bf16* src, int64_t n, int64_t D, int64_t ld, int64_t n_pad, bf16* dst) {
  for (int64_t j = 0; j < n; ++j) std::memcpy(dst + j * D, src + j * ld, D * sizeof(bf16));
  std::memset(dst + n * D, 0, (n_pad - n) * D * sizeof(bf16));
}

// X^T row-major (D x n_pad) from X (n_pad x D row-major).
void transpose_bf16(const bf16* X, int64_t n_pad, int64_t D, bf16* XT) {
  for (int64_t j = 0; j < n_pad; ++j)
    for (int64_t d = 0; d < D; ++d) XT[d * n_pad + j] = X[j * D + d];
}

// X (n_pad x D row-major) -> pairs along d: out[dp * n_pad + j] = X[j, 2dp] | X[j, 2dp+1] << 16,
// which is row j read as D/2 words, transposed.
void pairs_along_d(const bf16* X, int64_t n_pad, int64_t D, uint32_t* out) {
  for (int64_t j = 0; j < n_pad; ++j) {
    const uint32_t* w = reinterpret_cast<const uint32_t*>(X + j * D);
    for (int64_t dp = 0; dp < D / 2; ++dp) out[dp * n_pad + j] = w[dp];
  }
}

// X (n_pad x D row-major, n_pad even) -> pairs along the rows: out[jp * D + d] = X[2jp, d] | X[2jp+1, d] << 16.
void pairs_along_rows(const bf16* X, int64_t n_pad, int64_t D, uint32_t* out) {
  for (int64_t jp = 0; jp < n_pad / 2; ++jp)
    for (int64_t d = 0; d < D; ++d)
      out[jp * D + d] = uint32_t(X[2 * jp * D + d]) | (uint32_t(X[(2 * jp + 1) * D + d]) << 16);
}

// fp32 (rows x cols, ld) -> bf16 row-major (rows x cols), round to nearest even.
void to_bf16_rows(const float* src, int64_t rows, int64_t cols, int64_t ld, bf16* dst) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; c += 16) {
      const __mmask16 m = tail_mask(cols - c);
      const __m256i h = (__m256i)_mm512_cvtneps_pbh(_mm512_maskz_loadu_ps(m, src + r * ld + c));
      _mm256_mask_storeu_epi16(dst + r * cols + c, m, h);
    }
}

inline float bf16_to_float(bf16 x) {
  const uint32_t u = uint32_t(x) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

struct Slice {
  int64_t b, h;
  const uint8_t* pad;
  float slope;
};

Slice slice_of(const FaArgs& a, int64_t bh) {
  const int64_t b = bh / a.H, h = bh % a.H;
  return {b, h, a.key_padding ? a.key_padding + b * a.S : nullptr, a.slopes ? a.slopes[h] : 0.f};
}

// Zeroes the rows >= rows and the columns >= cols of a kBr x kBc block (the tile products read the
// whole block; padded rows and keys must contribute nothing).
void clear_outside(float* s, int64_t rows, int64_t cols) {
  for (int64_t r = 0; r < kBr; ++r) {
    float* sr = s + r * kBc;
    if (r >= rows) std::fill(sr, sr + kBc, 0.f);
    else std::fill(sr + cols, sr + kBc, 0.f);
  }
}

}  // namespace

void fa_fwd_amx_bf16(const FaArgs& a, int64_t bh0, int64_t bh1) {
  TileScope tiles;
  const int64_t L = a.L, S = a.S, D = a.D, off = S - L;
  const int64_t Lp = round_up(L, kBr), Sp = round_up(S, kBc);
  const float scale = static_cast<float>(a.scale);
  std::vector<bf16> qp(Lp * D), kb(Sp * D), vb(Sp * D), pb(kBr * kBc);
  std::vector<uint32_t> ktp(D / 2 * Sp), vp(Sp / 2 * D);
  std::vector<float> s(kBr * kBc), o(kBr * D), m(kBr), l(kBr);
  for (int64_t bh = bh0; bh < bh1; ++bh) {
    const Slice sl = slice_of(a, bh);
    copy_rows(at_row<bf16>(a.q, sl.b, sl.h, 0), L, D, a.q.sn, Lp, qp.data());
    copy_rows(at_row<bf16>(a.k, sl.b, sl.h, 0), S, D, a.k.sn, Sp, kb.data());
    copy_rows(at_row<bf16>(a.v, sl.b, sl.h, 0), S, D, a.v.sn, Sp, vb.data());
    pairs_along_d(kb.data(), Sp, D, ktp.data());
    pairs_along_rows(vb.data(), Sp, D, vp.data());
    float* y = at_row<float>(a.y, sl.b, sl.h, 0);
    float* lse = a.lse + bh * L;
    for (int64_t i0 = 0; i0 < L; i0 += kBr) {
      const int64_t rows = std::min(kBr, L - i0);
      const int64_t lo = keys_of(a, off + i0).lo, hi = keys_of(a, off + i0 + rows - 1).hi;
      std::fill(m.begin(), m.end(), neg_inf<float>());
      std::fill(l.begin(), l.end(), 0.f);
      std::fill(o.begin(), o.end(), 0.f);
      for (int64_t j0 = lo / kBc * kBc; j0 < hi; j0 += kBc) {
        const int64_t cols = std::min(kBc, hi - j0);
        tile_gemm(kBr, kBc, D, qp.data() + i0 * D, D, ktp.data() + j0, Sp, s.data(), kBc, false);
        softmax_block<float, Avx512>(a, s.data(), i0, rows, j0, cols, sl.pad, scale, sl.slope, m.data(), l.data(),
                                     o.data());
        clear_outside(s.data(), rows, cols);
        to_bf16_rows(s.data(), kBr, kBc, kBc, pb.data());
        tile_gemm(kBr, D, kBc, pb.data(), kBc, vp.data() + j0 / 2 * D, D, o.data(), D, true);  // O += P V
      }
      finish_rows(y + i0 * a.y.sn, a.y.sn, lse + i0, rows, D, m.data(), l.data(), o.data());
    }
  }
}

void fa_bwd_amx_bf16(const FaArgs& a, int64_t bh0, int64_t bh1) {
  TileScope tiles;
  const int64_t L = a.L, S = a.S, D = a.D, off = S - L;
  const int64_t Lp = round_up(L, kBr), Sp = round_up(S, kBc);
  const float scale = static_cast<float>(a.scale);
  std::vector<bf16> qp(Lp * D), qt(D * Lp), gp(Lp * D), gt(D * Lp), kb(Sp * D), vb(Sp * D), dsb(kBr * kBc),
      pbr(kBr * kBc);
  std::vector<uint32_t> ktp(D / 2 * Sp), vtp(D / 2 * Sp), kp(Sp / 2 * D), pp(kBr / 2 * kBc), dsp(kBr / 2 * kBc);
  std::vector<float> p(kBr * kBc), dp(kBr * kBc), dq(Lp * D), dkt(D * kBc), dvt(D * kBc), Di(L);
  for (int64_t bh = bh0; bh < bh1; ++bh) {
    const Slice sl = slice_of(a, bh);
    copy_rows(at_row<bf16>(a.q, sl.b, sl.h, 0), L, D, a.q.sn, Lp, qp.data());
    copy_rows(at_row<bf16>(a.g, sl.b, sl.h, 0), L, D, a.g.sn, Lp, gp.data());
    copy_rows(at_row<bf16>(a.k, sl.b, sl.h, 0), S, D, a.k.sn, Sp, kb.data());
    copy_rows(at_row<bf16>(a.v, sl.b, sl.h, 0), S, D, a.v.sn, Sp, vb.data());
    transpose_bf16(qp.data(), Lp, D, qt.data());
    transpose_bf16(gp.data(), Lp, D, gt.data());
    pairs_along_d(kb.data(), Sp, D, ktp.data());
    pairs_along_d(vb.data(), Sp, D, vtp.data());
    pairs_along_rows(kb.data(), Sp, D, kp.data());
    const float* lse = a.lse + bh * L;
    for (int64_t i = 0; i < L; ++i) {  // D_i = g_i . y_i in fp32
      const float* yi = at_row<float>(a.y, sl.b, sl.h, i);
      float acc = 0;
      for (int64_t d = 0; d < D; ++d) acc += bf16_to_float(gp[i * D + d]) * yi[d];
      Di[i] = acc;
    }
    std::fill(dq.begin(), dq.end(), 0.f);
    for (int64_t j0 = 0; j0 < S; j0 += kBc) {
      const int64_t cols = std::min(kBc, S - j0);
      std::fill(dkt.begin(), dkt.end(), 0.f);
      std::fill(dvt.begin(), dvt.end(), 0.f);
      for (int64_t i0 = 0; i0 < L; i0 += kBr) {
        const int64_t rows = std::min(kBr, L - i0);
        const int64_t lo = keys_of(a, off + i0).lo, hi = keys_of(a, off + i0 + rows - 1).hi;
        if (hi <= j0 || lo >= j0 + cols) continue;
        tile_gemm(kBr, kBc, D, qp.data() + i0 * D, D, ktp.data() + j0, Sp, p.data(), kBc, false);
        probs_block<float, Avx512>(a, p.data(), i0, rows, j0, cols, sl.pad, scale, sl.slope, lse);
        clear_outside(p.data(), rows, cols);
        to_bf16_rows(p.data(), kBr, kBc, kBc, pbr.data());
        pairs_along_rows(pbr.data(), kBr, kBc, pp.data());
        tile_gemm(D, kBc, kBr, gt.data() + i0, Lp, pp.data(), kBc, dvt.data(), kBc, true);  // dV^T += g^T P
        tile_gemm(kBr, kBc, D, gp.data() + i0 * D, D, vtp.data() + j0, Sp, dp.data(), kBc, false);  // dP = g V^T
        for (int64_t r = 0; r < kBr; ++r) {
          const float dr = r < rows ? Di[i0 + r] : 0.f;
          float* d = dp.data() + r * kBc;
          const float* pr = p.data() + r * kBc;
          for (int64_t c = 0; c < kBc; ++c) d[c] = pr[c] * (d[c] - dr) * scale;  // dS (0 where P = 0)
        }
        to_bf16_rows(dp.data(), kBr, kBc, kBc, dsb.data());
        pairs_along_rows(dsb.data(), kBr, kBc, dsp.data());
        tile_gemm(kBr, D, kBc, dsb.data(), kBc, kp.data() + j0 / 2 * D, D, dq.data() + i0 * D, D, true);  // dQ += dS K
        tile_gemm(D, kBc, kBr, qt.data() + i0, Lp, dsp.data(), kBc, dkt.data(), kBc, true);  // dK^T += Q^T dS
      }
      for (int64_t c = 0; c < cols; ++c) {
        float* dkr = at_row<float>(a.dk, sl.b, sl.h, j0 + c);
        float* dvr = at_row<float>(a.dv, sl.b, sl.h, j0 + c);
        for (int64_t d = 0; d < D; ++d) dkr[d] = dkt[d * kBc + c], dvr[d] = dvt[d * kBc + c];
      }
    }
    for (int64_t i = 0; i < L; ++i) std::copy(dq.data() + i * D, dq.data() + (i + 1) * D, at_row<float>(a.dq, sl.b, sl.h, i));
  }
}

}  // namespace fak
}  // namespace lmforge
