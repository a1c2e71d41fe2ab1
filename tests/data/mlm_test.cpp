// MLM corruption: selection rate within 3 sigma of the configured rate (spec oracle), the 80/10/10
// split, specials never selected, targets only where selected, and purity in the key.
#include <cmath>

#include <gtest/gtest.h>

#include "lmforge/data/mlm.h"

using namespace lmforge::data;

TEST(Mlm, RatesSplitSpecialsAndDeterminism) {
  const int64_t B = 64, L = 128, vocab = 1000, mask = 3, cls = 1, sep = 2;
  at::Tensor ids = at::randint(10, vocab, {B, L});
  ids.select(1, 0).fill_(cls);
  ids.select(1, L - 1).fill_(sep);
  MlmOptions o;
  MlmBatch m = mask_tokens(ids, 0.3, o, mask, vocab, {cls, sep, 0}, 42);
  at::Tensor sel = m.targets != -100;
  const double n = static_cast<double>(B * (L - 2));
  const double k = sel.sum().item<double>();
  EXPECT_NEAR(k / n, 0.3, 3 * std::sqrt(0.3 * 0.7 / n));
  EXPECT_TRUE(at::equal(m.targets.masked_select(sel), ids.masked_select(sel)));
  EXPECT_EQ(sel.select(1, 0).sum().item<int64_t>(), 0);      // [CLS] never
  EXPECT_EQ(sel.select(1, L - 1).sum().item<int64_t>(), 0);  // [SEP] never
  EXPECT_TRUE(at::equal(m.inputs.masked_select(~sel), ids.masked_select(~sel)));
  const double masked = (m.inputs.masked_select(sel) == mask).sum().item<double>();
  const double kept = (m.inputs.masked_select(sel) == ids.masked_select(sel)).sum().item<double>();
  EXPECT_NEAR(masked / k, 0.8, 3 * std::sqrt(0.16 / k));
  EXPECT_NEAR(kept / k, 0.1, 3 * std::sqrt(0.09 / k) + 0.002);  // a random draw can hit the same id
  MlmBatch again = mask_tokens(ids, 0.3, o, mask, vocab, {cls, sep, 0}, 42);
  EXPECT_TRUE(at::equal(again.inputs, m.inputs));
  EXPECT_FALSE(at::equal(mask_tokens(ids, 0.3, o, mask, vocab, {cls, sep, 0}, 43).inputs, m.inputs));
  MlmBatch eval = mask_tokens(ids, 0.15, o, mask, vocab, {cls, sep, 0}, 42);
  EXPECT_NEAR((eval.targets != -100).sum().item<double>() / n, 0.15, 3 * std::sqrt(0.15 * 0.85 / n));
}
