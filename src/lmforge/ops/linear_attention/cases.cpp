// Harness cases of linear_attention (ops/harness.h). Inputs are positive features
// phi = exp(0.5 N(0,1)) (like Hedgehog's exp map) and v ~ N(0,1).
//  - small shapes (test + grad): L not a multiple of the chunk, chunk 1, chunk > L, non-causal,
//    F != D, batch > 1, and the AMX path's tails (F, D, chunk not multiples of 32, a short last chunk);
//    the reference is the masked-quadratic form.
//  - the benchmark shapes (perf): B=1, 8 heads, d=64 (F=64 like 1+ELU; F=128 like Hedgehog),
//    L 1K..32K, fp32 and bf16. Up to 4K the reference is the masked-quadratic form; beyond, its
//    L x L matrix (8 x L^2 floats) does not fit, so the reference is the ATen chunked form.
#include <algorithm>
#include <string>

#include "lmforge/ops/harness.h"
#include "lmforge/ops/linear_attention/op.h"

namespace lmforge {
namespace {

struct Shape {
  int64_t B, H, L, F, D, chunk;
  bool causal = true;
};

std::string name(const Shape& s) {
  return "B" + std::to_string(s.B) + "_H" + std::to_string(s.H) + "_L" + std::to_string(s.L) + "_F" +
         std::to_string(s.F) + "_D" + std::to_string(s.D) + "_C" + std::to_string(s.chunk) +
         (s.causal ? "" : "_noncausal");
}

OpCase make_case(const Shape& s, bool small) {
  OpCase c;
  c.op = "linear_attention";
  c.shape = name(s);
  c.dtypes = {at::kFloat, at::kBFloat16};
  c.make_inputs = [s](at::ScalarType dt) {
    return OpInputs{at::exp(0.5 * at::randn({s.B, s.H, s.L, s.F}, at::kDouble)).to(dt),
                    at::exp(0.5 * at::randn({s.B, s.H, s.L, s.F}, at::kDouble)).to(dt),
                    at::randn({s.B, s.H, s.L, s.D}, at::kDouble).to(dt)};
  };
  LinearAttentionOptions o;
  o.causal = s.causal, o.chunk = s.chunk;
  c.fast = [o](const OpInputs& in) { return std::vector<at::Tensor>{linear_attention(in[0], in[1], in[2], o)}; };
  const bool quadratic_fits = s.L <= 4096;
  c.ref = [o, quadratic_fits](const OpInputs& in) {
    return std::vector<at::Tensor>{quadratic_fits ? linear_attention_ref(in[0], in[1], in[2], o)
                                                  : linear_attention_chunked_ref(in[0], in[1], in[2], o)};
  };
  // The necessary work of the chunked form: per chunk of C, QK^T and AV on the causal half
  // (C^2 (F + D)) plus the inter-chunk Q S and the state update K^T V (2 C F D), x2 FLOPs per MAC.
  c.flops = [s](const OpInputs&) {
    const double L = s.L, C = std::min(s.chunk, s.L), F = s.F, D = s.D;
    const double intra = s.causal ? L * C / 2.0 * (F + D) : 0;  // (L/C) chunks x C^2/2 x (F + D) MACs
    return 2.0 * s.B * s.H * (intra + 2.0 * L * F * D);
  };
  // bf16: the output is rounded to bf16 (rel 2^-8 = 3.9e-3), the gradients come from bf16-rounded
  // upstream values summed over up to L terms; 2e-2 covers L=255 with margin. The AMX bf16 kernel
  // (cpu_amx.cpp) also rounds some intermediate tile operands (M^T, dn, the states' copies) to bf16:
  // its worst case is 0.32 of this bound (grad of v, B2_H2_L200_F128_D64), so the bound is unchanged.
  // (The bound is loose for dq, whose values are ~0.1: tests/ops/linear_attention_test.cpp
  // Bf16TakesTheAmxKernelOnlyUnderAmx checks the AMX path's relative rms error against float64.)
  c.tol[at::kBFloat16] = {2e-2, 2e-2};
  c.tol[at::kFloat] = {1e-5, 1e-4};
  c.test = small;
  c.grad = small;
  c.perf = !small;
  return c;
}

const bool kCases = [] {
  for (const Shape& s : {Shape{1, 2, 37, 8, 5, 16}, Shape{2, 3, 70, 6, 4, 32}, Shape{1, 1, 9, 3, 2, 1},
                         Shape{1, 2, 20, 4, 3, 64}, Shape{2, 2, 45, 5, 7, 16, false},
                         // tails of the AMX path (blocks padded to 32): L not a multiple of the chunk,
                         // chunk not a multiple of 32, F and D not multiples of 16 / 32
                         Shape{1, 2, 100, 40, 24, 64}, Shape{1, 1, 150, 72, 50, 48}, Shape{2, 1, 77, 18, 36, 32, false}})
    register_op_case(make_case(s, true));
  // test only (too large for finite differences): realistic widths, a tail chunk
  for (const Shape& s : {Shape{1, 2, 255, 64, 64, 64}, Shape{2, 2, 200, 128, 64, 64}, Shape{1, 2, 130, 64, 64, 64, false}}) {
    OpCase c = make_case(s, true);
    c.grad = false;
    register_op_case(std::move(c));
  }
  for (int64_t L : {1024, 2048, 4096, 8192, 16384, 32768}) register_op_case(make_case(Shape{1, 8, L, 64, 64, 64}, false));
  register_op_case(make_case(Shape{1, 8, 4096, 128, 64, 64}, false));
  return true;
}();

}  // namespace
}  // namespace lmforge
