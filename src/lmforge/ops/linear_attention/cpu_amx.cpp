// Linear-attention kernels for bf16 inputs on AMX tiles (TDPBF16PS: fp32 C += bf16 A x bf16 B).
// The algorithm is driver.inc's chunked form, forward and backward (same passes, same carried
// states); only the products change: every chunk product runs on tiles with fp32 accumulation.
//
// Layout. A tile product C (16 x 16 fp32) += A (16 x 32 bf16, row-major) x B, with B in the "VNNI"
// layout: row r of the B tile holds the pairs (B[2r][j], B[2r+1][j]), j = 0..15, as 32-bit words.
// So a product X Y^T takes Y as "32-bit transpose of Y viewed as words" (pairs along the reduction
// dimension are adjacent in Y's rows), and X Y takes Y as "interleave Y's row pairs". Each chunk's
// q, k, v rows are first copied into zero-padded bf16 blocks (positions, F and D rounded up to 32),
// so every product has dimensions that are multiples of 32 and tails need no special code: the
// zero padding contributes nothing, and padded output rows/columns are never written back.
// One tile configuration (8 tiles of 16 rows x 64 bytes): C blocks of 32 x 32 in tiles 0-3,
// two A tiles (4, 5), two B tiles (6, 7).
//
// What is rounded to bf16 (and why). The inputs q, k, v and the upstream gradient g are bf16
// already. A tile input must be bf16, so every operand that is itself computed is rounded to bf16
// (RNE) before it feeds a product:
//   forward   the carried state S before Q S; A = tril(Q K^T) before A V, but as a pair
//             A = hi + lo (hi = bf16(A), lo = bf16(A - hi): ~16 significant bits, one more product).
//   backward  pass 1 (dQ) uses g itself (exact) and divides each row by den at the end:
//             dQ_i = (M'_i K + g_i S^T - (g_i . y_i) z) / den_i with M' = tril(g V^T - (g . y) 1^T),
//             M' as a hi + lo pair before M' K, S^T before g S^T. Pass 2 (dK, dV) uses
//             dn = g / den rounded before V dn^T, tril(Q K^T)^T dn and Q^T dn; M^T (computed
//             directly as V dn^T + 1 dd^T) before M^T Q; tril(Q K^T)^T (as K Q^T) before its
//             product with dn; P and P^T before K P and V P^T.
// Why the pairs and the unscaled g: dQ_i = sum_j k_j (g_i . (v_j - y_i)) / den_i is a cancelling
// sum (A-weighted, v_j - y_i averages to zero), so a 2^-9 error in A (hence y) or in dn shows up
// amplified in dQ. With plain bf16 A and dn, dQ's rms error was 0.5-1.0% (the fp32 kernel on the
// same bf16 inputs: 0.17%, the bf16 rounding of its result); with the pairs, the unscaled g and an
// fp32 copy of y saved by the forward for dd = -(g . y) / den (LaArgs::y32), y and the one-chunk
// dQ match that path and the rest stay within 0.2-0.36% rms (L 64..2048, F = D = 64).
// Each remaining rounding is a relative error of at most 2^-9 on one operand of an fp32-accumulated
// product, i.e. the size of the rounding of the bf16 inputs themselves. Everything else stays
// fp32: all accumulations, the carried states S, z (and P, p in the backward, which are summed in
// fp32 tiles / fp32 vectors across chunks, never in bf16), the row sums of A, the denominators
// (saved for the backward in fp32), dd, and the divisions. Outputs y, dq, dk, dv are rounded to
// bf16 once, at the end. The states are rounded only in the copy fed to the tiles (re-made from
// the fp32 state after every chunk), so rounding errors do not accumulate along L.
// Harness (lmforge ops test --isa amx): the worst error is 0.32 of the bf16 bound
// (2e-2 + 2e-2 |ref|), against 0.12 for the fp32 kernel on widened bf16 inputs.
// AMX state: the caller's ISA check (isa_supported(Isa::amx)) has requested the tile permission;
// each call loads the tile configuration on its own thread and releases it before returning.
// GCC 12's avx512fintrin.h warns about its own _mm512_reduce_add_ps / masked intrinsics
// (an uninitialised __Y inside the header); silence that here only.
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "lmforge/ops/linear_attention/kernel.h"

namespace lmforge {
namespace lak {
namespace {

using bf16 = uint16_t;

inline int64_t up32(int64_t x) { return (x + 31) / 32 * 32; }

struct alignas(64) TileConfig {
  uint8_t palette_id = 1;
  uint8_t start_row = 0;
  uint8_t reserved[14] = {};
  uint16_t colsb[16] = {};
  uint8_t rows[16] = {};
};

struct TileScope {
  TileScope() {
    TileConfig cfg;
    for (int t = 0; t < 8; ++t) cfg.colsb[t] = 64, cfg.rows[t] = 16;
    _tile_loadconfig(&cfg);
  }
  ~TileScope() { _tile_release(); }
};

enum class Tri {
  none,
  n_lower,  // only 32-column blocks j0 <= i0 (block lower triangle; the caller zeroes j > i)
  n_upper,  // only 32-column blocks j0 >= i0 (the caller zeroes j < i)
  k_lower,  // A(i, p) = 0 for p > i: the reduction stops at the row block's end
  k_upper,  // A(i, p) = 0 for p < i: the reduction starts at the row block's start
};

// C (M x N fp32, ldc) (+)= A (M x K bf16, lda elements) x B (K/2 x N words, VNNI, ldb words);
// M, N, K multiples of 32.
void tgemm(Tri tri, int64_t M, int64_t N, int64_t K, const bf16* A, int64_t lda, const uint32_t* B, int64_t ldb,
           float* C, int64_t ldc, bool accumulate) {
  const int64_t sa = lda * 2, sb = ldb * 4, sc = ldc * 4;
  for (int64_t i0 = 0; i0 < M; i0 += 32) {
    const int64_t p_lo = tri == Tri::k_upper ? i0 : 0;
    const int64_t p_hi = tri == Tri::k_lower ? std::min(K, i0 + 32) : K;
    const int64_t j_lo = tri == Tri::n_upper ? i0 : 0;
    const int64_t j_hi = tri == Tri::n_lower ? std::min(N, i0 + 32) : N;
    for (int64_t j0 = j_lo; j0 < j_hi; j0 += 32) {
      float* c = C + i0 * ldc + j0;
      if (accumulate) {
        _tile_loadd(0, c, sc);
        _tile_loadd(1, c + 16, sc);
        _tile_loadd(2, c + 16 * ldc, sc);
        _tile_loadd(3, c + 16 * ldc + 16, sc);
      } else {
        _tile_zero(0);
        _tile_zero(1);
        _tile_zero(2);
        _tile_zero(3);
      }
      for (int64_t p = p_lo; p < p_hi; p += 32) {
        _tile_loadd(4, A + i0 * lda + p, sa);
        _tile_loadd(5, A + (i0 + 16) * lda + p, sa);
        _tile_loadd(6, B + (p / 2) * ldb + j0, sb);
        _tile_loadd(7, B + (p / 2) * ldb + j0 + 16, sb);
        _tile_dpbf16ps(0, 4, 6);
        _tile_dpbf16ps(1, 4, 7);
        _tile_dpbf16ps(2, 5, 6);
        _tile_dpbf16ps(3, 5, 7);
      }
      _tile_stored(0, c, sc);
      _tile_stored(1, c + 16, sc);
      _tile_stored(2, c + 16 * ldc, sc);
      _tile_stored(3, c + 16 * ldc + 16, sc);
    }
  }
}

// ---- packing (AVX-512) ----

inline __mmask32 mask32(int64_t n) { return n >= 32 ? ~__mmask32(0) : n <= 0 ? 0 : (__mmask32(1) << n) - 1; }
inline __mmask16 mask16(int64_t n) { return n >= 16 ? __mmask16(0xFFFF) : n <= 0 ? 0 : __mmask16((1u << n) - 1); }

// dst (R x Cp bf16, ldd = Cp) = src's n x c block (lds), zero-padded; Cp multiple of 32.
// Also prefetches the next n rows (the next chunk; a prefetch past the end never faults).
void pad_copy(const bf16* src, int64_t n, int64_t c, int64_t lds, bf16* dst, int64_t R, int64_t Cp) {
  for (int64_t i = 0; i < R; ++i)
    for (int64_t j = 0; j < Cp; j += 32) {
      if (i < n) _mm_prefetch(reinterpret_cast<const char*>(src + (i + n) * lds + j), _MM_HINT_T0);
      const __m512i x = i < n ? _mm512_maskz_loadu_epi16(mask32(c - j), src + i * lds + j) : _mm512_setzero_si512();
      _mm512_storeu_si512(dst + i * Cp + j, x);
    }
}

// 32-bit transpose of a 16 x 16 block.
inline void tr16(const uint32_t* src, int64_t lds, uint32_t* dst, int64_t ldd) {
  __m512i r[16], t[16];
  for (int i = 0; i < 16; ++i) r[i] = _mm512_loadu_si512(src + i * lds);
  for (int i = 0; i < 8; ++i) {
    t[2 * i] = _mm512_unpacklo_epi32(r[2 * i], r[2 * i + 1]);
    t[2 * i + 1] = _mm512_unpackhi_epi32(r[2 * i], r[2 * i + 1]);
  }
  for (int i = 0; i < 4; ++i) {
    r[4 * i] = _mm512_unpacklo_epi64(t[4 * i], t[4 * i + 2]);
    r[4 * i + 1] = _mm512_unpackhi_epi64(t[4 * i], t[4 * i + 2]);
    r[4 * i + 2] = _mm512_unpacklo_epi64(t[4 * i + 1], t[4 * i + 3]);
    r[4 * i + 3] = _mm512_unpackhi_epi64(t[4 * i + 1], t[4 * i + 3]);
  }
  // r[4g + m], lane L = column 4L + m of rows 4g..4g+3; gather the four groups per column.
  for (int m = 0; m < 4; ++m) {
    const __m512i x0 = _mm512_shuffle_i32x4(r[m], r[4 + m], 0x44), x1 = _mm512_shuffle_i32x4(r[m], r[4 + m], 0xEE);
    const __m512i x2 = _mm512_shuffle_i32x4(r[8 + m], r[12 + m], 0x44),
                  x3 = _mm512_shuffle_i32x4(r[8 + m], r[12 + m], 0xEE);
    _mm512_storeu_si512(dst + (0 + m) * ldd, _mm512_shuffle_i32x4(x0, x2, 0x88));
    _mm512_storeu_si512(dst + (4 + m) * ldd, _mm512_shuffle_i32x4(x0, x2, 0xDD));
    _mm512_storeu_si512(dst + (8 + m) * ldd, _mm512_shuffle_i32x4(x1, x3, 0x88));
    _mm512_storeu_si512(dst + (12 + m) * ldd, _mm512_shuffle_i32x4(x1, x3, 0xDD));
  }
}

// dst (Cw x R words, ldd) = transpose of src (R x Cw words, lds); R, Cw multiples of 16.
void transpose_words(const uint32_t* src, int64_t R, int64_t Cw, int64_t lds, uint32_t* dst, int64_t ldd) {
  for (int64_t i = 0; i < R; i += 16)
    for (int64_t j = 0; j < Cw; j += 16) tr16(src + i * lds + j, lds, dst + j * ldd + i, ldd);
}

// dst (R/2 x Cc words, ldd) with dst[r][j] = (src[2r][j], src[2r+1][j]): src R x Cc bf16 (lds);
// R even, Cc multiple of 32.
void vnni(const bf16* src, int64_t R, int64_t Cc, int64_t lds, uint32_t* dst, int64_t ldd) {
  alignas(64) static const uint16_t kLo[32] = {0, 32, 1, 33, 2, 34, 3, 35, 4, 36, 5, 37, 6, 38, 7, 39,
                                               8, 40, 9, 41, 10, 42, 11, 43, 12, 44, 13, 45, 14, 46, 15, 47};
  alignas(64) static const uint16_t kHi[32] = {16, 48, 17, 49, 18, 50, 19, 51, 20, 52, 21, 53, 22, 54, 23, 55,
                                               24, 56, 25, 57, 26, 58, 27, 59, 28, 60, 29, 61, 30, 62, 31, 63};
  const __m512i lo = _mm512_load_si512(kLo), hi = _mm512_load_si512(kHi);
  for (int64_t r = 0; r < R / 2; ++r)
    for (int64_t j = 0; j < Cc; j += 32) {
      const __m512i a = _mm512_loadu_si512(src + 2 * r * lds + j), b = _mm512_loadu_si512(src + (2 * r + 1) * lds + j);
      _mm512_storeu_si512(dst + r * ldd + j, _mm512_permutex2var_epi16(a, lo, b));
      _mm512_storeu_si512(dst + r * ldd + j + 16, _mm512_permutex2var_epi16(a, hi, b));
    }
}

inline __m256i cvt16(__m512 x) { return (__m256i)_mm512_cvtneps_pbh(x); }

// The same as vnni() of the bf16 rounding of an fp32 R x Cc block (Cc multiple of 16).
void vnni_f32(const float* src, int64_t R, int64_t Cc, int64_t lds, uint32_t* dst, int64_t ldd) {
  alignas(64) static const uint16_t kIdx[32] = {0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23,
                                                8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31};
  const __m512i idx = _mm512_load_si512(kIdx);
  for (int64_t r = 0; r < R / 2; ++r)
    for (int64_t j = 0; j < Cc; j += 16) {
      const __m256i a = cvt16(_mm512_loadu_ps(src + 2 * r * lds + j));
      const __m256i b = cvt16(_mm512_loadu_ps(src + (2 * r + 1) * lds + j));
      const __m512i ab = _mm512_inserti64x4(_mm512_castsi256_si512(a), b, 1);
      _mm512_storeu_si512(dst + r * ldd + j, _mm512_permutexvar_epi16(idx, ab));
    }
}

// dst (R x Cc bf16) = bf16(src) (Cc multiple of 16).
void to_bf16(const float* src, int64_t R, int64_t Cc, int64_t lds, bf16* dst, int64_t ldd) {
  for (int64_t i = 0; i < R; ++i)
    for (int64_t j = 0; j < Cc; j += 16) _mm256_storeu_si256((__m256i*)(dst + i * ldd + j), cvt16(_mm512_loadu_ps(src + i * lds + j)));
}

inline __m512 load_bf16(const bf16* p, __mmask16 m) {
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_maskz_loadu_epi16(m, p)), 16));
}
inline __m512 load_bf16(const bf16* p) {
  return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(_mm256_loadu_si256((const __m256i*)p)), 16));
}
inline void store_bf16(bf16* p, __m512 x, __mmask16 m) { _mm256_mask_storeu_epi16(p, m, cvt16(x)); }

// out[i] = dot(X[i, :F], z) for the padded bf16 rows X (ld Fp); z padded with zeros to Fp.
inline float dot_row(const bf16* x, const float* z, int64_t Fp) {
  __m512 acc = _mm512_setzero_ps();
  for (int64_t f = 0; f < Fp; f += 16) acc = _mm512_fmadd_ps(load_bf16(x + f), _mm512_loadu_ps(z + f), acc);
  return _mm512_reduce_add_ps(acc);
}

// z[:Fp] += sum_i w_i X[i, :] (w = nullptr: weights 1), X padded bf16 rows (ld Fp).
void add_colsum(const bf16* X, const float* w, int64_t n, int64_t Fp, float* z) {
  for (int64_t f = 0; f < Fp; f += 16) {
    __m512 acc = _mm512_loadu_ps(z + f);
    for (int64_t i = 0; i < n; ++i)
      acc = w ? _mm512_fmadd_ps(_mm512_set1_ps(w[i]), load_bf16(X + i * Fp + f), acc)
              : _mm512_add_ps(acc, load_bf16(X + i * Fp + f));
    _mm512_storeu_ps(z + f, acc);
  }
}

// out row (c valid of Cc columns) = bf16((X row + a * w) * scale), a scalar and w a padded fp32
// vector (or none); out32 (optional) receives the same row in fp32.
inline void store_row(const float* x, float a, const float* w, float scale, int64_t c, bf16* out,
                      float* out32 = nullptr) {
  const __m512 va = _mm512_set1_ps(a), vs = _mm512_set1_ps(scale);
  for (int64_t j = 0; j < c; j += 16) {
    const __mmask16 m = mask16(c - j);
    __m512 r = _mm512_maskz_loadu_ps(m, x + j);
    if (w) r = _mm512_fmadd_ps(va, _mm512_maskz_loadu_ps(m, w + j), r);
    r = _mm512_mul_ps(r, vs);
    store_bf16(out + j, r, m);
    if (out32) _mm512_mask_storeu_ps(out32 + j, m, r);
  }
}

// bf16 rounding of an fp32 matrix with a triangle kept: keep (i, j) when lower ? j <= i : j >= i,
// optionally adding add[i] (lower, row term) or add[j] (upper, column term) to the kept entries first.
// Also returns the row sums of the kept fp32 entries in rowsum (if given). All np x np entries written.
// lo (optional): the rounding error, bf16(x - hi), so hi + lo carries ~16 significant bits.
void tri_round(float* X, int64_t np, int64_t ld, bool lower, const float* add, float* rowsum, bf16* out, int64_t ldo,
               bf16* lo = nullptr) {
  for (int64_t i = 0; i < np; ++i) {
    float* x = X + i * ld;
    __m512 acc = _mm512_setzero_ps();
    for (int64_t j = 0; j < np; j += 16) {
      // kept columns within [j, j + 16): lower: j' <= i; upper: j' >= i
      __mmask16 keep;
      if (lower) keep = i < j ? 0 : mask16(i - j + 1);
      else keep = i < j ? __mmask16(0xFFFF) : __mmask16(~mask16(i - j));
      __m512 v = _mm512_maskz_loadu_ps(keep, x + j);
      if (add) v = _mm512_maskz_add_ps(keep, v, lower ? _mm512_set1_ps(add[i]) : _mm512_loadu_ps(add + j));
      acc = _mm512_add_ps(acc, v);
      const __m256i h = cvt16(v);
      _mm256_storeu_si256((__m256i*)(out + i * ldo + j), h);
      if (lo) {
        const __m512 hv = _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16));
        _mm256_storeu_si256((__m256i*)(lo + i * ldo + j), cvt16(_mm512_sub_ps(v, hv)));
      }
    }
    if (rowsum) rowsum[i] = _mm512_reduce_add_ps(acc);
  }
}

// ---- per-thread scratch: padded chunk blocks and packed operands ----
struct Work {
  int64_t C, F, D, Cp, Fp, Dp;
  std::vector<bf16> Qb, Kb, Vb, Ab, Ab2, Gb, Tb;      // Gb: dn (Cp x Dp), Tb: Sb / Pb (Fp x Dp)
  std::vector<uint32_t> KT2, KT16, Kp, Qp, QT2, QT16, Vp, VT2, dnT2, dnp, SP, StP, tmp;
  std::vector<float> Af, Yf, Y2, S, z, dd, dnf, sums;
  Work(int64_t C_, int64_t F_, int64_t D_) : C(C_), F(F_), D(D_), Cp(up32(C_)), Fp(up32(F_)), Dp(up32(D_)) {
    Qb.resize(Cp * Fp), Kb.resize(Cp * Fp), Vb.resize(Cp * Dp), Ab.resize(Cp * Cp), Ab2.resize(Cp * Cp), Gb.resize(Cp * Dp);
    Tb.resize(Fp * Dp);
    const int64_t wf = Cp * Fp / 2, wd = Cp * Dp / 2;
    KT2.resize(wf), KT16.resize(wf), Kp.resize(wf), Qp.resize(wf), QT2.resize(wf), QT16.resize(wf), tmp.resize(std::max(wf, wd));
    Vp.resize(wd), VT2.resize(wd), dnT2.resize(wd), dnp.resize(wd);
    SP.resize(Fp * Dp / 2), StP.resize(Fp * Dp / 2);
    Af.resize(Cp * Cp), Yf.resize(Cp * std::max(Fp, Dp)), Y2.resize(Cp * std::max(Fp, Dp));
    S.resize(Fp * Dp), z.resize(Fp), dd.resize(Cp), dnf.resize(Cp * Dp), sums.resize(Cp);
  }
  void reset_state() {
    std::fill(S.begin(), S.end(), 0.f);
    std::fill(z.begin(), z.end(), 0.f);
    std::fill(SP.begin(), SP.end(), 0u);
    std::fill(StP.begin(), StP.end(), 0u);
  }
  // padded copies of the chunk's rows
  void load_q(const bf16* q, int64_t n, int64_t np) { pad_copy(q, n, F, F, Qb.data(), np, Fp); }
  void load_k(const bf16* k, int64_t n, int64_t np) { pad_copy(k, n, F, F, Kb.data(), np, Fp); }
  void load_v(const bf16* v, int64_t n, int64_t np) { pad_copy(v, n, D, D, Vb.data(), np, Dp); }
  // S (Fp x Dp) += K^T V and z += sum K for the loaded chunk (Kb, Vb; np rows). have_kp / have_vp:
  // Kp = vnni(Kb) / Vp = vnni(Vb) are already packed for this chunk.
  void absorb_kv(int64_t np, bool have_kp = false, bool have_vp = false) {
    if (!have_kp) vnni(Kb.data(), np, Fp, Fp, Kp.data(), Fp);
    transpose_words(Kp.data(), np / 2, Fp, Fp, KT16.data(), Cp / 2);  // K^T: Fp x np bf16, ld Cp
    if (!have_vp) vnni(Vb.data(), np, Dp, Dp, Vp.data(), Dp);
    tgemm(Tri::none, Fp, Dp, np, reinterpret_cast<const bf16*>(KT16.data()), Cp, Vp.data(), Dp, S.data(), Dp, true);
    add_colsum(Kb.data(), nullptr, np, Fp, z.data());
  }
  // dn = g / den (bf16 padded Gb, fp32 dnf) and dd = -(g . y) / den for the chunk's rows.
  // unscaled: Gb = g itself and dd = -(g . y) (exact bf16 tile input; the caller divides by den).
  void load_grads(const bf16* g, const float* y, const float* den, int64_t n, int64_t np, bool unscaled = false) {
    for (int64_t i = 0; i < np; ++i) {
      float* dn = dnf.data() + i * Dp;
      if (i >= n) {
        std::fill(dn, dn + Dp, 0.f);
        dd[i] = 0;
        continue;
      }
      const float inv = unscaled ? 1.f : 1.f / den[i];
      __m512 gy = _mm512_setzero_ps();
      for (int64_t d = 0; d < Dp; d += 16) {
        const __mmask16 m = mask16(D - d);
        const __m512 gv = load_bf16(g + i * D + d, m);
        gy = _mm512_fmadd_ps(gv, _mm512_maskz_loadu_ps(m, y + i * D + d), gy);
        _mm512_storeu_ps(dn + d, _mm512_mul_ps(gv, _mm512_set1_ps(inv)));
      }
      dd[i] = -_mm512_reduce_add_ps(gy) * inv;
    }
    to_bf16(dnf.data(), np, Dp, Dp, Gb.data(), Dp);
  }
};

void fwd_amx(const LaArgs& a, int64_t bh0, int64_t bh1) {
  const int64_t L = a.L, F = a.F, D = a.D, C = std::max<int64_t>(1, std::min(a.chunk, L));
  const float eps = static_cast<float>(a.eps);
  TileScope tiles;
  Work w(C, F, D);
  const int64_t Cp = w.Cp, Fp = w.Fp, Dp = w.Dp;
  for (int64_t bh = bh0; bh < bh1; ++bh) {
    const bf16* q = static_cast<const bf16*>(a.q) + bh * L * F;
    const bf16* k = static_cast<const bf16*>(a.k) + bh * L * F;
    const bf16* v = static_cast<const bf16*>(a.v) + bh * L * D;
    bf16* y = static_cast<bf16*>(a.y) + bh * L * D;
    float* y32 = a.y32 ? static_cast<float*>(a.y32) + bh * L * D : nullptr;
    float* den = static_cast<float*>(a.den) + bh * L;
    w.reset_state();
    if (!a.causal) {
      for (int64_t t0 = 0; t0 < L; t0 += C) {
        const int64_t n = std::min(C, L - t0), np = up32(n);
        w.load_k(k + t0 * F, n, np), w.load_v(v + t0 * D, n, np);
        w.absorb_kv(np);
      }
      vnni_f32(w.S.data(), Fp, Dp, Dp, w.SP.data(), Dp);
    }
    for (int64_t t0 = 0; t0 < L; t0 += C) {
      const int64_t n = std::min(C, L - t0), np = up32(n);
      w.load_q(q + t0 * F, n, np);
      float* Yf = w.Yf.data();
      if (a.causal) {
        w.load_k(k + t0 * F, n, np), w.load_v(v + t0 * D, n, np);
        // A = tril(Q K^T): B operand = K as words, transposed (pairs along F)
        transpose_words(reinterpret_cast<const uint32_t*>(w.Kb.data()), np, Fp / 2, Fp / 2, w.KT2.data(), Cp);
        tgemm(Tri::n_lower, np, np, Fp, w.Qb.data(), Fp, w.KT2.data(), Cp, w.Af.data(), Cp, false);
        tri_round(w.Af.data(), np, Cp, true, nullptr, w.sums.data(), w.Ab.data(), Cp, w.Ab2.data());
        vnni(w.Vb.data(), np, Dp, Dp, w.Vp.data(), Dp);
        tgemm(Tri::k_lower, np, Dp, np, w.Ab.data(), Cp, w.Vp.data(), Dp, Yf, Dp, false);
        tgemm(Tri::k_lower, np, Dp, np, w.Ab2.data(), Cp, w.Vp.data(), Dp, Yf, Dp, true);
        tgemm(Tri::none, np, Dp, Fp, w.Qb.data(), Fp, w.SP.data(), Dp, Yf, Dp, true);
      } else {
        tgemm(Tri::none, np, Dp, Fp, w.Qb.data(), Fp, w.SP.data(), Dp, Yf, Dp, false);
        std::fill(w.sums.begin(), w.sums.end(), 0.f);
      }
      for (int64_t i = 0; i < n; ++i) {
        const float r = w.sums[i] + dot_row(w.Qb.data() + i * Fp, w.z.data(), Fp) + eps;
        den[t0 + i] = r;
        store_row(Yf + i * Dp, 0.f, nullptr, 1.f / r, D, y + (t0 + i) * D, y32 ? y32 + (t0 + i) * D : nullptr);
      }
      if (a.causal) {
        w.absorb_kv(np, false, true);  // reuses Kb, Vb, Vp of this chunk
        vnni_f32(w.S.data(), Fp, Dp, Dp, w.SP.data(), Dp);
      }
    }
  }
}

// S^T in the B layout of dn S^T: bf16(S) (Fp x Dp) as words (pairs along D), transposed.
void state_t(Work& w, const float* S, uint32_t* out) {
  to_bf16(S, w.Fp, w.Dp, w.Dp, w.Tb.data(), w.Dp);
  transpose_words(reinterpret_cast<const uint32_t*>(w.Tb.data()), w.Fp, w.Dp / 2, w.Dp / 2, out, w.Fp);
}

void bwd_amx(const LaArgs& a, int64_t bh0, int64_t bh1) {
  const int64_t L = a.L, F = a.F, D = a.D, C = std::max<int64_t>(1, std::min(a.chunk, L));
  TileScope tiles;
  Work w(C, F, D);
  const int64_t Cp = w.Cp, Fp = w.Fp, Dp = w.Dp;
  float* Xf = w.Yf.data();  // fp32 result block of dq / dk
  float* Zf = w.Y2.data();  // fp32 result block of dv
  for (int64_t bh = bh0; bh < bh1; ++bh) {
    const bf16* q = static_cast<const bf16*>(a.q) + bh * L * F;
    const bf16* k = static_cast<const bf16*>(a.k) + bh * L * F;
    const bf16* v = static_cast<const bf16*>(a.v) + bh * L * D;
    const float* y = static_cast<const float*>(a.y32) + bh * L * D;
    const float* den = static_cast<const float*>(a.den) + bh * L;
    const bf16* g = static_cast<const bf16*>(a.g) + bh * L * D;
    bf16* dq = static_cast<bf16*>(a.dq) + bh * L * F;
    bf16* dk = static_cast<bf16*>(a.dk) + bh * L * F;
    bf16* dv = static_cast<bf16*>(a.dv) + bh * L * D;

    // ---- pass 1: dQ = M K + dn S^T + dd z^T, chunks in order (S, z of the earlier chunks) ----
    w.reset_state();
    if (!a.causal) {
      for (int64_t t0 = 0; t0 < L; t0 += C) {
        const int64_t n = std::min(C, L - t0), np = up32(n);
        w.load_k(k + t0 * F, n, np), w.load_v(v + t0 * D, n, np);
        w.absorb_kv(np);
      }
      state_t(w, w.S.data(), w.StP.data());
    }
    for (int64_t t0 = 0; t0 < L; t0 += C) {
      const int64_t n = std::min(C, L - t0), np = up32(n);
      w.load_grads(g + t0 * D, y + t0 * D, den + t0, n, np, /*unscaled=*/true);  // dQ row i = (...) / den_i
      if (a.causal) {
        w.load_k(k + t0 * F, n, np), w.load_v(v + t0 * D, n, np);
        // M = tril(dn V^T + dd 1^T): B operand = V as words, transposed (pairs along D)
        transpose_words(reinterpret_cast<const uint32_t*>(w.Vb.data()), np, Dp / 2, Dp / 2, w.VT2.data(), Cp);
        tgemm(Tri::n_lower, np, np, Dp, w.Gb.data(), Dp, w.VT2.data(), Cp, w.Af.data(), Cp, false);
        tri_round(w.Af.data(), np, Cp, true, w.dd.data(), nullptr, w.Ab.data(), Cp, w.Ab2.data());
        vnni(w.Kb.data(), np, Fp, Fp, w.Kp.data(), Fp);
        tgemm(Tri::k_lower, np, Fp, np, w.Ab.data(), Cp, w.Kp.data(), Fp, Xf, Fp, false);
        tgemm(Tri::k_lower, np, Fp, np, w.Ab2.data(), Cp, w.Kp.data(), Fp, Xf, Fp, true);
        tgemm(Tri::none, np, Fp, Dp, w.Gb.data(), Dp, w.StP.data(), Fp, Xf, Fp, true);
      } else {
        tgemm(Tri::none, np, Fp, Dp, w.Gb.data(), Dp, w.StP.data(), Fp, Xf, Fp, false);
      }
      for (int64_t i = 0; i < n; ++i)
        store_row(Xf + i * Fp, w.dd[i], w.z.data(), 1.f / den[t0 + i], F, dq + (t0 + i) * F);
      if (a.causal) {
        w.absorb_kv(np, true, false);
        state_t(w, w.S.data(), w.StP.data());
      }
    }

    // ---- pass 2: dK = M^T Q + V P^T + 1 p^T, dV = tril(Q K^T)^T dn + K P, chunks in reverse ----
    // P (Fp x Dp) lives in w.S, p in w.z; PP (B layout of K P) in w.SP, P^T's in w.StP.
    w.reset_state();
    if (!a.causal) {
      for (int64_t t0 = 0; t0 < L; t0 += C) {
        const int64_t n = std::min(C, L - t0), np = up32(n);
        w.load_grads(g + t0 * D, y + t0 * D, den + t0, n, np);
        w.load_q(q + t0 * F, n, np);
        vnni(w.Qb.data(), np, Fp, Fp, w.tmp.data(), Fp);
        transpose_words(w.tmp.data(), np / 2, Fp, Fp, w.QT16.data(), Cp / 2);
        vnni(w.Gb.data(), np, Dp, Dp, w.dnp.data(), Dp);
        tgemm(Tri::none, Fp, Dp, np, reinterpret_cast<const bf16*>(w.QT16.data()), Cp, w.dnp.data(), Dp, w.S.data(), Dp,
              true);
        add_colsum(w.Qb.data(), w.dd.data(), np, Fp, w.z.data());
      }
      vnni_f32(w.S.data(), Fp, Dp, Dp, w.SP.data(), Dp);
      state_t(w, w.S.data(), w.StP.data());
    }
    const int64_t last = ((L - 1) / C) * C;
    for (int64_t t0 = last; t0 >= 0; t0 -= C) {
      const int64_t n = std::min(C, L - t0), np = up32(n);
      w.load_k(k + t0 * F, n, np), w.load_v(v + t0 * D, n, np);
      if (a.causal) {
        w.load_q(q + t0 * F, n, np);
        w.load_grads(g + t0 * D, y + t0 * D, den + t0, n, np);
        // M^T = triu(V dn^T + 1 dd^T): B operand = dn as words, transposed (pairs along D)
        transpose_words(reinterpret_cast<const uint32_t*>(w.Gb.data()), np, Dp / 2, Dp / 2, w.dnT2.data(), Cp);
        tgemm(Tri::n_upper, np, np, Dp, w.Vb.data(), Dp, w.dnT2.data(), Cp, w.Af.data(), Cp, false);
        tri_round(w.Af.data(), np, Cp, false, w.dd.data(), nullptr, w.Ab.data(), Cp);
        vnni(w.Qb.data(), np, Fp, Fp, w.Qp.data(), Fp);
        tgemm(Tri::k_upper, np, Fp, np, w.Ab.data(), Cp, w.Qp.data(), Fp, Xf, Fp, false);
        tgemm(Tri::none, np, Fp, Dp, w.Vb.data(), Dp, w.StP.data(), Fp, Xf, Fp, true);
        // tril(Q K^T)^T = triu(K Q^T): B operand = Q as words, transposed (pairs along F)
        transpose_words(reinterpret_cast<const uint32_t*>(w.Qb.data()), np, Fp / 2, Fp / 2, w.QT2.data(), Cp);
        tgemm(Tri::n_upper, np, np, Fp, w.Kb.data(), Fp, w.QT2.data(), Cp, w.Af.data(), Cp, false);
        tri_round(w.Af.data(), np, Cp, false, nullptr, nullptr, w.Ab.data(), Cp);
        vnni(w.Gb.data(), np, Dp, Dp, w.dnp.data(), Dp);
        tgemm(Tri::k_upper, np, Dp, np, w.Ab.data(), Cp, w.dnp.data(), Dp, Zf, Dp, false);
        tgemm(Tri::none, np, Dp, Fp, w.Kb.data(), Fp, w.SP.data(), Dp, Zf, Dp, true);
      } else {
        tgemm(Tri::none, np, Fp, Dp, w.Vb.data(), Dp, w.StP.data(), Fp, Xf, Fp, false);
        tgemm(Tri::none, np, Dp, Fp, w.Kb.data(), Fp, w.SP.data(), Dp, Zf, Dp, false);
      }
      for (int64_t i = 0; i < n; ++i) {
        store_row(Xf + i * Fp, 1.f, w.z.data(), 1.f, F, dk + (t0 + i) * F);
        store_row(Zf + i * Dp, 0.f, nullptr, 1.f, D, dv + (t0 + i) * D);
      }
      if (a.causal) {  // absorb this chunk: P += Q^T dn, p += Q^T dd
        transpose_words(w.Qp.data(), np / 2, Fp, Fp, w.QT16.data(), Cp / 2);
        tgemm(Tri::none, Fp, Dp, np, reinterpret_cast<const bf16*>(w.QT16.data()), Cp, w.dnp.data(), Dp, w.S.data(), Dp,
              true);
        add_colsum(w.Qb.data(), w.dd.data(), np, Fp, w.z.data());
        vnni_f32(w.S.data(), Fp, Dp, Dp, w.SP.data(), Dp);
        state_t(w, w.S.data(), w.StP.data());
      }
    }
  }
}

}  // namespace

void la_fwd_amx_bf16(const LaArgs& a, int64_t b0, int64_t b1) { fwd_amx(a, b0, b1); }
void la_bwd_amx_bf16(const LaArgs& a, int64_t b0, int64_t b1) { bwd_amx(a, b0, b1); }

}  // namespace lak
}  // namespace lmforge
