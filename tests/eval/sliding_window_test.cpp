// The sliding-window protocol: every target scored exactly once, with the promised context.
#include <gtest/gtest.h>

#include "lmforge/core/error.h"
#include "lmforge/eval/sliding_window.h"

using namespace lmforge;

TEST(SlidingWindow, EveryTargetScoredOnceWithEnoughContext) {
  for (int64_t n : {1, 2, 7, 100, 257}) {
    for (auto [c, s] : std::vector<std::pair<int64_t, int64_t>>{{1, 1}, {8, 8}, {8, 4}, {8, 1}, {64, 16}, {300, 150}}) {
      SCOPED_TRACE(testing::Message() << "n=" << n << " C=" << c << " S=" << s);
      std::vector<int> times(static_cast<size_t>(n + 1), 0);
      for (const Window& w : sliding_windows(n, c, s)) {
        EXPECT_LE(w.hi - w.lo, c);
        EXPECT_GE(w.first, w.lo + 1);
        for (int64_t t = w.first; t <= w.hi; ++t) {
          ++times[static_cast<size_t>(t)];
          // Context of target t is stream[lo, t): at least min(t, C - S) tokens (first window: all).
          EXPECT_GE(t - w.lo, std::min<int64_t>(t, c - s + 1 > 1 ? c - s : 1));
          EXPECT_LE(t - w.lo, c);
        }
      }
      for (int64_t t = 1; t <= n; ++t) EXPECT_EQ(times[static_cast<size_t>(t)], 1) << "target " << t;
    }
  }
}

TEST(SlidingWindow, DisjointWhenStrideEqualsContext) {
  auto w = sliding_windows(10, 4, 4);
  ASSERT_EQ(w.size(), 3u);
  EXPECT_EQ(w[1].lo, 4);
  EXPECT_EQ(w[1].first, 5);
  EXPECT_EQ(w[2].hi, 10);
}

TEST(SlidingWindow, BadStrideIsAConfigError) {
  EXPECT_THROW(sliding_windows(10, 4, 5), ConfigError);
  EXPECT_THROW(sliding_windows(10, 4, 0), ConfigError);
  EXPECT_THROW(sliding_windows(10, 0, 1), ConfigError);
}
