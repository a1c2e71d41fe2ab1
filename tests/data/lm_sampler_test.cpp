// Tests of the LM batch samplers: determinism, shifting, rank sharding, full coverage of the
// sequential evaluation windows with and without context and prefix.
#include <gtest/gtest.h>

#include "lmforge/core/error.h"
#include "lmforge/data/lm_sampler.h"

namespace lmforge::data {
namespace {

TEST(DataLmSampler, DeterministicShiftedWindows) {
  at::Tensor data = at::arange(1000, at::kLong) * 3;
  LmSampler s(span_of(data), 16, 4, 42);
  LmBatch a = s.batch(7), b = s.batch(7), c = s.batch(8);
  EXPECT_TRUE(a.inputs.equal(b.inputs));
  EXPECT_TRUE(a.targets.equal(b.targets));
  EXPECT_FALSE(a.inputs.equal(c.inputs));
  ASSERT_EQ(a.inputs.sizes(), (std::vector<int64_t>{4, 16}));
  EXPECT_EQ(a.inputs.scalar_type(), at::kLong);
  for (int64_t i = 0; i < 4; ++i) {
    int64_t o = s.offset(7, i);
    EXPECT_TRUE(a.inputs[i].equal(data.narrow(0, o, 16)));
    EXPECT_TRUE(a.targets[i].equal(data.narrow(0, o + 1, 16)));
  }
  // A fresh sampler (a resumed run) gives the same batch for the same step.
  LmSampler resumed(span_of(data), 16, 4, 42);
  EXPECT_TRUE(resumed.batch(7).inputs.equal(a.inputs));
  LmSampler other_seed(span_of(data), 16, 4, 43);
  EXPECT_FALSE(other_seed.batch(7).inputs.equal(a.inputs));
}

TEST(DataLmSampler, RanksShareTheGlobalBatch) {
  at::Tensor data = at::arange(5000, at::kInt);
  const int64_t W = 3, B = 2, T = 8;
  LmSampler global(span_of(data), T, B * W, 9);
  for (int64_t step : {0, 1, 123456}) {
    LmBatch g = global.batch(step);
    for (int64_t r = 0; r < W; ++r) {
      LmBatch l = LmSampler(span_of(data), T, B, 9, r, W).batch(step);
      for (int64_t i = 0; i < B; ++i) {
        EXPECT_TRUE(l.inputs[i].equal(g.inputs[r + W * i]));
        EXPECT_TRUE(l.targets[i].equal(g.targets[r + W * i]));
      }
    }
  }
}

TEST(DataLmSampler, OffsetsCoverTheRange) {
  at::Tensor data = at::arange(12, at::kLong);
  LmSampler s(span_of(data), 4, 1, 5);
  std::vector<int> seen(8, 0);  // offsets 0 .. N-T-1 = 7
  for (int64_t step = 0; step < 400; ++step) {
    int64_t o = s.offset(step, 0);
    ASSERT_GE(o, 0);
    ASSERT_LT(o, 8);
    seen[o]++;
  }
  for (int c : seen) EXPECT_GT(c, 20);
  // N == T + 1: the one possible window.
  LmSampler tight(span_of(data), 11, 2, 5);
  EXPECT_TRUE(tight.batch(3).targets[1].equal(data.narrow(0, 1, 11)));
}

TEST(DataLmSampler, RejectsBadArguments) {
  at::Tensor data = at::arange(10, at::kLong);
  EXPECT_THROW(LmSampler(span_of(data), 10, 1, 0), InputError);
  EXPECT_THROW(LmSampler(span_of(data), 4, 0, 0), ConfigError);
  EXPECT_THROW(LmSampler(span_of(data), 4, 1, 0, 2, 2), ConfigError);
  EXPECT_THROW(span_of(at::zeros({2, 2}, at::kLong)), InputError);
  EXPECT_THROW(SequentialWindows(span_of(data), 4, 4), ConfigError);
}

// Every target of the stream is scored exactly once, in order, from the right input, and context
// positions hold the tokens just before the scored ones.
void check_windows(int64_t n, int64_t T, int64_t C, int64_t prefix) {
  at::Tensor data = at::arange(100, 100 + n, at::kLong);
  SequentialWindows w(span_of(data), T, C, prefix, /*pad_id=*/7);
  const int64_t m = prefix >= 0 ? n : n - 1;
  ASSERT_EQ(w.num_scored(), m);
  std::vector<int64_t> scored;
  for (int64_t first = 0; first < w.num_windows(); first += 3) {
    LmBatch b = w.batch(first, 3);
    for (int64_t r = 0; r < b.inputs.size(0); ++r) {
      auto in = b.inputs[r], tg = b.targets[r];
      int64_t ctx = 0;
      while (ctx < T && tg[ctx].item<int64_t>() == kIgnoreIndex && in[ctx].item<int64_t>() != 7)
        ++ctx;
      EXPECT_LE(ctx, C);
      for (int64_t j = 0; j < T; ++j) {
        int64_t x = in[j].item<int64_t>(), y = tg[j].item<int64_t>();
        if (j < ctx) continue;
        if (y == kIgnoreIndex) {
          EXPECT_EQ(x, 7);  // padding only at the end
          continue;
        }
        scored.push_back(y);
        int64_t want_in = y == 100 ? prefix : y - 1;
        EXPECT_EQ(x, want_in);
        if (j > 0 && !(prefix >= 0 && x == 100)) {
          EXPECT_EQ(in[j - 1].item<int64_t>() + 1, x);
        }
      }
    }
  }
  ASSERT_EQ(static_cast<int64_t>(scored.size()), m);
  for (int64_t i = 0; i < m; ++i) EXPECT_EQ(scored[i], 100 + n - m + i);
}

TEST(DataSequentialWindows, ScoreEveryTokenOnce) {
  for (int64_t C : {0, 2, 4}) {
    check_windows(23, 5, C, -1);
    check_windows(23, 5, C, /*prefix=*/3);
    check_windows(20, 5, C, 3);
  }
  check_windows(6, 8, 0, 3);  // shorter than one window
}

TEST(DataSequentialWindows, SlidingWindowKeepsFullContext) {
  at::Tensor data = at::arange(50, at::kLong);
  SequentialWindows w(span_of(data), 8, 7, -1);
  EXPECT_EQ(w.num_windows(), 49);
  LmBatch b = w.batch(20, 1);
  EXPECT_TRUE(b.inputs[0].equal(at::arange(13, 21, at::kLong)));
  EXPECT_EQ((b.targets[0] != kIgnoreIndex).sum().item<int64_t>(), 1);
  EXPECT_EQ(b.targets[0][7].item<int64_t>(), 21);
}

}  // namespace
}  // namespace lmforge::data
