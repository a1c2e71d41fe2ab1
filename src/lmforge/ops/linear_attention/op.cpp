// linear_attention as a torch::autograd::Function: forward and backward side by side, each one
// pass over the (batch*head) slices (at::parallel_for), dispatching on active_isa(): bf16 q, k, v
// -> the bf16 kernel (bf16 in and out, no conversion copies, bf16_driver.inc) with AMX tile
// products under amx and VDPBF16PS products under avx512bf16; avx512 and up otherwise -> the
// AVX-512 fp32 kernel (bf16 widened on entry), avx2 -> the generic fp32 kernel, ref -> the
// masked-quadratic oracle through autograd; float64 always takes the generic kernel (finite
// differences). LMFORGE_ISA=avx512 therefore pins the fp32 kernel for bf16 inputs too.
// Saved for backward: the inputs, the output in fp32 (on the bf16 paths an fp32 copy written next
// to the bf16 output) and the fp32 (B, H, L) denominator; the backward
// recomputes the chunk-local attention blocks and carries its own F x D states (driver.inc).
#include "lmforge/ops/linear_attention/op.h"

#include <ATen/Parallel.h>
#include <torch/autograd.h>

#include "lmforge/core/error.h"
#include "lmforge/ops/isa.h"
#include "lmforge/ops/kernel_info.h"
#include "lmforge/ops/kernel_trace.h"
#include "lmforge/ops/second_order.h"
#include "lmforge/ops/linear_attention/kernel.h"

namespace lmforge {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;
using namespace lak;

at::ScalarType work_type(at::ScalarType t) { return t == at::kDouble ? at::kDouble : at::kFloat; }

// The widened path's kernel; records its name (kernel_trace.h) for the tests.
LaKernel pick(bool backward, at::ScalarType wt, Isa isa) {
  const char* pass = backward ? "backward" : "forward";
  if (wt == at::kDouble) {
    record_kernel("linear_attention", pass, "generic_f64");
    return backward ? la_bwd_generic_f64 : la_fwd_generic_f64;
  }
  if (isa >= Isa::avx512) {
    record_kernel("linear_attention", pass, "avx512_f32");
    return backward ? la_bwd_avx512_f32 : la_fwd_avx512_f32;
  }
  record_kernel("linear_attention", pass, "generic_f32");
  return backward ? la_bwd_generic_f32 : la_fwd_generic_f32;
}

// bf16 q, k, v under Isa::amx / Isa::avx512bf16: the bf16 kernel (AMX tiles or VDPBF16PS products),
// reading and writing bf16 directly; null when the inputs or the ISA do not qualify.
struct Bf16Kernels {
  LaKernel fwd = nullptr, bwd = nullptr;
  const char* name = "";  // for kernel_trace.h
  explicit operator bool() const { return fwd != nullptr; }
};
Bf16Kernels bf16_kernels(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, Isa isa) {
  if (q.scalar_type() != at::kBFloat16 || k.scalar_type() != at::kBFloat16 || v.scalar_type() != at::kBFloat16)
    return {};
  if (isa >= Isa::amx) return {la_fwd_amx_bf16, la_bwd_amx_bf16, "amx_bf16"};
  if (isa >= Isa::avx512bf16) return {la_fwd_avx512bf16_bf16, la_bwd_avx512bf16_bf16, "avx512bf16_bf16"};
  return {};
}

void run(LaKernel kernel, const LaArgs& a) {
  at::parallel_for(0, a.BH, 1, [&](int64_t b0, int64_t b1) { kernel(a, b0, b1); });
}

LaArgs args_of(const at::Tensor& q, const at::Tensor& v, bool causal, int64_t chunk, double eps) {
  LaArgs a;
  a.BH = q.size(0) * q.size(1), a.L = q.size(2), a.F = q.size(3), a.D = v.size(3);
  a.chunk = chunk, a.causal = causal, a.eps = eps;
  return a;
}

struct LinearAttentionFn : public torch::autograd::Function<LinearAttentionFn> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& q0, const at::Tensor& k0, const at::Tensor& v0,
                            bool causal, int64_t chunk, double eps, int64_t isa) {
    ctx->saved_data["causal"] = causal;
    ctx->saved_data["chunk"] = chunk;
    ctx->saved_data["eps"] = eps;
    ctx->saved_data["isa"] = isa;
    if (const Bf16Kernels kb = bf16_kernels(q0, k0, v0, static_cast<Isa>(isa))) {  // bf16 in/out, fp32 den
      at::Tensor q = q0.contiguous(), k = k0.contiguous(), v = v0.contiguous();
      LaArgs a = args_of(q, v, causal, chunk, eps);
      at::Tensor y = at::empty(v.sizes(), v.options());
      at::Tensor den = at::empty({q.size(0), q.size(1), q.size(2)}, v.options().dtype(at::kFloat));
      // The backward needs y in fp32 (see bf16_driver.inc); written only when a gradient can be asked for.
      const bool grad = q0.requires_grad() || k0.requires_grad() || v0.requires_grad();
      at::Tensor y32 = grad ? at::empty(v.sizes(), v.options().dtype(at::kFloat)) : at::Tensor();
      a.q = q.data_ptr(), a.k = k.data_ptr(), a.v = v.data_ptr(), a.y = y.data_ptr(), a.den = den.data_ptr();
      a.y32 = grad ? y32.data_ptr() : nullptr;
      record_kernel("linear_attention", "forward", kb.name);
      run(kb.fwd, a);
      ctx->save_for_backward({q0, k0, v0, y32, den});
      return y;
    }
    const at::ScalarType wt = work_type(q0.scalar_type());
    at::Tensor q = q0.to(wt).contiguous(), k = k0.to(wt).contiguous(), v = v0.to(wt).contiguous();
    LaArgs a = args_of(q, v, causal, chunk, eps);
    at::Tensor y = at::empty(v.sizes(), v.options());
    at::Tensor den = at::empty({q.size(0), q.size(1), q.size(2)}, v.options());
    a.q = q.data_ptr(), a.k = k.data_ptr(), a.v = v.data_ptr(), a.y = y.data_ptr(), a.den = den.data_ptr();
    run(pick(false, wt, static_cast<Isa>(isa)), a);
    ctx->save_for_backward({q0, k0, v0, y, den});
    return y.to(v0.scalar_type());
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad) {
    require_first_order_backward("linear_attention (fast path)");
    variable_list s = ctx->get_saved_variables();
    const at::Tensor &q0 = s[0], &k0 = s[1], &v0 = s[2], &y = s[3], &den = s[4];
    if (const Bf16Kernels kb = bf16_kernels(q0, k0, v0, static_cast<Isa>(ctx->saved_data["isa"].toInt()))) {
      at::Tensor q = q0.contiguous(), k = k0.contiguous(), v = v0.contiguous();
      at::Tensor g = grad[0].to(at::kBFloat16).contiguous();
      LaArgs a = args_of(q, v, ctx->saved_data["causal"].toBool(), ctx->saved_data["chunk"].toInt(),
                         ctx->saved_data["eps"].toDouble());
      at::Tensor dq = at::empty_like(q), dk = at::empty_like(k), dv = at::empty_like(v);
      a.q = q.data_ptr(), a.k = k.data_ptr(), a.v = v.data_ptr(), a.y32 = y.data_ptr(), a.den = den.data_ptr();
      a.g = g.data_ptr(), a.dq = dq.data_ptr(), a.dk = dk.data_ptr(), a.dv = dv.data_ptr();
      record_kernel("linear_attention", "backward", kb.name);
      run(kb.bwd, a);
      return {dq, dk, dv, at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
    }
    const at::ScalarType wt = work_type(q0.scalar_type());
    at::Tensor q = q0.to(wt).contiguous(), k = k0.to(wt).contiguous(), v = v0.to(wt).contiguous();
    at::Tensor g = grad[0].to(wt).contiguous();
    LaArgs a = args_of(q, v, ctx->saved_data["causal"].toBool(), ctx->saved_data["chunk"].toInt(),
                       ctx->saved_data["eps"].toDouble());
    at::Tensor dq = at::empty_like(q), dk = at::empty_like(k), dv = at::empty_like(v);
    a.q = q.data_ptr(), a.k = k.data_ptr(), a.v = v.data_ptr(), a.y = y.data_ptr(), a.den = den.data_ptr();
    a.g = g.data_ptr(), a.dq = dq.data_ptr(), a.dk = dk.data_ptr(), a.dv = dv.data_ptr();
    run(pick(true, wt, static_cast<Isa>(ctx->saved_data["isa"].toInt())), a);
    return {dq.to(q0.scalar_type()), dk.to(k0.scalar_type()), dv.to(v0.scalar_type()), at::Tensor(), at::Tensor(),
            at::Tensor(), at::Tensor()};
  }
};

void check(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const LinearAttentionOptions& o) {
  LMF_REQUIRE(q.dim() == 4 && k.sizes() == q.sizes(), std::invalid_argument,
              "linear_attention: phi_q and phi_k must both be (B, H, L, F), got ", q.sizes(), " and ", k.sizes());
  LMF_REQUIRE(v.dim() == 4 && v.size(0) == q.size(0) && v.size(1) == q.size(1) && v.size(2) == q.size(2),
              std::invalid_argument, "linear_attention: v must be (B, H, L, D) matching ", q.sizes(), ", got ",
              v.sizes());
  LMF_REQUIRE(o.chunk >= 1, std::invalid_argument, "linear_attention: chunk must be >= 1, got ", o.chunk);
  LMF_REQUIRE(q.device().is_cpu(), std::invalid_argument, "linear_attention: CPU tensors only (no CUDA kernel yet)");
}

}  // namespace

at::Tensor linear_attention(const at::Tensor& phi_q, const at::Tensor& phi_k, const at::Tensor& v,
                            const LinearAttentionOptions& o) {
  if (!phi_q.device().is_cpu()) return linear_attention_ref(phi_q, phi_k, v, o);  // CUDA: the ATen form
  check(phi_q, phi_k, v, o);
  const Isa isa = dispatch_isa("linear_attention");
  if (isa == Isa::ref) return linear_attention_ref(phi_q, phi_k, v, o);
  if (phi_q.size(2) == 0) return at::zeros(v.sizes(), v.options());
  return LinearAttentionFn::apply(phi_q, phi_k, v, o.causal, o.chunk, o.eps, static_cast<int64_t>(isa));
}

at::Tensor linear_attention_step(const at::Tensor& phi_q, const at::Tensor& phi_k, const at::Tensor& v,
                                 LinearAttentionState& st, const LinearAttentionOptions& o) {
  const at::ScalarType wt = work_type(v.scalar_type());
  at::Tensor q = phi_q.to(wt), k = phi_k.to(wt), vv = v.to(wt);
  const int64_t T = q.size(2);
  at::Tensor y;
  if (!st.S.defined()) {  // prefill: the chunked op, then the state in one matmul
    y = linear_attention(q, k, vv, LinearAttentionOptions{true, o.chunk, o.eps});
    st.S = at::matmul(k.transpose(-2, -1), vv);  // (B, H, F, D)
    st.z = k.sum(2);                             // (B, H, F)
  } else {
    std::vector<at::Tensor> ys;
    for (int64_t t = 0; t < T; ++t) {
      at::Tensor qt = q.select(2, t), kt = k.select(2, t), vt = vv.select(2, t);
      st.S.add_(kt.unsqueeze(-1) * vt.unsqueeze(-2));
      st.z.add_(kt);
      at::Tensor num = at::matmul(qt.unsqueeze(-2), st.S).squeeze(-2);
      at::Tensor den = (qt * st.z).sum(-1, true) + o.eps;
      ys.push_back(num / den);
    }
    y = T == 1 ? ys[0].unsqueeze(2) : at::stack(ys, 2);
  }
  st.seen += T;
  return y.to(v.scalar_type());
}

static const bool kInfo = register_kernel_info("linear_attention", [](at::ScalarType dt, Isa isa) -> std::string {
  if (isa == Isa::ref) return "aten (masked quadratic)";
  if (dt == at::kBFloat16 && isa >= Isa::amx) return "amx tiles (chunked, bf16)";
  if (dt == at::kBFloat16 && isa >= Isa::avx512bf16) return "avx512bf16 VDPBF16PS (chunked, bf16)";
  return isa >= Isa::avx512 ? "avx512 fp32 (chunked)" : "generic fp32 (chunked)";
});

}  // namespace lmforge
