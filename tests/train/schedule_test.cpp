#include <gtest/gtest.h>

#include <cmath>

#include "lmforge/core/error.h"
#include "lmforge/train/schedule.h"

using namespace lmforge;

TEST(Schedule, WarmupThenCosineToMin) {
  Schedule s{"cosine", 1.0, 0.1, 10, 110};
  EXPECT_DOUBLE_EQ(s.at(0), 0.1);
  EXPECT_DOUBLE_EQ(s.at(9), 1.0);
  EXPECT_DOUBLE_EQ(s.at(10), 1.0);
  EXPECT_NEAR(s.at(60), 0.55, 1e-12);  // half way: (peak + min) / 2
  EXPECT_NEAR(s.at(110), 0.1, 1e-12);
  EXPECT_NEAR(s.at(1000), 0.1, 1e-12);
}

TEST(Schedule, LinearAndConstant) {
  Schedule l{"linear", 2.0, 0.0, 0, 100};
  EXPECT_NEAR(l.at(50), 1.0, 1e-12);
  Schedule c{"constant", 2.0, 0.0, 0, 100};
  EXPECT_EQ(c.at(99), 2.0);
  Schedule bad{"cosin", 1.0, 0.0, 0, 10};
  EXPECT_THROW(bad.at(1), ConfigError);
}
