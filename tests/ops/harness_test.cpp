// Runs every registered operator case in test and grad modes for every ISA this machine supports,
// so a new operator is tested by registering its cases (ops/NAME/cases.cpp); plus the harness's own
// checks (a wrong fast path must fail, ISA pinning must refuse what the CPU lacks).
#include <gtest/gtest.h>

#include <cstdlib>
#include <set>

#include "lmforge/core/cpu_features.h"
#include "lmforge/core/error.h"
#include "lmforge/ops/harness.h"
#include "lmforge/ops/isa.h"
#include "lmforge/ops/kernel_info.h"

namespace lmforge {
namespace {

std::vector<std::string> case_names(HarnessMode mode) {
  std::vector<std::string> v;
  for (const auto& c : op_cases())
    if (mode == HarnessMode::test ? c.test : c.grad) v.push_back(c.op + "/" + c.shape);
  return v;
}

const OpCase& find_case(const std::string& name) {
  for (const auto& c : op_cases())
    if (c.op + "/" + c.shape == name) return c;
  throw std::runtime_error("case vanished: " + name);
}

void run_all_isas(const std::string& name, HarnessMode mode) {
  for (Isa isa : supported_isas())
    for (const CaseResult& r : run_op_case(find_case(name), mode, isa)) EXPECT_TRUE(r.pass) << format_result(r);
}

std::string param_name(const ::testing::TestParamInfo<std::string>& info) {
  std::string s = info.param;
  for (char& ch : s)
    if (!std::isalnum(static_cast<unsigned char>(ch))) ch = '_';
  return s;
}

// Every case registered for test mode, on every ISA: fast vs reference, outputs and gradients.
class OpTest : public ::testing::TestWithParam<std::string> {};
TEST_P(OpTest, MatchesReference) { run_all_isas(GetParam(), HarnessMode::test); }
INSTANTIATE_TEST_SUITE_P(Ops, OpTest, ::testing::ValuesIn(case_names(HarnessMode::test)), param_name);
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(OpTest);

// Every case registered for grad mode: float64 finite differences vs the op's backward.
class OpGrad : public ::testing::TestWithParam<std::string> {};
TEST_P(OpGrad, MatchesFiniteDifferences) { run_all_isas(GetParam(), HarnessMode::grad); }
INSTANTIATE_TEST_SUITE_P(Ops, OpGrad, ::testing::ValuesIn(case_names(HarnessMode::grad)), param_name);
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(OpGrad);

// A toy op for the harness's self-checks: y = x * w (elementwise), w broadcast over rows.
OpCase toy(bool wrong_forward, bool wrong_backward) {
  OpCase c;
  c.op = "toy", c.shape = "4x8";
  c.dtypes = {at::kFloat, at::kBFloat16};
  c.make_inputs = [](at::ScalarType dt) {
    return OpInputs{at::randn({4, 8}).to(dt), at::randn({8}).to(dt)};
  };
  c.ref = [](const OpInputs& in) { return std::vector<at::Tensor>{in[0] * in[1]}; };
  c.fast = [=](const OpInputs& in) {
    at::Tensor y = in[0] * in[1];
    if (wrong_forward) y = y + 1e-2;
    if (wrong_backward) y = y + (in[0] * in[1] * 1e-2 - (in[0] * in[1] * 1e-2).detach());  // value same, grad off
    return std::vector<at::Tensor>{y};
  };
  c.grad = true;
  return c;
}

TEST(OpHarness, CorrectOpPasses) {
  for (HarnessMode m : {HarnessMode::test, HarnessMode::grad})
    for (const CaseResult& r : run_op_case(toy(false, false), m, Isa::ref)) EXPECT_TRUE(r.pass) << format_result(r);
}

TEST(OpHarness, WrongForwardFails) {
  for (const CaseResult& r : run_op_case(toy(true, false), HarnessMode::test, Isa::ref))
    if (r.dtype == "fp32") {
      EXPECT_FALSE(r.pass) << format_result(r);
    }
}

TEST(OpHarness, WrongBackwardFailsBothModes) {
  for (HarnessMode m : {HarnessMode::test, HarnessMode::grad})
    for (const CaseResult& r : run_op_case(toy(false, true), m, Isa::ref))
      if (r.dtype != "bf16") {
        EXPECT_FALSE(r.pass) << format_result(r);
      }
}

TEST(OpHarness, ErrorShare) {
  Tolerance t{1e-3, 0};
  EXPECT_NEAR(error_share(at::ones({3}) * 1.0005, at::ones({3}), t), 0.5, 1e-3);
  EXPECT_TRUE(std::isinf(error_share(at::ones({3}), at::ones({4}), t)));
  EXPECT_TRUE(std::isinf(error_share(at::full({2}, NAN), at::ones({2}), t)));
}

TEST(Isa, NamesRoundTrip) {
  for (Isa i : {Isa::ref, Isa::avx2, Isa::avx512, Isa::avx512bf16, Isa::amx}) EXPECT_EQ(parse_isa(isa_name(i)), i);
  EXPECT_THROW(parse_isa("sse9"), UserError);
}

TEST(Isa, ScopedOverrideAndEnv) {
  EXPECT_EQ(supported_isas().front(), Isa::ref);
  EXPECT_EQ(supported_isas().back(), detected_isa());
  {
    ScopedIsa pin(Isa::ref);
    EXPECT_EQ(active_isa(), Isa::ref);
  }
  ::setenv("LMFORGE_ISA", "ref", 1);
  EXPECT_EQ(active_isa(), Isa::ref);
  ::setenv("LMFORGE_ISA", "bogus", 1);
  EXPECT_THROW(active_isa(), UserError);
  ::unsetenv("LMFORGE_ISA");
  EXPECT_EQ(active_isa(), detected_isa());
  for (Isa i : {Isa::avx2, Isa::avx512, Isa::avx512bf16, Isa::amx})
    if (!isa_supported(i)) {
      EXPECT_THROW(ScopedIsa{i}, UserError);
    }
}

TEST(CpuFeatures, ConsistentWithIsa) {
  const CpuFeatures& f = cpu_features();
  EXPECT_EQ(isa_supported(Isa::avx512), f.has_avx512());
  EXPECT_EQ(isa_supported(Isa::avx512bf16), f.has_avx512() && f.avx512bf16);
  EXPECT_FALSE(cpu_features_string().empty());
  if (f.has_amx()) {
    EXPECT_TRUE(request_amx_permission());
  }
}

// `lmforge info` lists the kernel of every operator the harness tests (ops/kernel_info.h); "linear"
// and "hyena" are harness names of composites (a dense baseline, the Hyena mixer), not operators.
TEST(KernelInfo, EveryHarnessOperatorSaysWhichKernelItRuns) {
  std::set<std::string> described;
  for (const auto& [op, describe] : kernel_infos()) {
    described.insert(op);
    for (Isa isa : supported_isas()) {
      EXPECT_FALSE(describe(at::kFloat, isa).empty()) << op;
      EXPECT_FALSE(describe(at::kBFloat16, isa).empty()) << op;
    }
  }
  for (const OpCase& c : op_cases())
    if (c.op != "linear" && c.op != "hyena") EXPECT_TRUE(described.count(c.op)) << c.op << " has no kernel info";
}

}  // namespace
}  // namespace lmforge
