// Harness cases of short_conv_split (ops/harness.h): small shapes for test and grad (a channel
// count that is not a multiple of 16, lengths shorter than the kernel and than one time tile,
// kernel sizes 1, 3, 4, with and without bias), and Hyena's benchmark shapes for perf.
#include <cmath>

#include "lmforge/ops/harness.h"
#include "lmforge/ops/shortconv/op.h"

namespace lmforge {
namespace {

bool add(int64_t B, int64_t L, int64_t D, int64_t parts, int64_t K, bool bias, bool small) {
  OpCase c;
  c.op = "shortconv";
  c.shape = "B" + std::to_string(B) + "_L" + std::to_string(L) + "_C" + std::to_string(D * parts) + "_P" +
            std::to_string(parts) + "_K" + std::to_string(K) + (bias ? "" : "_nobias");
  c.dtypes = {at::kFloat, at::kBFloat16};
  const int64_t C = D * parts;
  c.make_inputs = [=](at::ScalarType dt) {
    OpInputs in{at::randn({B, L, C}, at::kDouble), at::randn({C, 1, K}, at::kDouble) / std::sqrt(double(K)),
                bias ? at::randn({C}, at::kDouble) : at::Tensor()};
    for (auto& x : in)
      if (x.defined()) x = x.to(dt);
    return in;
  };
  c.fast = [parts](const OpInputs& in) { return short_conv_split(in[0], in[1], in[2], parts); };
  c.ref = [parts](const OpInputs& in) { return short_conv_split_ref(in[0], in[1], in[2], parts); };
  c.flops = [=](const OpInputs&) { return 2.0 * B * L * C * K; };
  // fp32: dbias and dw sum B*L = 600 terms of size ~1 (both sides in fp32, in different orders);
  // at B2_L300 a dbias entry near 0 differed by 2.2e-5 with atol 1e-5 -> atol 1e-4
  c.tol[at::kFloat] = {1e-4, 1e-4};
  c.test = small || L * D * parts <= 30000, c.grad = small, c.perf = L * D * parts > 30000;
  return register_op_case(std::move(c));
}

const bool kCases = add(2, 70, 9, 3, 3, true, true) && add(1, 2, 5, 2, 4, false, true) &&
                    add(3, 33, 16, 2, 1, true, true) && add(2, 300, 24, 3, 3, true, false) &&
                    add(4, 1024, 768, 3, 3, true, false) && add(4, 4096, 256, 3, 3, true, false);

}  // namespace
}  // namespace lmforge
