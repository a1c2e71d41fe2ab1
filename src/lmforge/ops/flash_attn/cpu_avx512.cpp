// Flash-attention kernels with AVX-512 (float): a register-blocked GEMM micro-kernel (up to 6 rows x
// 64 columns of C in 24 zmm accumulators, one broadcast of A per row and up to 4 loads of B per step
// of the inner dimension, masked tails), and the masking and exponentials of the online softmax 16 lanes
// at a time (the micro-kernel is ops/avx512_gemm.inc's). The tiled algorithm is driver.inc's.
// The AVX-512-BF16 variant (bf16 inputs where the CPU has avx512_bf16: the AMD EPYC machines, and
// the AMX ones) keeps everything but the GEMMs in fp32; each GEMM rounds its operands to bf16
// (exact for q, k, v, which came in as bf16; P and dS are rounded, as flash attention does on GPUs),
// packs them in pairs along the inner dimension and multiplies with VDPBF16PS, twice the products
// per instruction of fp32 FMA, accumulating in fp32. Called only when Isa::avx512bf16 is active.
#include <immintrin.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <type_traits>
#include <limits>
#include <vector>

#include "lmforge/ops/flash_attn/kernel.h"

namespace lmforge {
namespace fak {
namespace {

#include "lmforge/ops/flash_attn/driver.inc"

#include "lmforge/ops/flash_attn/avx512_common.inc"

// The multiply-add of the VDPBF16PS micro-kernel: A and B hold bf16 pairs (uint32), each lane adds
// the products of its two pairs to the fp32 accumulator.
struct Bf16Pairs {
  using A = uint32_t;
  using B = uint32_t;
  using Vb = __m512i;
  static __m512i load_b(__mmask16 m, const uint32_t* p) { return _mm512_maskz_loadu_epi32(m, p); }
  static __m512i broadcast(uint32_t a) { return _mm512_set1_epi32(static_cast<int>(a)); }
  static __m512 madd(__m512 c, __m512i a, __m512i b) { return _mm512_dpbf16_ps(c, (__m512bh)a, (__m512bh)b); }
};
using Bf16Micro = RegisterBlock<Bf16Pairs>;

struct Avx512Bf16 : Avx512 {
  // Packs A and B in bf16 pairs along k (vectorised both when A's rows are contiguous, csa = 1, and
  // when its columns are, rsa = 1: the transposed P^T and dS^T of the backward), then runs the
  // VDPBF16PS micro-kernel. Packing is O(mk + kn) against O(mnk) products (1/64 at 64 x 64 tiles).
  static void gemm(int64_t m, int64_t n, int64_t k, const float* A, int64_t rsa, int64_t csa, const float* B,
                   int64_t ldb, float* C, int64_t ldc, bool accumulate) {
    thread_local std::vector<uint32_t> ap, bp;
    const int64_t kp = (k + 1) / 2;
    ap.resize(m * kp);
    bp.resize(kp * n);
    int64_t ars, aps;
    if (csa == 1) {
      pack_rows(A, m, k, rsa, ap.data());
      ars = kp, aps = 1;
    } else if (rsa == 1) {
      pack_pairs(A, k, m, csa, ap.data());  // A^T is k x m with contiguous rows
      ars = 1, aps = m;
    } else {
      for (int64_t i = 0; i < m; ++i)
        for (int64_t p = 0; p < 2 * kp; ++p)
          reinterpret_cast<uint16_t*>(ap.data())[i * 2 * kp + p] =
              p < k ? static_cast<uint16_t>(bf16_bits(A[i * rsa + p * csa])) : uint16_t(0);
      ars = kp, aps = 1;
    }
    pack_pairs(B, k, n, ldb, bp.data());
    block_gemm<Bf16Micro>(kRows, m, n, kp, ap.data(), ars, aps, bp.data(), n, C, ldc, accumulate);
  }
};

}  // namespace

void fa_fwd_avx512bf16_f32(const FaArgs& a, int64_t b0, int64_t b1) { fwd_slices<float, Avx512Bf16>(a, b0, b1); }
void fa_bwd_avx512bf16_f32(const FaArgs& a, int64_t b0, int64_t b1) { bwd_slices<float, Avx512Bf16>(a, b0, b1); }
void fa_fwd_avx512_f32(const FaArgs& a, int64_t b0, int64_t b1) { fwd_slices<float, Avx512>(a, b0, b1); }
void fa_bwd_avx512_f32(const FaArgs& a, int64_t b0, int64_t b1) { bwd_slices<float, Avx512>(a, b0, b1); }

}  // namespace fak
}  // namespace lmforge
