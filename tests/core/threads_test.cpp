// Tests for core/threads.h: thread counts reach ATen, the CPU name is read.
#include <gtest/gtest.h>

#include <ATen/Parallel.h>

#include "lmforge/core/threads.h"

namespace lmforge {

TEST(Threads, AvailableCoresPositive) { EXPECT_GE(available_cores(), 1); }

TEST(Threads, SetThreadsReachesATen) {
  EXPECT_EQ(set_threads(1), 1);
  EXPECT_EQ(at::get_num_threads(), 1);
  EXPECT_EQ(num_threads(), 1);
  // n <= 0: all available cores; calling again must not throw (inter-op is set only once).
  EXPECT_EQ(set_threads(0), available_cores());
  EXPECT_EQ(at::get_num_threads(), available_cores());
  EXPECT_EQ(set_threads(-1), available_cores());
  set_threads(1);
}

TEST(Threads, CpuModelNameNotEmpty) {
  std::string name = cpu_model_name();
  EXPECT_FALSE(name.empty());
  EXPECT_EQ(name.find('\n'), std::string::npos);
  EXPECT_NE(name.front(), ' ');
  EXPECT_NE(name.back(), ' ');
}

}  // namespace lmforge
