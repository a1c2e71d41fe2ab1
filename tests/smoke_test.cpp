#include <gtest/gtest.h>
#include "lmforge/core/error.h"

TEST(Error, FormatsPieces) {
  EXPECT_EQ(lmforge::str("line ", 3, ": bad"), "line 3: bad");
}
