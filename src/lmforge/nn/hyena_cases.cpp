// Harness cases for the Hyena layer as a whole (op "hyena"): the layer with the fused fftconv
// operator (fast) against the same layer, same weights, on the ATen reference convolution (ref).
// Used for `lmforge ops perf --op hyena` (a layer forward, and forward+backward to the input and
// every weight, like a training step) side by side with bench/peers/fftconv_peer.py hyena.
// bf16 runs the layer under bf16 autocast, as training does.
#include "lmforge/core/precision.h"
#include "lmforge/nn/hyena.h"
#include "lmforge/ops/harness.h"

namespace lmforge {
namespace {

struct Pair {
  std::shared_ptr<Hyena> fused, ref;
};

std::shared_ptr<Pair> make_pair(int64_t D, int64_t L) {
  auto p = std::make_shared<Pair>();
  LayerContext c;
  c.d_model = D, c.max_seq_len = L, c.n_layers = 4;
  HyenaOptions fo, ro;
  ro.fused = false;
  at::manual_seed(7);
  p->fused = std::make_shared<Hyena>(fo, c);
  at::manual_seed(7);
  p->ref = std::make_shared<Hyena>(ro, c);
  return p;
}

std::vector<at::Tensor> run(Hyena& m, const OpInputs& in) {
  ForwardContext ctx;
  const at::Tensor& x = in[0];
  std::unique_ptr<AutocastGuard> ac;
  if (x.scalar_type() == at::kBFloat16) ac = std::make_unique<AutocastGuard>(at::kBFloat16, x.device());
  at::Tensor y = m.forward(x, ctx);
  // sum of every weight times a fixed zero: makes every parameter part of the graph, so the
  // forward+backward timing includes the weight gradients, as a training step does
  at::Tensor tie;
  for (const auto& p : m.parameters()) {
    at::Tensor s = p.sum() * 0.0;
    tie = tie.defined() ? tie + s : s;
  }
  if (x.requires_grad()) y = y + tie.to(y.scalar_type());
  return {y};
}

bool add(int64_t B, int64_t L, int64_t D, bool small) {
  OpCase c;
  c.op = "hyena";
  c.shape = "B" + std::to_string(B) + "_L" + std::to_string(L) + "_D" + std::to_string(D);
  c.dtypes = small ? std::vector<at::ScalarType>{at::kFloat} : std::vector<at::ScalarType>{at::kFloat, at::kBFloat16};
  auto pair = std::make_shared<std::shared_ptr<Pair>>();
  auto get = [pair, D, L]() -> Pair& {
    if (!*pair) *pair = make_pair(D, L);
    return **pair;
  };
  c.make_inputs = [B, L, D](at::ScalarType dt) { return OpInputs{at::randn({B, L, D}).to(dt)}; };
  c.fast = [get](const OpInputs& in) { return run(*get().fused, in); };
  c.ref = [get](const OpInputs& in) { return run(*get().ref, in); };
  c.flops = [get, L](const OpInputs& in) { return get().fused->flops_per_token(L) * in[0].size(0) * L; };
  c.tol[at::kFloat] = {1e-4, 1e-3};
  c.test = small, c.grad = false, c.perf = !small;
  return register_op_case(std::move(c));
}

const bool kCases = add(2, 64, 16, true) && add(4, 4096, 256, false) && add(4, 1024, 768, false);

}  // namespace
}  // namespace lmforge
