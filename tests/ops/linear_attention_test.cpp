// Oracles of linear attention (specs/architectures.md section 2): the recurrent form, the parallel
// (masked quadratic) form, the ATen chunked form and the fused chunked kernels agree, for every
// ISA, chunk sizes that do and do not divide L, causal and not; the recurrent decoding step
// continues a prefill exactly. (The harness cases in ops/linear_attention/cases.cpp add the
// fast-vs-ref gradient checks and the float64 finite differences.)
#include <gtest/gtest.h>

#include <torch/autograd.h>

#include "lmforge/ops/isa.h"
#include "lmforge/ops/kernel_trace.h"
#include "lmforge/ops/linear_attention/op.h"

using namespace lmforge;

namespace {

struct Inputs {
  at::Tensor q, k, v;
};

Inputs make(int64_t B, int64_t H, int64_t L, int64_t F, int64_t D, at::ScalarType dt = at::kDouble) {
  at::manual_seed(7);
  return {at::exp(0.5 * at::randn({B, H, L, F}, at::kDouble)).to(dt),
          at::exp(0.5 * at::randn({B, H, L, F}, at::kDouble)).to(dt), at::randn({B, H, L, D}, at::kDouble).to(dt)};
}

double max_rel(const at::Tensor& a, const at::Tensor& b) {
  return ((a.to(at::kDouble) - b.to(at::kDouble)).abs().max() / (b.to(at::kDouble).abs().max() + 1e-30)).item<double>();
}

}  // namespace

TEST(LinearAttentionOp, RecurrentEqualsParallelEqualsChunked) {
  Inputs in = make(2, 3, 53, 6, 5);
  at::Tensor rec = linear_attention_recurrent_ref(in.q, in.k, in.v, 1e-6);
  at::Tensor par = linear_attention_ref(in.q, in.k, in.v);
  EXPECT_LT(max_rel(par, rec), 1e-12);
  for (int64_t chunk : {1, 7, 16, 53, 64, 100}) {
    LinearAttentionOptions o;
    o.chunk = chunk;
    EXPECT_LT(max_rel(linear_attention_chunked_ref(in.q, in.k, in.v, o), rec), 1e-12) << "chunk " << chunk;
    for (Isa isa : supported_isas()) {
      ScopedIsa pin(isa);
      EXPECT_LT(max_rel(linear_attention(in.q, in.k, in.v, o), rec), 1e-12) << isa_name(isa) << " chunk " << chunk;
      // fp32 kernels (the AVX-512 micro-kernel for avx512/amx)
      at::Tensor y32 = linear_attention(in.q.to(at::kFloat), in.k.to(at::kFloat), in.v.to(at::kFloat), o);
      EXPECT_EQ(y32.scalar_type(), at::kFloat);
      EXPECT_LT(max_rel(y32, rec), 2e-6) << isa_name(isa) << " chunk " << chunk;
    }
  }
}

TEST(LinearAttentionOp, NonCausalEqualsFullSums) {
  Inputs in = make(1, 2, 41, 4, 3);
  LinearAttentionOptions o;
  o.causal = false, o.chunk = 8;
  at::Tensor S = at::matmul(in.k.transpose(-2, -1), in.v), z = in.k.sum(2, true);
  at::Tensor want = at::matmul(in.q, S) / ((in.q * z).sum(-1, true) + o.eps);
  EXPECT_LT(max_rel(linear_attention_ref(in.q, in.k, in.v, o), want), 1e-12);
  for (Isa isa : supported_isas()) {
    ScopedIsa pin(isa);
    EXPECT_LT(max_rel(linear_attention(in.q, in.k, in.v, o), want), 1e-12) << isa_name(isa);
    EXPECT_LT(max_rel(linear_attention(in.q.to(at::kFloat), in.k.to(at::kFloat), in.v.to(at::kFloat), o), want), 2e-6)
        << isa_name(isa);
  }
}

TEST(LinearAttentionOp, Fp32BackwardMatchesFloat64Autograd) {
  // L = 150 with chunk 64: two full chunks and a tail; F = 128, D = 64 exercise the 64-column
  // micro-kernel blocks; the reference is autograd through the masked-quadratic form in float64.
  Inputs in = make(1, 2, 150, 128, 64);
  at::Tensor g = at::randn({1, 2, 150, 64}, at::kDouble);
  auto grads = [&](bool fast, at::ScalarType dt) {
    at::Tensor q = in.q.to(dt).detach().clone().requires_grad_(), k = in.k.to(dt).detach().clone().requires_grad_(),
               v = in.v.to(dt).detach().clone().requires_grad_();
    at::Tensor y = fast ? linear_attention(q, k, v) : linear_attention_ref(q, k, v);
    y.backward(g.to(dt));
    return std::vector<at::Tensor>{y, q.grad(), k.grad(), v.grad()};
  };
  std::vector<at::Tensor> ref = grads(false, at::kDouble);
  for (Isa isa : supported_isas()) {
    ScopedIsa pin(isa);
    std::vector<at::Tensor> f = grads(true, at::kFloat);
    for (int i = 0; i < 4; ++i) EXPECT_LT(max_rel(f[i], ref[i]), 1e-5) << isa_name(isa) << " tensor " << i;
  }
}

TEST(LinearAttentionOp, Bf16TakesTheAmxKernelOnlyUnderAmx) {
  // bf16 features with tails for the AMX kernel's 32-padding (L = 150, chunk 48, F = 72, D = 50).
  // LMFORGE_ISA=avx512 (here ScopedIsa) must keep the old path: the fp32 kernel on widened inputs,
  // bit for bit. Under amx, the AMX tile kernel's bf16 outputs and gradients must be about as
  // accurate as that path against float64 autograd on the same bf16 values: rms error / rms value
  // <= 5e-3 for y, dq, dk, dv (measured, F = D = 64, L 64..2048: widened path 1.4e-3..1.7e-3 (the
  // bf16 rounding of the results), AMX 1.4e-3..3.6e-3).
  if (!isa_supported(Isa::avx512)) GTEST_SKIP() << "no AVX-512 on this machine";
  Inputs in = make(1, 2, 150, 72, 50, at::kBFloat16);
  LinearAttentionOptions o;
  o.chunk = 48;
  at::Tensor g = at::randn({1, 2, 150, 50}).to(at::kBFloat16);
  auto run = [&](at::ScalarType dt, bool ref) {
    at::Tensor q = in.q.to(dt).detach().clone().requires_grad_(), k = in.k.to(dt).detach().clone().requires_grad_(),
               v = in.v.to(dt).detach().clone().requires_grad_();
    at::Tensor y = ref ? linear_attention_ref(q, k, v, o) : linear_attention(q, k, v, o);
    y.backward(g.to(dt));
    return std::vector<at::Tensor>{y, q.grad(), k.grad(), v.grad()};
  };
  std::vector<at::Tensor> wide;
  {
    ScopedIsa pin(Isa::avx512);
    wide = run(at::kFloat, false);
    std::vector<at::Tensor> b = run(at::kBFloat16, false);
    for (int i = 0; i < 4; ++i) {
      EXPECT_EQ(b[i].scalar_type(), at::kBFloat16);
      EXPECT_TRUE(at::equal(b[i], wide[i].to(at::kBFloat16))) << "tensor " << i;
    }
  }
  if (!isa_supported(Isa::amx)) GTEST_SKIP() << "no AMX on this machine";
  const std::vector<at::Tensor> exact = run(at::kDouble, true);
  auto rms_rel = [](const at::Tensor& a, const at::Tensor& b) {
    return ((a.to(at::kDouble) - b).pow(2).mean().sqrt() / b.pow(2).mean().sqrt()).item<double>();
  };
  ScopedIsa pin(Isa::amx);
  std::vector<at::Tensor> b = run(at::kBFloat16, false);
  EXPECT_EQ(last_kernel("linear_attention", "forward"), "amx_bf16");
  EXPECT_EQ(last_kernel("linear_attention", "backward"), "amx_bf16");
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(b[i].scalar_type(), at::kBFloat16);
    EXPECT_LT(rms_rel(b[i], exact[i]), 5e-3) << "tensor " << i << " (widened path: " << rms_rel(wide[i], exact[i]) << ")";
  }
}

TEST(LinearAttentionOp, Bf16TakesTheDpbf16KernelUnderAvx512bf16) {
  // The route of the AMD machines (avx512_bf16, no AMX): under avx512bf16, bf16 inputs take the
  // VDPBF16PS kernel (cpu_avx512bf16.cpp, the AMX kernel's algorithm and roundings with vector dot
  // products), forward and backward, not the fp32 fallback. Same shapes and bound as the AMX test
  // above (tails of the 32-padding: L = 150, chunk 48, F = 72, D = 50; causal and not): rms error /
  // rms value <= 5e-3 against float64 autograd on the same bf16 values.
  if (!isa_supported(Isa::avx512bf16)) GTEST_SKIP() << "no avx512_bf16 on this machine";
  Inputs in = make(1, 2, 150, 72, 50, at::kBFloat16);
  at::Tensor g = at::randn({1, 2, 150, 50}).to(at::kBFloat16);
  auto rms_rel = [](const at::Tensor& a, const at::Tensor& b) {
    return ((a.to(at::kDouble) - b).pow(2).mean().sqrt() / b.pow(2).mean().sqrt()).item<double>();
  };
  for (bool causal : {true, false}) {
    LinearAttentionOptions o;
    o.chunk = 48, o.causal = causal;
    auto run = [&](at::ScalarType dt, bool ref) {
      at::Tensor q = in.q.to(dt).detach().clone().requires_grad_(), k = in.k.to(dt).detach().clone().requires_grad_(),
                 v = in.v.to(dt).detach().clone().requires_grad_();
      at::Tensor y = ref ? linear_attention_ref(q, k, v, o) : linear_attention(q, k, v, o);
      y.backward(g.to(dt));
      return std::vector<at::Tensor>{y, q.grad(), k.grad(), v.grad()};
    };
    const std::vector<at::Tensor> exact = run(at::kDouble, true);
    ScopedIsa pin(Isa::avx512bf16);
    const std::vector<at::Tensor> b = run(at::kBFloat16, false);
    EXPECT_EQ(last_kernel("linear_attention", "forward"), "avx512bf16_bf16");
    EXPECT_EQ(last_kernel("linear_attention", "backward"), "avx512bf16_bf16");
    for (int i = 0; i < 4; ++i) {
      EXPECT_EQ(b[i].scalar_type(), at::kBFloat16);
      EXPECT_LT(rms_rel(b[i], exact[i]), 5e-3) << "tensor " << i << (causal ? " causal" : " non-causal");
    }
    // fp32 inputs under the same pin keep the AVX-512 fp32 kernel
    run(at::kFloat, false);
    EXPECT_EQ(last_kernel("linear_attention", "forward"), "avx512_f32");
  }
}

TEST(LinearAttentionOp, StepContinuesPrefillExactly) {
  Inputs in = make(2, 2, 30, 5, 4);
  at::Tensor want = linear_attention_ref(in.q, in.k, in.v);
  LinearAttentionState st;
  std::vector<at::Tensor> ys{linear_attention_step(in.q.narrow(2, 0, 11), in.k.narrow(2, 0, 11), in.v.narrow(2, 0, 11), st)};
  for (int64_t t = 11; t < 30; t += (t % 2 ? 1 : 2)) {
    const int64_t n = std::min<int64_t>(t % 2 ? 1 : 2, 30 - t);
    ys.push_back(linear_attention_step(in.q.narrow(2, t, n), in.k.narrow(2, t, n), in.v.narrow(2, t, n), st));
  }
  EXPECT_EQ(st.seen, 30);
  EXPECT_LT(max_rel(at::cat(ys, 2), want), 1e-12);
}

TEST(LinearAttentionOp, RejectsMismatchedShapes) {
  Inputs in = make(1, 2, 8, 4, 3);
  EXPECT_THROW(linear_attention(in.q, in.k.narrow(2, 0, 7), in.v), std::invalid_argument);
  LinearAttentionOptions o;
  o.chunk = 0;
  EXPECT_THROW(linear_attention(in.q, in.k, in.v, o), std::invalid_argument);
}
