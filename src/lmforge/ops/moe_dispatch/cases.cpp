// Harness cases for moe_dispatch. The inputs are x, gate logits, the expert weights (and biases);
// both paths route the same way (top-k of the logits, softmax over the k picked, moe_route with
// capacity / padding), so the gradient also reaches the logits through the combine weights.
// Small shapes run in test + grad (capacity drops, padding, no bias, gelu/silu, top-1); the
// benchmark shape of bench/sparse_attention_moe.sh (4096 tokens, D 256, 8 experts of 512, top-2) is perf only.
#include <cmath>

#include "lmforge/ops/harness.h"
#include "lmforge/ops/moe_dispatch/op.h"

namespace lmforge {
namespace {

struct Spec {
  int64_t T, D, H, E, K;
  double cf;         // capacity factor, 0 = no limit
  int64_t padded;    // the last `padded` tokens are padding
  bool bias;
  std::string act;
};

OpCase moe_case(const std::string& shape, Spec s, bool perf) {
  OpCase c;
  c.op = "moe_dispatch", c.shape = shape;
  c.dtypes = {at::kFloat, at::kBFloat16};
  c.make_inputs = [=](at::ScalarType dt) {
    OpInputs in{at::randn({s.T, s.D}).to(dt), at::randn({s.T, s.E}).to(dt),
                (at::randn({s.E, s.H, s.D}) / std::sqrt(s.D)).to(dt), (at::randn({s.E, s.D, s.H}) / std::sqrt(s.H)).to(dt)};
    if (s.bias) in.push_back(at::randn({s.E, s.H}).mul(0.1).to(dt)), in.push_back(at::randn({s.E, s.D}).mul(0.1).to(dt));
    return in;
  };
  auto run = [=](const OpInputs& in, bool fast) {
    auto [top_v, top_i] = in[1].topk(s.K, -1);
    at::Tensor w = at::softmax(top_v, -1);
    at::Tensor valid;
    if (s.padded > 0) valid = at::arange(s.T) < s.T - s.padded;
    MoeRoute r = moe_route(top_i, s.E, s.cf, valid);
    at::Tensor b1 = s.bias ? in[4] : at::Tensor(), b2 = s.bias ? in[5] : at::Tensor();
    auto f = fast ? moe_dispatch : moe_dispatch_ref;
    return std::vector<at::Tensor>{f(in[0], w, r.order, r.counts, in[2], b1, in[3], b2, s.act)};
  };
  c.fast = [=](const OpInputs& in) { return run(in, true); };
  c.ref = [=](const OpInputs& in) { return run(in, false); };
  c.flops = [=](const OpInputs&) { return 2.0 * 2.0 * s.T * s.K * s.D * s.H; };  // both GEMMs, all routed rows
  // bf16: the fast path sums a token's k weighted expert outputs in fp32 and rounds once; the
  // reference rounds the product and every scatter_add; the ref runs in fp32 on the same inputs,
  // so the bound is the bf16 GEMM rounding (H and D terms) at |y| ~ 1.
  c.tol[at::kBFloat16] = {3e-2, 3e-2};
  c.grad = !perf, c.test = !perf, c.perf = perf;
  return c;
}

const bool kCases = [] {
  register_op_case(moe_case("T12_E4_k2_nocap", {12, 8, 6, 4, 2, 0.0, 0, true, "relu"}, false));
  register_op_case(moe_case("T16_E4_k2_cap0.5_drops", {16, 8, 6, 4, 2, 0.5, 0, true, "relu"}, false));
  register_op_case(moe_case("T16_E4_k2_cap1_pad5_nobias_gelu", {16, 8, 6, 4, 2, 1.0, 5, false, "gelu"}, false));
  register_op_case(moe_case("T10_E3_k1_cap1.25_pad2_silu", {10, 6, 5, 3, 1, 1.25, 2, true, "silu"}, false));
  register_op_case(moe_case("T12_E8_k3_cap0.6_gelu_tanh", {12, 8, 4, 8, 3, 0.6, 0, true, "gelu_tanh"}, false));
  register_op_case(moe_case("T4096_D256_E8_h512_k2_cap1.25", {4096, 256, 512, 8, 2, 1.25, 0, true, "relu"}, true));
  return true;
}();

}  // namespace
}  // namespace lmforge
