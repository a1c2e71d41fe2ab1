// Tests for core/blas_info.h. Which BLAS is loaded depends on the machine's alternatives, so the
// tests check only that the answer is well-formed and points at a real file.
#include <gtest/gtest.h>

#include <ATen/ATen.h>

#include <filesystem>

#include "lmforge/core/blas_info.h"

namespace lmforge {

TEST(BlasInfo, NamesARealLoadedObject) {
  at::mm(at::ones({4, 4}), at::ones({4, 4}));  // make sure BLAS has been used (it is linked anyway)
  BlasInfo info = blas_info();
  std::cout << "BLAS: " << describe(info) << "\n";
  EXPECT_FALSE(info.name.empty());
  EXPECT_NE(info.name, "none loaded");
  ASSERT_FALSE(info.path.empty());
  EXPECT_TRUE(std::filesystem::exists(info.path)) << info.path;
  for (const auto& p : info.loaded) EXPECT_TRUE(std::filesystem::exists(p)) << p;
  if (info.name.rfind("OpenBLAS", 0) == 0) {
    EXPECT_FALSE(info.config.empty());
    EXPECT_FALSE(info.is_reference);
  }
  if (!info.lapack_path.empty()) {
    EXPECT_TRUE(std::filesystem::exists(info.lapack_path)) << info.lapack_path;
  }
}

TEST(BlasInfo, ClassifiesDebianPaths) {
  bool ref = false;
  EXPECT_EQ(classify_blas_path("/usr/lib/x86_64-linux-gnu/openblas-openmp/libblas.so.3", &ref),
            "OpenBLAS (openmp)");
  EXPECT_FALSE(ref);
  EXPECT_EQ(classify_blas_path("/usr/lib/x86_64-linux-gnu/openblas-pthread/libopenblasp-r0.3.21.so"),
            "OpenBLAS (pthread)");
  EXPECT_EQ(classify_blas_path("/usr/lib/x86_64-linux-gnu/blas/libblas.so.3.11.0", &ref),
            "reference BLAS");
  EXPECT_TRUE(ref);
  EXPECT_EQ(classify_blas_path("/usr/lib/x86_64-linux-gnu/lapack/liblapack.so.3.11.0", &ref),
            "reference LAPACK");
  EXPECT_TRUE(ref);
  EXPECT_EQ(classify_blas_path("/opt/intel/mkl/lib/libmkl_rt.so.2"), "MKL");
  EXPECT_EQ(classify_blas_path("/usr/lib/x86_64-linux-gnu/blis-openmp/libblas.so.3"), "BLIS");
}

}  // namespace lmforge
