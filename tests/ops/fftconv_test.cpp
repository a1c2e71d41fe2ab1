// The oracles of FFT convolution (specs/architectures.md section 1): the Monarch matmul FFT equals
// torch's FFT; FFT convolution equals direct causal convolution; partial and gated variants equal
// the reference composed around them; frequency sparsity 0 equals dense. (Fast path vs reference
// on outputs and gradients, and float64 finite differences, run through the harness cases.)
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <string>

#include "lmforge/ops/fftconv/kernel.h"
#include "lmforge/ops/fftconv/op.h"
#include "lmforge/ops/fftconv/plan.h"
#include "lmforge/ops/isa.h"
#include "lmforge/ops/kernel_trace.h"

namespace lmforge {
namespace {

double max_rel(const at::Tensor& a, const at::Tensor& b) {
  const bool cx = a.is_complex() || b.is_complex();
  at::Tensor ad = a.to(cx ? at::kComplexDouble : at::kDouble), bd = b.to(cx ? at::kComplexDouble : at::kDouble);
  return ((ad - bd).abs().max() / bd.abs().max().clamp_min(1e-300)).item<double>();
}

at::Tensor in_layout(const fftk::FftPlan& p, const at::Tensor& X) {  // natural order -> plan layout
  std::vector<int64_t> pos(p.n);
  for (int64_t f = 0; f < p.n; ++f) pos[f] = fftk::fft_layout_position(p, f);
  at::Tensor idx = at::tensor(pos, at::kLong);
  return at::zeros_like(X).index_put_({idx}, X);
}

TEST(FftConv, MonarchFftEqualsTorchFft) {
  for (int64_t n : {1, 2, 8, 16, 32, 64, 128, 512, 2048, 8192, 65536}) {
    const fftk::FftPlan& p = fftk::fft_plan(n);
    at::Tensor x = at::randn({n}, at::kComplexDouble);
    at::Tensor want = in_layout(p, at::fft_fft(x));
    at::Tensor re = at::real(x).contiguous(), im = at::imag(x).contiguous();
    fftk::fft_generic_f64(p, re.data_ptr<double>(), im.data_ptr<double>());
    EXPECT_LT(max_rel(at::complex(re, im), want), 1e-12) << "generic f64, n=" << n;
    at::Tensor rf = at::real(x).to(at::kFloat).contiguous(), imf = at::imag(x).to(at::kFloat).contiguous();
    if (isa_supported(Isa::avx512)) fftk::fft_avx512_f32(p, rf.data_ptr<float>(), imf.data_ptr<float>());
    else fftk::fft_generic_f32(p, rf.data_ptr<float>(), imf.data_ptr<float>());
    EXPECT_LT(max_rel(at::complex(rf, imf).to(at::kComplexDouble), want), 1e-5) << "f32, n=" << n;
    if (isa_supported(Isa::amx)) {
      // tile stages (cpu_amx.cpp): operands split into bf16 hi + lo, three tile products per
      // stage, fp32 sums: about 2^-16 per stage, so close to the fp32 path; on the default plan
      // and on the tile plan (fewest stages) the AMX kernel uses for dense bf16 convolutions
      for (int64_t radix : {int64_t{0}, fftk::kTilePlan}) {
        const fftk::FftPlan& q = fftk::fft_plan(n, radix);
        at::Tensor want_q = in_layout(q, at::fft_fft(x));
        at::Tensor ra = at::real(x).to(at::kFloat).contiguous(), ia = at::imag(x).to(at::kFloat).contiguous();
        fftk::fft_amx_f32(q, ra.data_ptr<float>(), ia.data_ptr<float>());
        EXPECT_LT(max_rel(at::complex(ra, ia).to(at::kComplexDouble), want_q), 1e-4) << "amx, n=" << n << " radix " << radix;
      }
    }
    if (isa_supported(Isa::avx512bf16)) {
      // VDPBF16PS stages (cpu_avx512bf16.cpp): the same hi + lo scheme as the tiles, default plan
      at::Tensor rd = at::real(x).to(at::kFloat).contiguous(), id = at::imag(x).to(at::kFloat).contiguous();
      fftk::fft_avx512bf16_f32(p, rd.data_ptr<float>(), id.data_ptr<float>());
      EXPECT_LT(max_rel(at::complex(rd, id).to(at::kComplexDouble), want), 1e-4) << "avx512bf16, n=" << n;
    }
  }
}

TEST(FftConv, ReferenceEqualsDirectConvolution) {
  at::Tensor u = at::randn({2, 3, 50}, at::kDouble), k = at::randn({3, 20}, at::kDouble);
  EXPECT_LT(max_rel(fftconv_ref(u, k), direct_causal_conv(u, k)), 1e-12);
}

TEST(FftConv, FastEqualsDirectConvolutionOnEveryIsa) {
  at::Tensor u = at::randn({3, 4, 300}), k = at::randn({4, 300});
  at::Tensor want = direct_causal_conv(u.to(at::kDouble), k.to(at::kDouble));
  for (Isa isa : supported_isas()) {
    ScopedIsa pin(isa);
    EXPECT_LT(max_rel(fftconv(u, k), want), 1e-5) << isa_name(isa);
    EXPECT_LT(max_rel(fftconv(u.to(at::kDouble), k.to(at::kDouble)), want), 1e-12) << isa_name(isa);
  }
}

TEST(FftConv, GatedAndSkipEqualComposedReference) {
  at::Tensor u = at::randn({2, 3, 64}, at::kDouble), k = at::randn({3, 64}, at::kDouble);
  at::Tensor pre = at::randn_like(u), post = at::randn_like(u), D = at::randn({3}, at::kDouble);
  at::Tensor want = post * (direct_causal_conv(pre * u, k) + D.unsqueeze(-1) * pre * u);
  for (Isa isa : supported_isas()) {
    ScopedIsa pin(isa);
    EXPECT_LT(max_rel(fftconv(u, k, pre, post, D), want), 1e-12) << isa_name(isa);
  }
}

TEST(FftConv, PartialEqualsTruncatedFilter) {
  at::Tensor u = at::randn({2, 2, 128}, at::kDouble), k = at::randn({2, 128}, at::kDouble);
  FftConvOptions o;
  o.partial = 17;
  at::Tensor want = direct_causal_conv(u, k.narrow(1, 0, 17));
  for (Isa isa : supported_isas()) {
    ScopedIsa pin(isa);
    at::Tensor kk = k.clone().requires_grad_(true);
    at::Tensor y = fftconv(u, kk, {}, {}, {}, o);
    EXPECT_LT(max_rel(y, want), 1e-12) << isa_name(isa);
    y.sum().backward();
    EXPECT_EQ(kk.grad().narrow(1, 17, 128 - 17).abs().max().item<double>(), 0.0) << isa_name(isa);
  }
}

TEST(FftConv, SparsityZeroEqualsDenseAndSparsityDropsRows) {
  at::Tensor u = at::randn({2, 2, 512}), k = at::randn({2, 512});
  FftConvOptions zero, half;
  half.sparsity = 0.5;
  EXPECT_TRUE(at::equal(fftconv(u, k, {}, {}, {}, zero), fftconv(u, k)));
  std::vector<uint8_t> keep = fftconv_keep_rows(1024, 0.5);
  int kept = 0;
  for (auto b : keep) kept += b;
  EXPECT_LT(kept, static_cast<int>(keep.size()));
  EXPECT_GT(kept, 0);
  EXPECT_EQ(fftconv_keep_rows(1024, 0).size(), keep.size());
  // the sparse convolution is real and matches the masked reference
  EXPECT_LT(max_rel(fftconv(u, k, {}, {}, {}, half), fftconv_ref(u, k, {}, {}, {}, half)), 1e-5);
}

// Sets an environment variable for its lifetime (restoring the previous value).
struct ScopedEnv {
  std::string name, old;
  bool had;
  ScopedEnv(const char* n, const char* v) : name(n) {
    const char* o = std::getenv(n);
    had = o != nullptr;
    if (had) old = o;
    setenv(n, v, 1);
  }
  ~ScopedEnv() { had ? setenv(name.c_str(), old.c_str(), 1) : unsetenv(name.c_str()); }
};

TEST(FftConv, Bf16Dpbf16StagesUnderAvx512bf16) {
  // The AMD route (avx512_bf16, no AMX). By default avx512bf16 keeps the AVX-512 fp32 kernel for
  // bf16 (the VDPBF16PS stages cost more instructions: op.cpp pick_kernel), bit for bit the avx512
  // path; with LMFORGE_FFTCONV_DPBF16=1 the VDPBF16PS stages run, forward and backward, and match
  // the reference within the harness's bf16 bound (atol 1e-2, rtol 2e-2) on gated + skip inputs,
  // L = 1000 (N = 2048: radix-8 levels and a leaf of 16 or 32 on the default plan).
  if (!isa_supported(Isa::avx512bf16)) GTEST_SKIP() << "no avx512_bf16 on this machine";
  at::manual_seed(3);
  const int64_t B = 3, H = 4, L = 1000;
  auto mk = [](at::IntArrayRef s) { return at::randn(s).to(at::kBFloat16); };
  at::Tensor u = mk({B, H, L}), pre = mk({B, H, L}), post = mk({B, H, L}), dy = mk({B, H, L});
  at::Tensor k = at::randn({H, L}) / std::sqrt(static_cast<double>(L)), D = at::randn({H});
  auto run = [&](bool ref) {
    std::vector<at::Tensor> in{u, k, pre, post, D};
    for (at::Tensor& t : in) t = (ref ? t.to(at::kFloat) : t).detach().clone().requires_grad_();
    at::Tensor y = ref ? fftconv_ref(in[0], in[1], in[2], in[3], in[4]) : fftconv(in[0], in[1], in[2], in[3], in[4]);
    y.backward(ref ? dy.to(at::kFloat) : dy);
    std::vector<at::Tensor> out{y};
    for (at::Tensor& t : in) out.push_back(t.grad());
    return out;
  };
  const std::vector<at::Tensor> want = run(true);
  std::vector<at::Tensor> wide;
  {
    ScopedIsa pin(Isa::avx512);
    wide = run(false);
  }
  {
    ScopedIsa pin(Isa::avx512bf16);
    std::vector<at::Tensor> got = run(false);
    EXPECT_EQ(last_kernel("fftconv", "forward"), "avx512_f32");
    for (size_t i = 0; i < got.size(); ++i) EXPECT_TRUE(at::equal(got[i], wide[i])) << "tensor " << i;
  }
  ScopedEnv opt_in("LMFORGE_FFTCONV_DPBF16", "1");
  ScopedIsa pin(Isa::avx512bf16);
  std::vector<at::Tensor> got = run(false);
  EXPECT_EQ(last_kernel("fftconv", "forward"), "avx512bf16_bf16");
  EXPECT_EQ(last_kernel("fftconv", "backward"), "avx512bf16_bf16");
  const char* names[] = {"y", "du", "dk", "dpre", "dpost", "dD"};
  for (size_t i = 0; i < got.size(); ++i) {
    at::Tensor err = (got[i].to(at::kDouble) - want[i].to(at::kDouble)).abs();
    at::Tensor bound = 1e-2 + 2e-2 * want[i].to(at::kDouble).abs();
    EXPECT_LE((err / bound).max().item<double>(), 1.0) << names[i];
    if (i < 3)  // y, du, dk come out of the FFT stages (dD does not at all)
      EXPECT_FALSE(at::equal(got[i].to(at::kFloat), wide[i].to(at::kFloat))) << names[i] << ": the fp32 kernel's result";
  }
}

TEST(FftConv, RejectsBadShapes) {
  EXPECT_THROW(fftconv(at::randn({2, 3}), at::randn({3, 2})), std::invalid_argument);
  EXPECT_THROW(fftconv(at::randn({2, 3, 8}), at::randn({3, 9})), std::invalid_argument);
  EXPECT_THROW(fftconv(at::randn({2, 3, 8}), at::randn({2, 8})), std::invalid_argument);
}

}  // namespace
}  // namespace lmforge
