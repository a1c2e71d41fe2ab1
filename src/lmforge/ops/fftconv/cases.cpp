// Harness cases of fftconv (ops/harness.h): small shapes for test and grad (odd batch, lengths
// that are not powers of two, partial and frequency-sparse filters, gates and skip), and the
// benchmark shapes of issue 3 (B=4, H=768, L 1K..64K, fp32 and bf16, a sparsity sweep) for perf.
// Inputs: u ~ N(0,1), k ~ N(0,1)/sqrt(Lk) with an exponential decay (like Hyena's modulated
// filters), gates ~ 1 + 0.5 N(0,1), D ~ N(0,1).
#include <cmath>

#include "lmforge/ops/fftconv/op.h"
#include "lmforge/ops/fftconv/plan.h"
#include "lmforge/ops/harness.h"

namespace lmforge {
namespace {

struct Shape {
  int64_t B, H, L, Lk;
  bool gated = false, skip = false;
  int64_t partial = 0;
  double sparsity = 0;
};

std::string name(const Shape& s) {
  std::string n = "B" + std::to_string(s.B) + "_H" + std::to_string(s.H) + "_L" + std::to_string(s.L);
  if (s.Lk != s.L) n += "_Lk" + std::to_string(s.Lk);
  if (s.partial) n += "_partial" + std::to_string(s.partial);
  if (s.sparsity > 0) n += "_sparse" + std::to_string(static_cast<int>(std::lround(s.sparsity * 100)));
  if (s.gated) n += "_gated";
  if (s.skip) n += "_skip";
  return n;
}

// FLOPs the Monarch kernel executes (8 r FLOPs per complex point per level of radix r), per
// forward: one filter FFT per channel, one FFT + one inverse per pair of batch elements (the
// top level's zero-padding savings are not subtracted; sparsity scales the skipped part).
double monarch_flops(const Shape& s) {
  const int64_t Lk = s.partial ? std::min(s.partial, s.Lk) : s.Lk, N = fftconv_size(s.L, Lk);
  const fftk::FftPlan& p = fftk::fft_plan(N);
  double per = 0;
  for (int i = 0; i < p.levels; ++i) per += 8.0 * N * p.radix[i];
  if (s.sparsity > 0 && p.levels > 1) {  // skipped sub-FFTs: only the kept share of rows below the top
    double kept = 0;
    for (uint8_t k : fftconv_keep_rows(N, s.sparsity)) kept += k;
    kept /= static_cast<double>(p.radix[0]);
    per = 8.0 * N * p.radix[0] * (1 + kept) / 2 + (per - 8.0 * N * p.radix[0]) * kept;
  }
  return per * s.H * (1 + 2 * ((s.B + 1) / 2));
}

OpCase make_case(const Shape& s, bool small, bool perf) {
  OpCase c;
  c.op = "fftconv";
  c.shape = name(s);
  c.dtypes = {at::kFloat, at::kBFloat16};
  c.make_inputs = [s](at::ScalarType dt) {
    at::Tensor t = at::arange(s.Lk, at::kDouble);
    at::Tensor k = at::randn({s.H, s.Lk}, at::kDouble) * at::exp(-3.0 * t / s.Lk) / std::sqrt(double(s.Lk)) * 2.0;
    OpInputs in{at::randn({s.B, s.H, s.L}, at::kDouble), k, at::Tensor(), at::Tensor(), at::Tensor()};
    if (s.gated) {
      in[2] = 1 + 0.5 * at::randn({s.B, s.H, s.L}, at::kDouble);
      in[3] = 1 + 0.5 * at::randn({s.B, s.H, s.L}, at::kDouble);
    }
    if (s.skip) in[4] = at::randn({s.H}, at::kDouble);
    for (auto& x : in)
      if (x.defined()) x = x.to(dt);
    return in;
  };
  FftConvOptions o;
  o.partial = s.partial, o.sparsity = s.sparsity;
  c.fast = [o](const OpInputs& in) { return std::vector<at::Tensor>{fftconv(in[0], in[1], in[2], in[3], in[4], o)}; };
  c.ref = [o](const OpInputs& in) { return std::vector<at::Tensor>{fftconv_ref(in[0], in[1], in[2], in[3], in[4], o)}; };
  c.flops = [s](const OpInputs&) { return monarch_flops(s); };
  c.backward_flops_factor = 2.0;  // backward: 2 FFTs + 2 inverses per pair, vs 1 + 1 forward
  // fp32: dk sums B*L products; its small entries carry the absolute error of the large ones.
  c.tol[at::kFloat] = {1e-4, 1e-4};
  // bf16 (the harness's default, stated here because two kernels must meet it): outputs and
  // gradients are rounded to bf16 on store (2^-9 relative, 0.2%); the ref runs in fp32 on the same
  // rounded inputs. The avx512 kernel computes in fp32 (worst share 0.19 of this bound). The amx
  // kernel's tile stages split every operand into bf16 hi + lo and sum three products in fp32
  // (~2^-16 per stage, cpu_amx.cpp); measured worst share 0.28 (dk at B4_H8_L4096), 0.21 at
  // L=3000. A single bf16 product per stage failed this bound 134x on dk (1% of its RMS). Tails:
  // L = 1, 7 (leaf-only plans: generic / one-row tile leaf), 40, 100 (a radix-2..8 level over
  // widths of 32 plus a leaf of 32), 3000 (L not a power of two) and the sparse cases (default
  // plan: radix-8 levels, leaf 16) are all in the small/medium cases.
  c.tol[at::kBFloat16] = {1e-2, 2e-2};
  c.test = small || !perf;
  c.grad = small;
  c.perf = perf;
  return c;
}

bool add(const Shape& s, bool small, bool perf = false) { return register_op_case(make_case(s, small, perf)); }

const bool kCases = [] {
  // small: test + grad
  add({3, 2, 40, 40}, true);
  add({2, 3, 64, 16, true, true}, true);
  add({2, 2, 100, 100, true, false, 30}, true);
  add({2, 2, 256, 256, true, true, 0, 0.5}, true);
  add({1, 2, 7, 7}, true);
  add({1, 1, 1, 1}, true);
  // medium: test only
  add({2, 4, 1024, 1024, true, true}, false);
  add({4, 8, 4096, 4096}, false);
  add({2, 4, 2048, 2048, false, false, 0, 0.75}, false);
  add({2, 2, 8192, 8192, false, true, 1000}, false);
  add({3, 2, 3000, 3000, true, true}, false);
  // issue 3 benchmark shapes: perf only
  for (int64_t L : {1024, 4096, 16384, 65536}) add({4, 768, L, L}, false, true);
  add({4, 768, 4096, 4096, true, true}, false, true);
  for (double sp : {0.25, 0.5, 0.75}) add({4, 768, 4096, 4096, false, false, 0, sp}, false, true);
  return true;
}();

}  // namespace
}  // namespace lmforge
