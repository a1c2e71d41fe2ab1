// fftconv as a torch::autograd::Function: forward and backward side by side, each one pass over
// the channels (OpenMP over chunks of h), dispatching on active_isa() (amx: AMX-BF16 tile stages
// for bf16 inputs, AVX-512 for fp32; avx512bf16: the AVX-512 fp32 kernel, or with
// LMFORGE_FFTCONV_DPBF16=1 the VDPBF16PS stages for bf16 inputs (see pick_kernel); avx512: the
// AVX-512 fp32 kernel, bf16 widened on load; avx2 the compiler-vectorised one; ref the ATen oracle
// through autograd).
// Formulas in kernel.h; the paper and the layout in plan.h. Nothing is saved beyond the inputs:
// the backward recomputes the filter spectrum and the forward convolution it needs (for dpost),
// which keeps peak memory at the inputs plus one workspace per thread.
#include "lmforge/ops/fftconv/op.h"

#include <ATen/Parallel.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>
#include <torch/autograd.h>

#include "lmforge/core/error.h"
#include "lmforge/ops/fftconv/kernel.h"
#include "lmforge/ops/isa.h"
#include "lmforge/ops/kernel_info.h"
#include "lmforge/ops/kernel_trace.h"
#include "lmforge/ops/second_order.h"

namespace lmforge {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;
using namespace fftk;

Dt dt_of(at::ScalarType t) { return t == at::kDouble ? Dt::f64 : t == at::kBFloat16 ? Dt::bf16 : Dt::f32; }
at::ScalarType io_type(at::ScalarType t) { return t == at::kDouble || t == at::kBFloat16 ? t : at::kFloat; }
at::ScalarType acc_type(at::ScalarType t) { return t == at::kDouble ? at::kDouble : at::kFloat; }

at::Tensor prep(const at::Tensor& t, at::ScalarType dt) { return t.defined() ? t.to(dt).contiguous() : t; }
const void* ptr(const at::Tensor& t) { return t.defined() ? t.data_ptr() : nullptr; }

struct Call {  // the shared set-up of forward and backward
  ConvArgs a;
  std::vector<uint8_t> keep;
  at::Tensor u, k, pre, post, D;
  Call(const at::Tensor& u0, const at::Tensor& k0, const at::Tensor& pre0, const at::Tensor& post0,
       const at::Tensor& D0, int64_t partial, double sparsity, Isa isa) {
    const at::ScalarType io = io_type(u0.scalar_type()), acc = acc_type(io);
    u = prep(u0, io), pre = prep(pre0, io), post = prep(post0, io);
    k = prep(k0, acc), D = prep(D0, acc);
    a.dt = dt_of(io);
    a.B = u.size(0), a.H = u.size(1), a.L = u.size(2);
    a.k_len = k.size(1), a.k_stride = k.size(1);
    a.Lk = partial > 0 ? std::min(partial, a.k_len) : a.k_len;
    const int64_t N = fftconv_size(a.L, a.Lk);
    // the AMX kernel (bf16) prefers fewer, wider stages; sparse rows are defined on the default plan
    const bool tiles = isa >= Isa::amx && a.dt == Dt::bf16 && sparsity <= 0;
    a.plan = &fft_plan(N, tiles ? kTilePlan : 0);
    if (sparsity > 0) {
      keep = fftconv_keep_rows(N, sparsity);
      a.keep = keep.data();
    }
    a.u = ptr(u), a.pre = ptr(pre), a.post = ptr(post), a.k = ptr(k), a.D = ptr(D);
  }
};

// Placeholder for an absent optional input (a 0-element tensor) and back.
at::Tensor absent_as_empty(const at::Tensor& t) { return t.defined() ? t : at::empty({0}); }
at::Tensor defined_or_none(const at::Tensor& t) { return t.defined() && t.numel() > 0 ? t : at::Tensor(); }

// Channels in chunks of 8 handed out dynamically (not at::parallel_for's one static range per
// thread): on a shared machine one slow thread must not hold the other up. Each chunk allocates its
// workspace once; kernels throw nothing but bad_alloc, which is caught and rethrown outside.
void run(ConvKernel kernel, const ConvArgs& a) {
  const int64_t chunk = 8, n_chunks = (a.H + chunk - 1) / chunk;
  const int threads = static_cast<int>(std::min<int64_t>(at::get_num_threads(), n_chunks));
  bool failed = false;
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
  for (int64_t c = 0; c < n_chunks; ++c) {
    try {
      kernel(a, c * chunk, std::min(a.H, (c + 1) * chunk));
    } catch (...) {
#pragma omp atomic write
      failed = true;
    }
  }
  if (failed) throw std::bad_alloc();
}

// The VDPBF16PS stages (cpu_avx512bf16.cpp) run under avx512bf16 only when LMFORGE_FFTCONV_DPBF16=1:
// keeping the fp32-accurate contract costs them 6 VDPBF16PS per complex multiply-add where the
// fp32 kernel needs 4 FMAs, and on the Intel machine the op was 2.6x slower than with the AVX-512
// fp32 kernel (docs/BENCHMARKS.md, "The AMD route"), so by default avx512bf16 keeps the fp32 kernel
// (bf16 widened on load) until a measurement on the AMD kind says otherwise.
bool dpbf16_fft_requested() {
  const char* env = std::getenv("LMFORGE_FFTCONV_DPBF16");
  return env && std::strcmp(env, "1") == 0;
}

// amx: the tile kernel for bf16 inputs (it hands fp32 to the AVX-512 one itself); avx512bf16 with
// the opt-in above: the VDPBF16PS kernel (likewise). Records the kernel that runs (kernel_trace.h).
ConvKernel pick_kernel(bool backward, Isa isa, Dt dt) {
  const char* pass = backward ? "backward" : "forward";
  const bool bf16 = dt == Dt::bf16;
  if (dt == Dt::f64) record_kernel("fftconv", pass, "generic_f64");
  if (isa >= Isa::amx) {
    if (dt != Dt::f64) record_kernel("fftconv", pass, bf16 ? "amx_bf16" : "avx512_f32");
    return backward ? conv_bwd_amx : conv_fwd_amx;
  }
  if (isa >= Isa::avx512bf16 && bf16 && dpbf16_fft_requested()) {
    record_kernel("fftconv", pass, "avx512bf16_bf16");
    return backward ? conv_bwd_avx512bf16 : conv_fwd_avx512bf16;
  }
  if (isa >= Isa::avx512) {
    if (dt != Dt::f64) record_kernel("fftconv", pass, "avx512_f32");
    return backward ? conv_bwd_avx512 : conv_fwd_avx512;
  }
  if (dt != Dt::f64) record_kernel("fftconv", pass, isa >= Isa::avx2 ? "avx2_f32" : "generic_f32");
  if (isa >= Isa::avx2) return backward ? conv_bwd_avx2 : conv_fwd_avx2;
  return backward ? conv_bwd_generic : conv_fwd_generic;
}

struct FftConvFn : public torch::autograd::Function<FftConvFn> {
  // LibTorch 1.13's Function::apply rejects undefined tensors, so absent gates / skip come in as
  // empty placeholders (see absent()) and are turned back into undefined tensors here.
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& u, const at::Tensor& k, const at::Tensor& pre_in,
                            const at::Tensor& post_in, const at::Tensor& D_in, int64_t partial, double sparsity,
                            int64_t isa) {
    const at::Tensor pre = defined_or_none(pre_in), post = defined_or_none(post_in), D = defined_or_none(D_in);
    Call c(u, k, pre, post, D, partial, sparsity, static_cast<Isa>(isa));
    at::Tensor y = at::empty_like(c.u);
    c.a.y = y.data_ptr();
    run(pick_kernel(false, static_cast<Isa>(isa), c.a.dt), c.a);
    ctx->save_for_backward({u, k, pre, post, D});
    ctx->saved_data["partial"] = partial;
    ctx->saved_data["sparsity"] = sparsity;
    ctx->saved_data["isa"] = isa;
    return y.to(u.scalar_type());
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad) {
    require_first_order_backward("fftconv (fast path)");
    variable_list s = ctx->get_saved_variables();
    const at::Tensor u = s[0], k = s[1], pre = defined_or_none(s[2]), post = defined_or_none(s[3]),
                     D = defined_or_none(s[4]);
    Call c(u, k, pre, post, D, ctx->saved_data["partial"].toInt(), ctx->saved_data["sparsity"].toDouble(),
           static_cast<Isa>(ctx->saved_data["isa"].toInt()));
    at::Tensor dy = prep(grad[0], c.u.scalar_type());
    at::Tensor du = at::empty_like(c.u), dk = at::empty_like(c.k);
    at::Tensor dpre = pre.defined() ? at::empty_like(c.u) : at::Tensor();
    at::Tensor dpost = post.defined() ? at::empty_like(c.u) : at::Tensor();
    at::Tensor dD = D.defined() ? at::empty_like(c.D) : at::Tensor();
    c.a.dy = dy.data_ptr();
    c.a.du = du.data_ptr(), c.a.dk = dk.data_ptr();
    c.a.dpre = dpre.defined() ? dpre.data_ptr() : nullptr;
    c.a.dpost = dpost.defined() ? dpost.data_ptr() : nullptr;
    c.a.dD = dD.defined() ? dD.data_ptr() : nullptr;
    run(pick_kernel(true, static_cast<Isa>(ctx->saved_data["isa"].toInt()), c.a.dt), c.a);
    auto back = [](const at::Tensor& g, const at::Tensor& like) { return g.defined() ? g.to(like.scalar_type()) : g; };
    return {back(du, u), back(dk, k), back(dpre, pre), back(dpost, post), back(dD, D), at::Tensor(), at::Tensor(),
            at::Tensor()};
  }
};

void check(const at::Tensor& u, const at::Tensor& k, const at::Tensor& pre, const at::Tensor& post, const at::Tensor& D,
           const FftConvOptions& o) {
  LMF_REQUIRE(u.dim() == 3, std::invalid_argument, "fftconv: u must be (B, H, L), got ", u.sizes());
  LMF_REQUIRE(k.dim() == 2 && k.size(0) == u.size(1), std::invalid_argument, "fftconv: k must be (H, Lk) with H = ",
              u.size(1), ", got ", k.sizes());
  LMF_REQUIRE(k.size(1) >= 1 && k.size(1) <= u.size(2), std::invalid_argument, "fftconv: need 1 <= Lk <= L, got Lk ",
              k.size(1), ", L ", u.size(2));
  for (const at::Tensor* g : {&pre, &post})
    LMF_REQUIRE(!g->defined() || g->sizes() == u.sizes(), std::invalid_argument, "fftconv: gates must match u ",
                u.sizes(), ", got ", g->sizes());
  LMF_REQUIRE(!D.defined() || (D.dim() == 1 && D.size(0) == u.size(1)), std::invalid_argument,
              "fftconv: D must be (H), got ", D.sizes());
  LMF_REQUIRE(o.sparsity >= 0 && o.sparsity < 1, std::invalid_argument, "fftconv: sparsity must be in [0, 1)");
  LMF_REQUIRE(o.partial >= 0, std::invalid_argument, "fftconv: partial must be >= 0");
  LMF_REQUIRE(u.device().is_cpu(), std::invalid_argument, "fftconv: CPU tensors only (no CUDA kernel yet)");
}

}  // namespace

at::Tensor fftconv(const at::Tensor& u, const at::Tensor& k, const at::Tensor& pre, const at::Tensor& post,
                   const at::Tensor& D, const FftConvOptions& o) {
  check(u, k, pre, post, D, o);
  const Isa isa = dispatch_isa("fftconv");
  if (isa == Isa::ref) return fftconv_ref(u, k, pre, post, D, o);
  return FftConvFn::apply(u, k, absent_as_empty(pre), absent_as_empty(post), absent_as_empty(D), o.partial, o.sparsity, static_cast<int64_t>(isa));
}

static const bool kInfo = register_kernel_info("fftconv", [](at::ScalarType dt, Isa isa) -> std::string {
  if (isa == Isa::ref) return "aten (torch.fft)";
  if (dt == at::kBFloat16 && isa >= Isa::amx) return "amx tiles (Monarch FFT, bf16)";
  if (dt == at::kBFloat16 && isa >= Isa::avx512bf16 && dpbf16_fft_requested())
    return "avx512bf16 VDPBF16PS stages (LMFORGE_FFTCONV_DPBF16=1)";
  return isa >= Isa::avx512 ? "avx512 fp32 (Monarch FFT)" : isa >= Isa::avx2 ? "avx2 fp32 (Monarch FFT)" : "generic fp32";
});

}  // namespace lmforge
