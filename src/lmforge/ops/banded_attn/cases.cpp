// Harness cases of banded_attention: blocked fast path vs the L x L oracle, and float64 gradients.
#include <cmath>

#include "lmforge/ops/banded_attn/op.h"
#include "lmforge/ops/harness.h"

namespace lmforge {
namespace {

// Inputs: q, k, v, then group (long) and valid (bool) when used.
bool add(int64_t N, int64_t L, int64_t d, int64_t w, bool causal, int64_t groups, bool padded, bool grad, bool perf) {
  OpCase c;
  c.op = "banded_attn";
  c.shape = "N" + std::to_string(N) + "_L" + std::to_string(L) + "_d" + std::to_string(d) + "_w" + std::to_string(w) +
            (causal ? "_causal" : "_bidir") + (groups > 1 ? "_g" + std::to_string(groups) : "") + (padded ? "_pad" : "");
  c.dtypes = {at::kFloat, at::kBFloat16};
  c.make_inputs = [=](at::ScalarType dt) {
    OpInputs in{at::randn({N, L, d}).to(dt), at::randn({N, L, d}).to(dt), at::randn({N, L, d}).to(dt)};
    // Groups as a routing head produces them: sorted by group along the sequence.
    in.push_back(groups > 1 ? std::get<0>(at::randint(0, groups, {N, L}, at::kLong).sort(1)) : at::Tensor());
    in.push_back(padded ? (at::rand({N, L}) > 0.2) : at::Tensor());
    return in;
  };
  c.grad_inputs = {0, 1, 2};
  c.fast = [=](const OpInputs& in) { return std::vector<at::Tensor>{banded_attention(in[0], in[1], in[2], in[3], in[4], w, causal)}; };
  c.ref = [=](const OpInputs& in) { return std::vector<at::Tensor>{banded_attention_ref(in[0], in[1], in[2], in[3], in[4], w, causal)}; };
  c.flops = [=](const OpInputs&) { return 2.0 * 2.0 * N * L * (causal ? 2 : 3) * w * d; };
  c.grad = grad, c.perf = perf, c.test = !perf;  // the perf shapes are too big for the L x L oracle in tests
  return register_op_case(c);
}

const bool kCases = add(2, 40, 8, 8, true, 1, false, true, false) && add(2, 37, 8, 8, true, 3, true, true, false) &&
                    add(2, 40, 8, 8, false, 3, false, true, false) && add(1, 45, 4, 10, false, 1, true, true, false) &&
                    add(8, 4096, 64, 64, true, 64, false, false, true) && add(8, 4096, 64, 256, true, 1, false, false, true);

}  // namespace
}  // namespace lmforge
