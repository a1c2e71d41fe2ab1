// FFT convolution kernels for AMX-BF16 (bf16 inputs only): the Monarch DFT stages of FlashFFTConv
// (Fu et al. 2023) as bf16 tile matmuls with fp32 accumulation (TDPBF16PS), the way the paper runs
// them on tensor cores. The complex product is one real matmul over stacked planes:
//   level (r <= 16): [Yr; Yi] = [[Fr, -Fi], [Fi, Fr]] [Xr; Xi]  -- A = the DFT matrix (constant
//          tiles, rows o, K = [re rows | im rows]), B = 16 columns of X packed in VNNI pairs,
//          C = Yr, Yi (fp32); the twiddles are applied to C in fp32. r <= 8 uses one compact
//          tile of each kind (level_amx_small); the next column block is packed while the
//          tiles of the current one run.
//   leaf (n = 16 or 32): Z = [Xr | Xi] [[Fr, Fi], [-Fi, Fr]]  -- A = up to 16 rows of X (one bf16
//          row is just [Xr | Xi] converted), B = the constant DFT tiles, C = Zr, Zi.
// conj(F) (the inverse) negates Fi. Precision: every operand is split into two bf16 parts,
// x = hi + lo (hi = x truncated to bf16, lo = bf16(x - hi)), and each product is accumulated in
// fp32 as Ahi Bhi + Alo Bhi + Ahi Blo (the "bf16x3" scheme; the dropped Alo Blo is ~2^-16
// relative), so a stage is accurate to about 2^-16 of its inputs' scale instead of the 2^-9 of a
// single bf16 product. Measured why: with one product per stage, dk (a sum of B*L products) was off
// by ~1% of its RMS at B4_L4096 (134x the bf16 bound on its small entries); three tile products
// cost far less than the packing around them. Between stages the data stay fp32 in the driver's
// planes (driver.inc: gating, batch pairs, filter spectrum, pointwise products, all fp32).
// op.cpp gives this kernel the plan with the fewest stages for dense convolutions
// (fft_plan(N, kTilePlan): leaf 32, levels <= 16), since each stage costs a packing pass.
// Stages without a tile kernel here (radix 32 levels, widths not a multiple of 16, leaves other
// than 16/32) use the AVX-512 fp32 code. fp32 inputs never come here (op.cpp keeps them on AVX-512).
// Every tile is 16 rows x 64 bytes (palette 1), configured once per call of an entry point by the
// thread that runs it (the process's AMX permission: isa_supported(amx)); the per-kernel tile
// assignment is noted at each kernel.
#include <immintrin.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>

#include "lmforge/ops/fftconv/kernel.h"

namespace lmforge {
namespace fftk {
namespace amx_isa {
#include "lmforge/ops/fftconv/driver.inc"
#include "lmforge/ops/fftconv/avx512_stages.inc"
#include "lmforge/ops/fftconv/bf16_split.inc"

struct alignas(64) TileConfig {
  uint8_t palette = 1, start_row = 0;
  uint8_t reserved[14] = {};
  uint16_t colsb[16] = {};
  uint8_t rows[16] = {};
};

struct TileScope {  // loads the configuration on entry, releases the tile state on exit
  TileScope() {
    TileConfig c;
    for (int i = 0; i < 8; ++i) c.colsb[i] = 64, c.rows[i] = 16;
    _tile_loadconfig(&c);
  }
  ~TileScope() { _tile_release(); }
};


// bf16 tiles of one DFT matrix (hi and lo parts), built on first use per thread (keyed by the
// plan's float table, which lives as long as the process). See level_tiles / leaf_tiles.
struct DftTiles {
  const float* key = nullptr;
  bool conj = false, leaf = false;
  alignas(64) uint16_t t[16][16 * 32];
};
constexpr int kCacheSlots = 8;
thread_local DftTiles t_cache[kCacheSlots];
thread_local int t_next = 0;

DftTiles& new_slot() {
  DftTiles& d = t_cache[t_next];
  t_next = (t_next + 1) % kCacheSlots;
  std::memset(d.t, 0, sizeof d.t);
  return d;
}

// Level, 8 < r <= 16: A tiles, rows o, K = [re rows 0..15 | im rows 0..15] (r <= 8: the compact
// layout described at level_amx_small, in t[0] = A1 and t[1] = A2):
// t[0] = hi [Fr | -Fi], t[1] = lo [Fr | -Fi], t[2] = hi [Fi | Fr], t[3] = lo [Fi | Fr].
const DftTiles& level_tiles(const float* gr, const float* gi, bool conj, int64_t r) {
  for (const DftTiles& d : t_cache)
    if (d.key == gr && d.conj == conj && !d.leaf) return d;
  DftTiles& d = new_slot();
  const float s = conj ? -1.f : 1.f;
  if (r <= 8) {  // compact: see level_amx_small
    for (int64_t o = 0; o < r; ++o)
      for (int64_t a = 0; a < r; ++a) {
        const float fr = gr[o * r + a], fi = s * gi[o * r + a];
        uint16_t h, l;
        split_bf16(fr, h, l);  // re output row o: [Fr | -Fi]; im output row 8 + o: [Fi | Fr]
        d.t[0][o * 32 + a] = d.t[0][o * 32 + 16 + a] = h, d.t[1][o * 32 + a] = l;
        d.t[0][(8 + o) * 32 + 8 + a] = d.t[0][(8 + o) * 32 + 24 + a] = h, d.t[1][(8 + o) * 32 + 8 + a] = l;
        split_bf16(-fi, h, l);
        d.t[0][o * 32 + 8 + a] = d.t[0][o * 32 + 24 + a] = h, d.t[1][o * 32 + 8 + a] = l;
        split_bf16(fi, h, l);
        d.t[0][(8 + o) * 32 + a] = d.t[0][(8 + o) * 32 + 16 + a] = h, d.t[1][(8 + o) * 32 + a] = l;
      }
    d.key = gr, d.conj = conj, d.leaf = false;
    return d;
  }
  for (int64_t o = 0; o < r; ++o)
    for (int64_t a = 0; a < r; ++a) {
      const float fr = gr[o * r + a], fi = s * gi[o * r + a];
      split_bf16(fr, d.t[0][o * 32 + a], d.t[1][o * 32 + a]);
      split_bf16(-fi, d.t[0][o * 32 + 16 + a], d.t[1][o * 32 + 16 + a]);
      split_bf16(fi, d.t[2][o * 32 + a], d.t[3][o * 32 + a]);
      split_bf16(fr, d.t[2][o * 32 + 16 + a], d.t[3][o * 32 + 16 + a]);
    }
  d.key = gr, d.conj = conj, d.leaf = false;
  return d;
}

// Leaf (n = 16 or 32): K index k < n multiplies Xr[k], k >= n multiplies Xi[k - n];
// Zr = Xr Fr - Xi Fi, Zi = Xr Fi + Xi Fr (conj: Fi -> -Fi). VNNI B tiles: element (k, col) at row
// k/2, position 2 col + k%2 of a K tile of 32. t[2 i] = hi, t[2 i + 1] = lo of tile
// i = (out plane * nt + out column tile) * nt + K tile, nt = n / 16.
const DftTiles& leaf_tiles(const float* gr, const float* gi, bool conj, int64_t n) {
  for (const DftTiles& d : t_cache)
    if (d.key == gr && d.conj == conj && d.leaf) return d;
  DftTiles& d = new_slot();
  const float s = conj ? -1.f : 1.f;
  const int64_t nt = n / 16;
  for (int plane = 0; plane < 2; ++plane)
    for (int64_t k = 0; k < 2 * n; ++k)
      for (int64_t col = 0; col < n; ++col) {
        const int64_t mm = k % n;
        const bool im_in = k >= n;
        const float fr = gr[mm * n + col], fi = s * gi[mm * n + col];
        const float v = plane == 0 ? (im_in ? -fi : fr) : (im_in ? fr : fi);
        const int64_t i = (plane * nt + col / 16) * nt + k / 32, kk = k % 32;
        const int64_t pos = (kk / 2) * 32 + 2 * (col % 16) + kk % 2;
        split_bf16(v, d.t[2 * i][pos], d.t[2 * i + 1][pos]);
      }
  d.key = gr, d.conj = conj, d.leaf = true;
  return d;
}

inline void store_bf16_row(uint16_t* dst, __m512 first16, __m512 next16) {
  _mm512_store_si512(reinterpret_cast<__m512i*>(dst), (__m512i)_mm512_cvtne2ps_pbh(next16, first16));
}

// Packs rows v0, v1 (16 columns each) as the VNNI pair of their bf16 hi parts at dh and of their
// lo parts at dl: one K-pair of a B tile for each of the hi+lo products.
inline void pack_pair_hilo(__m512 v0, __m512 v1, uint16_t* dh, uint16_t* dl) {
  __m512 h0, l0, h1, l1;
  split_ps(v0, h0, l0);
  split_ps(v1, h1, l1);
  _mm512_store_si512(reinterpret_cast<__m512i*>(dh), vnni_pair(h0, h1));
  _mm512_store_si512(reinterpret_cast<__m512i*>(dl), vnni_pair(l0, l1));
}


// One level of radix r <= 8 over m columns (m % 16 == 0), compact: one B tile holds both parts,
// K = [Xhi re rows 0..7 | Xhi im | Xlo re | Xlo im], and one C tile both outputs (rows 0..7 re,
// 8..15 im). A1 = [Fhi | Fhi] (K halves) gives Fhi Xhi + Fhi Xlo, A2 = [Flo | 0] gives Flo Xhi.
// Tiles: 0 A1, 1 A2, 4 B, 6 C.
void level_amx_small(const float* gr, const float* gi, bool conj, int64_t r, const int64_t* orows, int64_t n_out,
                     const int64_t* irows, int64_t n_in, int64_t m, const float* twr, const float* twi,
                     const float* xr, const float* xi, float* yr, float* yi) {
  const DftTiles& A = level_tiles(gr, gi, conj, r);
  bool present[8] = {};
  for (int64_t t = 0; t < n_in; ++t) present[irows[t]] = true;
  alignas(64) uint16_t b[2][16 * 32];
  alignas(64) float cbuf[16 * 16];
  std::memset(b, 0, sizeof b);
  _tile_loadd(0, A.t[0], 64);
  _tile_loadd(1, A.t[1], 64);
  const __m512 zero = _mm512_setzero_ps();
  const int64_t pairs = (r + 1) / 2;
  auto pack = [&](int64_t j, uint16_t* dst) {
    for (int plane = 0; plane < 2; ++plane) {
      const float* x = plane ? xi : xr;
      for (int64_t p = 0; p < pairs; ++p) {
        const int64_t a0 = 2 * p, a1 = 2 * p + 1;
        const __m512 v0 = present[a0] ? _mm512_loadu_ps(x + a0 * m + j) : zero;
        const __m512 v1 = a1 < r && present[a1] ? _mm512_loadu_ps(x + a1 * m + j) : zero;
        pack_pair_hilo(v0, v1, dst + (plane * 4 + p) * 32, dst + (8 + plane * 4 + p) * 32);
      }
    }
  };
  // software pipeline: the next block is packed (vector units) while this one's tile products run
  pack(0, b[0]);
  for (int64_t j = 0, blk = 0; j < m; j += 16, ++blk) {
    _tile_loadd(4, b[blk & 1], 64);
    _tile_zero(6);
    _tile_dpbf16ps(6, 0, 4);
    _tile_dpbf16ps(6, 1, 4);
    if (j + 16 < m) pack(j + 16, b[(blk + 1) & 1]);
    _tile_stored(6, cbuf, 64);
    for (int64_t q = 0; q < n_out; ++q) {
      const int64_t o = orows[q];
      twiddle_store(_mm512_load_ps(cbuf + o * 16), _mm512_load_ps(cbuf + (8 + o) * 16), twr, twi, o * m + j, yr, yi);
    }
  }
}

// One level of radix 8 < r <= 16 over m columns (m % 16 == 0); see the header. Tiles: 0-3 A (hi/lo of
// the re and im output rows), 4 B hi, 5 B lo, 6 C re, 7 C im; C = Ahi Bhi + Alo Bhi + Ahi Blo.
void level_amx(const float* gr, const float* gi, bool conj, int64_t r, const int64_t* orows, int64_t n_out,
               const int64_t* irows, int64_t n_in, int64_t m, const float* twr, const float* twi, const float* xr,
               const float* xi, float* yr, float* yi) {
  const DftTiles& A = level_tiles(gr, gi, conj, r);
  bool present[16] = {};
  for (int64_t t = 0; t < n_in; ++t) present[irows[t]] = true;
  alignas(64) uint16_t bh[2][16 * 32], bl[2][16 * 32];
  alignas(64) float cbuf[2][16 * 16];
  _tile_loadd(0, A.t[0], 64);
  _tile_loadd(1, A.t[1], 64);
  _tile_loadd(2, A.t[2], 64);
  _tile_loadd(3, A.t[3], 64);
  const __m512 zero = _mm512_setzero_ps();
  auto pack = [&](int64_t j, uint16_t* dh, uint16_t* dl) {
    for (int plane = 0; plane < 2; ++plane) {
      const float* x = plane ? xi : xr;
      for (int p = 0; p < 8; ++p) {
        const int a0 = 2 * p, a1 = 2 * p + 1;
        const __m512 v0 = present[a0] ? _mm512_loadu_ps(x + a0 * m + j) : zero;
        const __m512 v1 = present[a1] ? _mm512_loadu_ps(x + a1 * m + j) : zero;
        pack_pair_hilo(v0, v1, dh + (plane * 8 + p) * 32, dl + (plane * 8 + p) * 32);
      }
    }
  };
  // software pipeline: the next block is packed (vector units) while this one's tile products run
  pack(0, bh[0], bl[0]);
  for (int64_t j = 0, blk = 0; j < m; j += 16, ++blk) {
    _tile_loadd(4, bh[blk & 1], 64);
    _tile_loadd(5, bl[blk & 1], 64);
    _tile_zero(6);
    _tile_zero(7);
    _tile_dpbf16ps(6, 0, 4);
    _tile_dpbf16ps(6, 1, 4);
    _tile_dpbf16ps(6, 0, 5);
    _tile_dpbf16ps(7, 2, 4);
    _tile_dpbf16ps(7, 3, 4);
    _tile_dpbf16ps(7, 2, 5);
    if (j + 16 < m) pack(j + 16, bh[(blk + 1) & 1], bl[(blk + 1) & 1]);
    _tile_stored(6, cbuf[0], 64);
    _tile_stored(7, cbuf[1], 64);
    for (int64_t q = 0; q < n_out; ++q) {
      const int64_t o = orows[q];
      twiddle_store(_mm512_load_ps(cbuf[0] + o * 16), _mm512_load_ps(cbuf[1] + o * 16), twr, twi, o * m + j, yr, yi);
    }
  }
}

// The leaf on up to 16 rows at a time (n = 16 or 32), in place; see the header.
// n = 16: tiles 0 A hi, 1 A lo (row = [Xr | Xi]), 2-5 B (re hi, re lo, im hi, im lo), 6 C re, 7 C im.
// n = 32: tiles 0 Xr hi, 1 Xi hi, 2 Xr lo, 3 Xi lo, 4 B hi, 5 B lo, 6-7 C (the two column tiles of
// one output plane; the planes one after the other).
void leaf_amx(const float* gr, const float* gi, bool conj, int64_t n, const int64_t* rows, int64_t nrows, float* xr,
              float* xi) {
  const DftTiles& Bt = leaf_tiles(gr, gi, conj, n);
  alignas(64) uint16_t abuf[4][16 * 32];
  alignas(64) float cbuf[2][16 * 16];
  for (int64_t q0 = 0; q0 < nrows; q0 += 16) {
    const int64_t nq = std::min<int64_t>(16, nrows - q0);
    if (nq < 16) std::memset(abuf, 0, sizeof abuf);
    for (int64_t q = 0; q < nq; ++q) {
      const float* pr = xr + rows[q0 + q] * n;
      const float* pi = xi + rows[q0 + q] * n;
      __m512 rh, rl, ih, il;
      if (n == 16) {  // row = [Xr 0..15 | Xi 0..15]
        split_ps(_mm512_loadu_ps(pr), rh, rl);
        split_ps(_mm512_loadu_ps(pi), ih, il);
        store_bf16_row(abuf[0] + q * 32, rh, ih);
        store_bf16_row(abuf[1] + q * 32, rl, il);
      } else {  // K tile 0 = Xr 0..31, K tile 1 = Xi 0..31
        __m512 rh2, rl2, ih2, il2;
        split_ps(_mm512_loadu_ps(pr), rh, rl);
        split_ps(_mm512_loadu_ps(pr + 16), rh2, rl2);
        split_ps(_mm512_loadu_ps(pi), ih, il);
        split_ps(_mm512_loadu_ps(pi + 16), ih2, il2);
        store_bf16_row(abuf[0] + q * 32, rh, rh2);
        store_bf16_row(abuf[1] + q * 32, ih, ih2);
        store_bf16_row(abuf[2] + q * 32, rl, rl2);
        store_bf16_row(abuf[3] + q * 32, il, il2);
      }
    }
    if (n == 16) {
      _tile_loadd(0, abuf[0], 64);
      _tile_loadd(1, abuf[1], 64);
      _tile_loadd(2, Bt.t[0], 64);
      _tile_loadd(3, Bt.t[1], 64);
      _tile_loadd(4, Bt.t[2], 64);
      _tile_loadd(5, Bt.t[3], 64);
      _tile_zero(6);
      _tile_zero(7);
      _tile_dpbf16ps(6, 0, 2);
      _tile_dpbf16ps(6, 1, 2);
      _tile_dpbf16ps(6, 0, 3);
      _tile_dpbf16ps(7, 0, 4);
      _tile_dpbf16ps(7, 1, 4);
      _tile_dpbf16ps(7, 0, 5);
      _tile_stored(6, cbuf[0], 64);
      _tile_stored(7, cbuf[1], 64);
      for (int64_t q = 0; q < nq; ++q) {
        _mm512_storeu_ps(xr + rows[q0 + q] * 16, _mm512_load_ps(cbuf[0] + q * 16));
        _mm512_storeu_ps(xi + rows[q0 + q] * 16, _mm512_load_ps(cbuf[1] + q * 16));
      }
      continue;
    }
    _tile_loadd(0, abuf[0], 64);
    _tile_loadd(1, abuf[1], 64);
    _tile_loadd(2, abuf[2], 64);
    _tile_loadd(3, abuf[3], 64);
    for (int plane = 0; plane < 2; ++plane) {
      // C(ct) = sum over K tiles kt (0: Xr, 1: Xi) of Xhi Bhi + Xlo Bhi + Xhi Blo, B tile
      // index (plane * 2 + ct) * 2 + kt
#define LMF_LEAF32_TILE(CT, CTILE)                                  \
  _tile_zero(CTILE);                                                \
  for (int kt = 0; kt < 2; ++kt) {                                  \
    const int64_t i = (plane * 2 + CT) * 2 + kt;                    \
    _tile_loadd(4, Bt.t[2 * i], 64);                                \
    _tile_loadd(5, Bt.t[2 * i + 1], 64);                            \
    if (kt == 0) {                                                  \
      _tile_dpbf16ps(CTILE, 0, 4);                                  \
      _tile_dpbf16ps(CTILE, 2, 4);                                  \
      _tile_dpbf16ps(CTILE, 0, 5);                                  \
    } else {                                                        \
      _tile_dpbf16ps(CTILE, 1, 4);                                  \
      _tile_dpbf16ps(CTILE, 3, 4);                                  \
      _tile_dpbf16ps(CTILE, 1, 5);                                  \
    }                                                               \
  }
      LMF_LEAF32_TILE(0, 6)
      LMF_LEAF32_TILE(1, 7)
#undef LMF_LEAF32_TILE
      _tile_stored(6, cbuf[0], 64);
      _tile_stored(7, cbuf[1], 64);
      for (int64_t q = 0; q < nq; ++q) {
        float* dst = (plane ? xi : xr) + rows[q0 + q] * 32;
        _mm512_storeu_ps(dst, _mm512_load_ps(cbuf[0] + q * 16));
        _mm512_storeu_ps(dst + 16, _mm512_load_ps(cbuf[1] + q * 16));
      }
    }
  }
}

struct Amx {
  static constexpr int64_t leaf_batch = 16;  // one full A tile of rows per leaf call
  static void level(const float* gr, const float* gi, bool conj, int64_t r, const int64_t* orows, int64_t n_out,
                    const int64_t* irows, int64_t n_in, int64_t m, const float* twr, const float* twi, const float* xr,
                    const float* xi, float* yr, float* yi) {
    if (r <= 8 && m % 16 == 0) return level_amx_small(gr, gi, conj, r, orows, n_out, irows, n_in, m, twr, twi, xr, xi, yr, yi);
    if (r <= 16 && m % 16 == 0) return level_amx(gr, gi, conj, r, orows, n_out, irows, n_in, m, twr, twi, xr, xi, yr, yi);
    if (m % 16) return level_generic(gr, gi, conj, r, orows, n_out, irows, n_in, m, twr, twi, xr, xi, yr, yi);
    if (conj) level_simd<true>(gr, gi, r, orows, n_out, irows, n_in, m, twr, twi, xr, xi, yr, yi);
    else level_simd<false>(gr, gi, r, orows, n_out, irows, n_in, m, twr, twi, xr, xi, yr, yi);
  }
  static void leaf(const float* gr, const float* gi, bool conj, int64_t n, const int64_t* rows, int64_t nrows,
                   float* xr, float* xi) {
    if (n == 16 || n == 32) return leaf_amx(gr, gi, conj, n, rows, nrows, xr, xi);
    leaf_generic(gr, gi, conj, n, rows, nrows, xr, xi);
  }
};

}  // namespace amx_isa

void conv_fwd_amx(const ConvArgs& a, int64_t h0, int64_t h1) {
  if (a.dt != Dt::bf16) return conv_fwd_avx512(a, h0, h1);
  amx_isa::TileScope tiles;
  amx_isa::conv_fwd_impl<amx_isa::Amx, float, uint16_t>(a, h0, h1);
}
void conv_bwd_amx(const ConvArgs& a, int64_t h0, int64_t h1) {
  if (a.dt != Dt::bf16) return conv_bwd_avx512(a, h0, h1);
  amx_isa::TileScope tiles;
  amx_isa::conv_bwd_impl<amx_isa::Amx, float, uint16_t>(a, h0, h1);
}
void fft_amx_f32(const FftPlan& p, float* re, float* im) {
  amx_isa::TileScope tiles;
  amx_isa::fft_whole<amx_isa::Amx, float>(p, re, im);
}

}  // namespace fftk
}  // namespace lmforge
