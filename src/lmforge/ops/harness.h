// The operator harness: every fused operator registers its cases here, and one harness runs them in
// three modes (DESIGN.md "Operators"; modelled on ggml's test-backend-ops and llm.c's per-tensor
// tolerances):
//   test  fast path vs the plain-ATen reference: outputs AND input gradients under the same random
//         upstream gradient; |fast - ref| <= atol + rtol * |ref| per dtype; the worst error is
//         reported as a share of its bound (1.0 = exactly at the bound). For bf16/fp16 inputs the
//         reference runs in fp32 on the same rounded values, so the bound measures the fast path.
//   grad  float64 central finite differences vs the op's own backward (small shapes only).
//   perf  best-of-N ms, GFLOP/s (or GB/s), ratio to the reference, peak memory; forward and
//         forward+backward.
// Registration (in an op's cases.cpp):
//   static const bool kCases = register_op_case([] { OpCase c; c.op = "fftconv"; ...; return c; }());
// A loosened tolerance carries a comment with the failure that forced it.
#pragma once
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include <ATen/ATen.h>

#include "lmforge/ops/isa.h"

namespace lmforge {

struct Tolerance {
  double atol = 0, rtol = 0;
};

using OpInputs = std::vector<at::Tensor>;
using OpFn = std::function<std::vector<at::Tensor>(const OpInputs&)>;

struct OpCase {
  std::string op;     // operator name, e.g. "fftconv"
  std::string shape;  // shape/variant name, e.g. "B2_H4_L256_gated"
  std::vector<at::ScalarType> dtypes = {at::kFloat};
  // Builds the inputs in `dtype` (the harness seeds the global generator first). Must also accept
  // at::kDouble for grad mode. Tensors are made contiguous by the harness.
  std::function<OpInputs(at::ScalarType dtype)> make_inputs;
  // Which inputs take gradients; empty = every floating-point input.
  std::vector<int> grad_inputs;
  OpFn fast;  // the public op (dispatches on active_isa()); must be differentiable
  OpFn ref;   // plain ATen, differentiable by autograd; must accept every dtype in `dtypes`
  // Forward work, for perf: FLOPs (GFLOP/s) and/or bytes moved (GB/s); either may be empty.
  std::function<double(const OpInputs&)> flops, bytes;
  double backward_flops_factor = 2.0;  // backward FLOPs = factor * forward FLOPs
  // Per-dtype tolerance for test mode (dtypes not listed use default_tolerance()).
  std::map<at::ScalarType, Tolerance> tol;
  Tolerance grad_tol{1e-6, 1e-5};  // grad mode: finite differences vs backward, float64
  bool test = true, grad = false, perf = false;  // which modes run this case
};

Tolerance default_tolerance(at::ScalarType dtype);

bool register_op_case(OpCase c);
const std::vector<OpCase>& op_cases();
// Cases whose op equals `op` (empty = all) and whose shape contains `shape_substr`.
std::vector<const OpCase*> select_op_cases(const std::string& op, const std::string& shape_substr);

enum class HarnessMode { test, grad, perf };
const char* mode_name(HarnessMode m);

struct HarnessOptions {
  uint64_t seed = 1234;
  double perf_seconds = 0.3;   // timing budget per measured function
  int perf_max_reps = 50;
  int grad_max_elements = 48;  // finite-difference probes per input tensor
  bool perf_backward = true;   // also time forward+backward
  bool perf_ref = true;        // also time the reference (off: only the fast path, e.g. next to a peer)
};

struct CaseResult {
  std::string op, shape, dtype, isa, mode;
  bool pass = true;
  std::string message;  // failure detail, or the worst tensor
  // test / grad
  double worst_share = 0;  // max |err| / bound over all compared tensors
  std::string worst_what;  // which tensor
  // perf (0 when not measured)
  double ms = 0, ref_ms = 0, gflops = 0, gbps = 0;
  double ms_fb = 0, ref_ms_fb = 0, gflops_fb = 0;
  double peak_mb = 0, ref_peak_mb = 0;  // forward+backward resident high-water above the start
};

// Runs one case in one mode with `isa` pinned; one result per dtype (grad mode: one, float64).
std::vector<CaseResult> run_op_case(const OpCase& c, HarnessMode mode, Isa isa, const HarnessOptions& o = {});

// Compares a against the reference r: max |a-r| / (atol + rtol*|r|) (inf on NaN or shape mismatch).
double error_share(const at::Tensor& a, const at::Tensor& r, const Tolerance& t);

// One human-readable line, and the table header that goes with it.
std::string format_result(const CaseResult& r);
std::string result_header(HarnessMode mode);

}  // namespace lmforge
