// ALiBi (Press et al. 2022) as MosaicBERT uses it (Portes et al. 2023): the head slopes against the
// values written out from the formula, the encoder's symmetric bias, and what the bias does to
// attention weights.
//   n = 2^a heads:   m_h = 2^(-8 h / n), h = 1..n
//   other n:         slopes(2^floor(log2 n)) followed by every other slope of slopes(2 * 2^floor(log2 n)),
//                    starting with the first, until there are n.
// 12 heads by hand: slopes(8) = 2^-1 .. 2^-8; slopes(16) = 2^(-h/2) = 2^-0.5, 2^-1, 2^-1.5, 2^-2, ...;
// every other from the first: 2^-0.5, 2^-1.5, 2^-2.5, 2^-3.5 (the four missing heads).
#include <cmath>

#include <gtest/gtest.h>

#include "lmforge/nn/positions.h"
#include "lmforge/ops/flash_attn/op.h"

using namespace lmforge;

namespace {
void expect_slopes(int64_t n, const std::vector<double>& exponents) {
  at::Tensor s = alibi_slopes(n);
  ASSERT_EQ(s.numel(), static_cast<int64_t>(exponents.size())) << n << " heads";
  for (size_t h = 0; h < exponents.size(); ++h)
    EXPECT_NEAR(s[static_cast<int64_t>(h)].item<double>(), std::pow(2.0, exponents[h]), 1e-7)
        << n << " heads, head " << h;
}
}  // namespace

TEST(Alibi, SlopesForEightHeadsAreHalfToOne256th) {
  expect_slopes(8, {-1, -2, -3, -4, -5, -6, -7, -8});
  // The same values as plain fractions: 1/2, 1/4, ..., 1/256.
  at::Tensor s = alibi_slopes(8);
  EXPECT_FLOAT_EQ(s[0].item<float>(), 0.5f);
  EXPECT_FLOAT_EQ(s[7].item<float>(), 1.0f / 256.0f);
}

TEST(Alibi, SlopesForTwelveHeadsInterleaveTheSixteenHeadSet) {
  expect_slopes(12, {-1, -2, -3, -4, -5, -6, -7, -8, -0.5, -1.5, -2.5, -3.5});
}

TEST(Alibi, SlopesForOtherHeadCounts) {
  expect_slopes(4, {-2, -4, -6, -8});  // 2^(-8h/4)
  // 6 heads: slopes(4) = 2^-2, 2^-4, 2^-6, 2^-8; slopes(8) every other from the first: 2^-1, 2^-3.
  expect_slopes(6, {-2, -4, -6, -8, -1, -3});
}

TEST(Alibi, EncoderBiasIsSymmetricInDistance) {
  at::Tensor s = alibi_slopes(2);  // 2^-4, 2^-8
  at::Tensor b = alibi_bias(s, 5, 5, 0, /*causal=*/false);
  ASSERT_EQ(b.sizes(), (at::IntArrayRef{2, 5, 5}));
  for (int64_t h = 0; h < 2; ++h)
    for (int64_t i = 0; i < 5; ++i)
      for (int64_t j = 0; j < 5; ++j)
        EXPECT_FLOAT_EQ(b[h][i][j].item<float>(), -s[h].item<float>() * static_cast<float>(std::abs(i - j)));
}

TEST(Alibi, EqualQueriesAndKeysGiveWeightsProportionalToExpOfMinusSlopeTimesDistance) {
  // q = k = 0: the logits are the bias alone; V = I makes the output the weight matrix itself.
  const int64_t H = 2, L = 6;
  at::Tensor q = at::zeros({1, H, L, L}), v = at::eye(L).expand({1, H, L, L}).contiguous();
  FlashAttentionOptions o;
  o.causal = false;
  o.alibi_slopes = alibi_slopes(H);
  at::Tensor w = flash_attention_ref(q, q, v, o)[0];  // (H, L, L)
  for (int64_t h = 0; h < H; ++h) {
    const double m = o.alibi_slopes[h].item<double>();
    for (int64_t i = 0; i < L; ++i) {
      double z = 0;
      for (int64_t j = 0; j < L; ++j) z += std::exp(-m * std::abs(i - j));
      for (int64_t j = 0; j < L; ++j)
        EXPECT_NEAR(w[h][i][j].item<double>(), std::exp(-m * std::abs(i - j)) / z, 1e-6) << h << " " << i << " " << j;
    }
  }
}
