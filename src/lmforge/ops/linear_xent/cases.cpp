// Harness cases of the fused linear cross-entropy: small shapes with ignored targets for test and
// grad modes, the step benchmark's shape (2K tokens, width 256, 8K vocabulary) for perf.
#include "lmforge/ops/harness.h"
#include "lmforge/ops/linear_xent/op.h"

namespace lmforge {
namespace {

OpCase make_case(const std::string& shape, int64_t n, int64_t d, int64_t v, bool small) {
  OpCase c;
  c.op = "linear_xent";
  c.shape = shape;
  c.dtypes = {at::kFloat, at::kBFloat16};
  c.make_inputs = [n, d, v](at::ScalarType dt) {
    at::Tensor y = at::randint(0, v, {n}, at::kLong);
    y.index_put_({at::randperm(n).narrow(0, 0, n / 8)}, -100);  // some ignored targets
    return OpInputs{at::randn({n, d}).to(dt), (at::randn({v, d}) * 0.2).to(dt), y};
  };
  c.grad_inputs = {0, 1};
  c.fast = [](const OpInputs& in) { return std::vector<at::Tensor>{linear_cross_entropy_sum(in[0], in[1], in[2])}; };
  c.ref = [](const OpInputs& in) { return std::vector<at::Tensor>{linear_cross_entropy_sum_ref(in[0], in[1], in[2])}; };
  c.flops = [n, d, v](const OpInputs&) { return 2.0 * n * d * v; };
  // bf16: the chunked GEMMs round their bf16 products per chunk where the reference rounds once;
  // the loss is a sum of n terms of size ~log V, so the absolute bound scales with it.
  c.tol[at::kBFloat16] = {0.05, 2e-2};
  c.grad = small;
  c.perf = !small;
  c.test = small;  // the large shape is for perf only (CI time)
  return c;
}

const bool kSmall = register_op_case(make_case("N64_D16_V50", 64, 16, 50, true));
// Several chunks; test mode only (its float64 finite differences took a minute).
const bool kChunks = register_op_case([] {
  OpCase c = make_case("N300_D8_V4096_chunks", 300, 8, 4096, true);
  c.grad = false;
  return c;
}());
const bool kStep = register_op_case(make_case("N2048_D256_V8192", 2048, 256, 8192, false));

}  // namespace
}  // namespace lmforge
