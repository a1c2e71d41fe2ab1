// short_conv_split as a torch::autograd::Function: forward and backward side by side, each one pass
// over blocks of 16 channels (OpenMP, dynamic), dispatching on active_isa() (avx512 and amx share
// the AVX-512 build; avx2 and below the portable one; ref the ATen oracle). Only z and the weights
// are saved. Formulas in op.h and kernel.h.
#include "lmforge/ops/shortconv/op.h"

#include <algorithm>
#include <torch/autograd.h>

#include "lmforge/core/error.h"
#include "lmforge/ops/isa.h"
#include "lmforge/ops/kernel_info.h"
#include "lmforge/ops/second_order.h"
#include "lmforge/ops/shortconv/kernel.h"

#include <ATen/Parallel.h>

namespace lmforge {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;
using namespace sck;

Dt dt_of(at::ScalarType t) { return t == at::kDouble ? Dt::f64 : t == at::kBFloat16 ? Dt::bf16 : Dt::f32; }
at::ScalarType io_type(at::ScalarType t) { return t == at::kDouble || t == at::kBFloat16 ? t : at::kFloat; }
at::ScalarType acc_type(at::ScalarType t) { return t == at::kDouble ? at::kDouble : at::kFloat; }

using Kernel = void (*)(const Args&, int64_t, int64_t);

void run(Kernel k, const Args& a) {
  const int64_t chunk = 16, n = (a.C + chunk - 1) / chunk;
  const int threads = static_cast<int>(std::min<int64_t>(at::get_num_threads(), n));
#pragma omp parallel for schedule(dynamic, 1) num_threads(threads)
  for (int64_t c = 0; c < n; ++c) k(a, c * chunk, std::min(a.C, (c + 1) * chunk));
}

struct ShortConvFn : public torch::autograd::Function<ShortConvFn> {
  static variable_list forward(AutogradContext* ctx, const at::Tensor& z_in, const at::Tensor& w_in,
                               const at::Tensor& bias_in, int64_t parts, int64_t isa) {
    const at::ScalarType io = io_type(z_in.scalar_type()), acc = acc_type(io);
    at::Tensor z = z_in.to(io).contiguous(), w = w_in.to(acc).contiguous();
    at::Tensor bias = bias_in.numel() ? bias_in.to(acc).contiguous() : at::Tensor();
    Args a;
    a.dt = dt_of(io), a.B = z.size(0), a.L = z.size(1), a.C = z.size(2), a.D = a.C / parts, a.K = w.size(-1);
    a.z = z.data_ptr(), a.w = w.data_ptr(), a.bias = bias.defined() ? bias.data_ptr() : nullptr;
    variable_list out;
    std::vector<void*> ptrs;
    for (int64_t p = 0; p < parts; ++p) {
      out.push_back(at::empty({a.B, a.D, a.L}, z.options()));
      ptrs.push_back(out.back().data_ptr());
    }
    a.out = ptrs.data();
    run(static_cast<Isa>(isa) >= Isa::avx512 ? fwd_avx512 : fwd_generic, a);
    ctx->save_for_backward({z_in, w_in, bias_in});
    ctx->saved_data["parts"] = parts;
    ctx->saved_data["isa"] = isa;
    for (auto& o : out) o = o.to(z_in.scalar_type());
    return out;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad) {
    require_first_order_backward("shortconv (fast path)");
    variable_list s = ctx->get_saved_variables();
    const at::Tensor z_in = s[0], w_in = s[1], bias_in = s[2];
    const int64_t parts = ctx->saved_data["parts"].toInt();
    const at::ScalarType io = io_type(z_in.scalar_type()), acc = acc_type(io);
    at::Tensor z = z_in.to(io).contiguous(), w = w_in.to(acc).contiguous();
    Args a;
    a.dt = dt_of(io), a.B = z.size(0), a.L = z.size(1), a.C = z.size(2), a.D = a.C / parts, a.K = w.size(-1);
    std::vector<at::Tensor> g(parts);
    std::vector<const void*> gp(parts);
    for (int64_t p = 0; p < parts; ++p) {
      g[p] = grad[p].defined() ? grad[p].to(io).contiguous() : at::zeros({a.B, a.D, a.L}, z.options());
      gp[p] = g[p].data_ptr();
    }
    at::Tensor dz = at::empty_like(z), dw = at::empty_like(w);
    at::Tensor db = bias_in.numel() ? at::empty({a.C}, w.options()) : at::Tensor();
    a.z = z.data_ptr(), a.w = w.data_ptr(), a.g = gp.data(), a.dz = dz.data_ptr(), a.dw = dw.data_ptr();
    a.dbias = db.defined() ? db.data_ptr() : nullptr;
    run(static_cast<Isa>(ctx->saved_data["isa"].toInt()) >= Isa::avx512 ? bwd_avx512 : bwd_generic, a);
    return {dz.to(z_in.scalar_type()), dw.to(w_in.scalar_type()).view(w_in.sizes()),
            db.defined() ? db.to(bias_in.scalar_type()) : at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

}  // namespace

std::vector<at::Tensor> short_conv_split(const at::Tensor& z, const at::Tensor& w, const at::Tensor& bias,
                                         int64_t parts) {
  LMF_REQUIRE(z.dim() == 3, std::invalid_argument, "short_conv: z must be (B, L, C), got ", z.sizes());
  const int64_t C = z.size(2);
  LMF_REQUIRE(parts >= 1 && C % parts == 0, std::invalid_argument, "short_conv: ", parts, " parts do not divide C ", C);
  LMF_REQUIRE(w.numel() % C == 0 && w.size(0) == C, std::invalid_argument, "short_conv: w must be (C, ...K), got ",
              w.sizes());
  const int64_t K = w.numel() / C;
  LMF_REQUIRE(K >= 1 && K <= 16, std::invalid_argument, "short_conv: kernel size must be in [1, 16], got ", K);
  LMF_REQUIRE(!bias.defined() || bias.numel() == C, std::invalid_argument, "short_conv: bias must be (C)");
  LMF_REQUIRE(z.device().is_cpu(), std::invalid_argument, "short_conv: CPU tensors only");
  const Isa isa = dispatch_isa("shortconv");
  if (isa == Isa::ref) return short_conv_split_ref(z, w, bias, parts);
  // LibTorch 1.13's Function::apply rejects undefined tensors: an absent bias is a 0-element one.
  return ShortConvFn::apply(z, w, bias.defined() ? bias : at::empty({0}, w.options()), parts,
                            static_cast<int64_t>(isa));
}

static const bool kInfo = register_kernel_info("shortconv", [](at::ScalarType, Isa isa) -> std::string {
  return isa == Isa::ref ? "aten (conv1d)" : isa >= Isa::avx512 ? "avx512 fp32" : "generic fp32";
});

}  // namespace lmforge
