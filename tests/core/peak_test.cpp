// Tests for core/peak.h: the override, the measurement and the cache round trip. The measurement
// budget is tiny (a few ms per dtype): these tests check plumbing, never speed.
#include <gtest/gtest.h>

#include <ATen/Parallel.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "lmforge/core/error.h"
#include "lmforge/core/peak.h"
#include "lmforge/core/precision.h"

namespace lmforge {

namespace {
// Points XDG_CACHE_HOME at a fresh folder and clears LMFORGE_PEAK_GFLOPS for one test.
class PeakEnv : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("lmforge_peak_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    setenv("XDG_CACHE_HOME", dir_.c_str(), 1);
    unsetenv("LMFORGE_PEAK_GFLOPS");
  }
  void TearDown() override {
    unsetenv("XDG_CACHE_HOME");
    unsetenv("LMFORGE_PEAK_GFLOPS");
    std::filesystem::remove_all(dir_);
  }
  std::filesystem::path dir_;
};
}  // namespace

TEST(PeakOverride, Parses) {
  Peak p = parse_peak_override("300");
  EXPECT_DOUBLE_EQ(p.fp32_gflops, 300);
  EXPECT_DOUBLE_EQ(p.bf16_gflops, 300);
  p = parse_peak_override("300,1400");
  EXPECT_DOUBLE_EQ(p.fp32_gflops, 300);
  EXPECT_DOUBLE_EQ(p.bf16_gflops, 1400);
  p = parse_peak_override("bf16=1400, fp32=250.5");
  EXPECT_DOUBLE_EQ(p.fp32_gflops, 250.5);
  EXPECT_DOUBLE_EQ(p.bf16_gflops, 1400);
  p = parse_peak_override("bf16=1400");
  EXPECT_DOUBLE_EQ(p.fp32_gflops, 1400);
  EXPECT_EQ(p.source, "env");
}

TEST(PeakOverride, RejectsMalformed) {
  for (const char* bad : {"", "abc", "-5", "0", "300,", "1,2,3", "fp64=3", "fp32=x", "300x"}) {
    EXPECT_THROW(parse_peak_override(bad), ConfigError) << "'" << bad << "'";
  }
  try {
    parse_peak_override("abc");
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("LMFORGE_PEAK_GFLOPS"), std::string::npos);
  }
}

TEST_F(PeakEnv, EnvOverridesMeasurement) {
  setenv("LMFORGE_PEAK_GFLOPS", "fp32=123,bf16=456", 1);
  Peak p = machine_peak();
  EXPECT_EQ(p.source, "env");
  EXPECT_DOUBLE_EQ(p.fp32_gflops, 123);
  EXPECT_DOUBLE_EQ(peak_gflops(at::kBFloat16), 456);
  EXPECT_DOUBLE_EQ(peak_gflops(at::kFloat), 123);
  EXPECT_FALSE(std::filesystem::exists(peak_cache_path()));  // nothing measured, nothing written
}

// train.precision = "auto": bf16 when its matmul peak is at least 1.25x fp32's.
TEST_F(PeakEnv, AutoPrecisionFollowsTheMeasuredPeaks) {
  setenv("LMFORGE_PEAK_GFLOPS", "fp32=300,bf16=1400", 1);
  EXPECT_EQ(parse_precision("auto", "train.precision"), at::kBFloat16);
  setenv("LMFORGE_PEAK_GFLOPS", "fp32=300,bf16=360", 1);
  EXPECT_EQ(parse_precision("auto", "train.precision"), at::kFloat);
  EXPECT_EQ(faster_training_precision(), at::kFloat);
  EXPECT_THROW(parse_precision("fp16", "train.precision"), ConfigError);
}

TEST_F(PeakEnv, MeasuresThenReusesCache) {
  EXPECT_EQ(peak_cache_path(), (dir_ / "lmforge" / "peak.json").string());
  Peak first = machine_peak(/*refresh=*/false, /*seconds_each=*/0.01);
  EXPECT_EQ(first.source, "measured");
  EXPECT_GT(first.fp32_gflops, 0);
  EXPECT_GT(first.bf16_gflops, 0);
  EXPECT_GT(first.fp32_size, 0);
  EXPECT_EQ(first.threads, at::get_num_threads());
  ASSERT_TRUE(std::filesystem::exists(peak_cache_path()));

  std::ifstream in(peak_cache_path());
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  EXPECT_NE(text.find(peak_cache_key(at::get_num_threads())), std::string::npos) << text;

  Peak again = machine_peak(false, 0.01);
  EXPECT_EQ(again.source, "cache");
  EXPECT_DOUBLE_EQ(again.fp32_gflops, first.fp32_gflops);
  EXPECT_DOUBLE_EQ(again.bf16_gflops, first.bf16_gflops);
}

TEST_F(PeakEnv, MalformedCacheIsRemeasured) {
  std::filesystem::create_directories(dir_ / "lmforge");
  std::ofstream(peak_cache_path()) << "{ not json";
  Peak p = machine_peak(false, 0.01);
  EXPECT_EQ(p.source, "measured");
  EXPECT_GT(p.fp32_gflops, 0);
}

}  // namespace lmforge
