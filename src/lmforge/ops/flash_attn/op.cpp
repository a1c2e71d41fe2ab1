// flash_attention as a torch::autograd::Function: forward and backward side by side, each one pass
// over the (batch*head) slices (at::parallel_for), dispatching on active_isa() (see pick()): bf16
// inputs under amx with d % 32 == 0 -> the AMX tile kernel (bf16 in, fp32 out); bf16 under
// avx512bf16 -> the AVX-512 kernel with VDPBF16PS GEMMs; otherwise avx512 and above -> the AVX-512
// fp32 kernel (bf16 widened on entry); avx2 -> the generic fp32 kernel; ref -> the oracle through
// autograd; float64 always takes the generic kernel (finite differences).
// The kernels read q, k, v through strides (the mixer's views of its fused QKV projection need no
// copy) and write y as (B, L, H, d) memory, returned as its (B, H, L, d) view, so the mixer's
// transpose back to (B, L, H d) is free. Saved for backward: q, k, v in the working type (bf16 for
// the tile kernel), y in fp32 (fp64) and the fp32 (B H, L) log-sum-exp.
#include "lmforge/ops/flash_attn/op.h"

#include <ATen/Parallel.h>
#include <torch/autograd.h>

#include <cmath>

#include "lmforge/core/error.h"
#include "lmforge/ops/flash_attn/kernel.h"
#include "lmforge/ops/kernel_info.h"
#include "lmforge/ops/kernel_trace.h"
#include "lmforge/ops/second_order.h"

namespace lmforge {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;
using namespace fak;

at::ScalarType work_type(at::ScalarType t) { return t == at::kDouble ? at::kDouble : at::kFloat; }

// bf16 inputs under amx take the tile kernel when d is a multiple of 32 (flash_attention_bf16_tiles), else the fp32
// GEMMs (on the Intel AMX machines VDPBF16PS issues at about the rate of an fp32 FMA and its pair
// packing makes it 1.4x slower than fp32: docs/BENCHMARKS.md, "Flash attention on CPU"); under
// avx512bf16 (the AMD machines' route) they take the VDPBF16PS GEMMs.

// Records the kernel it picks (ops/kernel_trace.h) so tests can tell a path from its fallback.
FaKernel pick(bool backward, at::ScalarType wt, bool bf16, bool tiles, Isa isa) {
  const char* pass = backward ? "backward" : "forward";
  if (tiles) return record_kernel("flash_attention", pass, "amx_bf16"), backward ? fa_bwd_amx_bf16 : fa_fwd_amx_bf16;
  if (wt == at::kDouble)
    return record_kernel("flash_attention", pass, "generic_f64"), backward ? fa_bwd_generic_f64 : fa_fwd_generic_f64;
  if (bf16 && isa == Isa::avx512bf16)
    return record_kernel("flash_attention", pass, "avx512bf16"), backward ? fa_bwd_avx512bf16_f32 : fa_fwd_avx512bf16_f32;
  if (isa >= Isa::avx512)
    return record_kernel("flash_attention", pass, "avx512_f32"), backward ? fa_bwd_avx512_f32 : fa_fwd_avx512_f32;
  return record_kernel("flash_attention", pass, "generic_f32"), backward ? fa_bwd_generic_f32 : fa_fwd_generic_f32;
}

// The tensor in the working type with a contiguous last dimension (a view when it already is one).
at::Tensor working(const at::Tensor& t, at::ScalarType wt) {
  at::Tensor x = t.scalar_type() == wt ? t : t.to(wt);
  return x.stride(3) == 1 ? x : x.contiguous();
}

View view_of(const at::Tensor& t) { return View{t.data_ptr(), t.stride(0), t.stride(1), t.stride(2)}; }

// ALiBi slopes and key padding travel as tensors through autograd; an empty one means "none"
// (Function::apply cannot take undefined tensors in LibTorch 1.13).
void set_masks(FaArgs& a, const at::Tensor& slopes, const at::Tensor& key_padding) {
  a.slopes = slopes.numel() ? slopes.data_ptr<float>() : nullptr;
  a.key_padding = key_padding.numel() ? static_cast<const uint8_t*>(key_padding.data_ptr()) : nullptr;
}

void run(FaKernel kernel, const FaArgs& a) {
  at::parallel_for(0, a.B * a.H, 1, [&](int64_t b0, int64_t b1) { kernel(a, b0, b1); });
}

struct FlashAttentionFn : public torch::autograd::Function<FlashAttentionFn> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& q0, const at::Tensor& k0, const at::Tensor& v0,
                            bool causal, int64_t window, double scale, const at::Tensor& slopes,
                            const at::Tensor& key_padding, int64_t isa) {
    const bool bf16 = q0.scalar_type() == at::kBFloat16 && k0.scalar_type() == at::kBFloat16 &&
                      v0.scalar_type() == at::kBFloat16;
    const bool tiles = bf16 && flash_attention_bf16_tiles(q0.size(3), static_cast<Isa>(isa));
    // The tile kernel reads bf16 and writes fp32; the others work in fp32 (fp64) throughout.
    const at::ScalarType wt = tiles ? at::kBFloat16 : work_type(q0.scalar_type());
    at::Tensor q = working(q0, wt), k = working(k0, wt), v = working(v0, wt);
    const int64_t B = q.size(0), H = q.size(1), L = q.size(2), D = q.size(3), S = k.size(2);
    at::Tensor y = at::empty({B, L, H, D}, q.options().dtype(tiles ? at::kFloat : wt)).permute({0, 2, 1, 3});
    at::Tensor lse = at::empty({B * H, L}, q.options().dtype(at::kFloat));
    FaArgs a;
    a.B = B, a.H = H, a.L = L, a.S = S, a.D = D, a.causal = causal, a.window = window, a.scale = scale;
    set_masks(a, slopes, key_padding);
    a.q = view_of(q), a.k = view_of(k), a.v = view_of(v), a.y = view_of(y), a.lse = lse.data_ptr<float>();
    run(pick(false, wt, bf16, tiles, static_cast<Isa>(isa)), a);
    ctx->saved_data["bf16"] = bf16;
    ctx->saved_data["tiles"] = tiles;
    ctx->saved_data["causal"] = causal;
    ctx->saved_data["window"] = window;
    ctx->saved_data["scale"] = scale;
    ctx->saved_data["isa"] = isa;
    ctx->save_for_backward({q, k, v, y, lse, slopes, key_padding});
    return y.scalar_type() == q0.scalar_type() ? y : y.to(q0.scalar_type());
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad) {
    require_first_order_backward("flash_attention (fast path)");
    variable_list s = ctx->get_saved_variables();
    const at::Tensor &q = s[0], &k = s[1], &v = s[2], &y = s[3], &lse = s[4], &slopes = s[5], &key_padding = s[6];
    const bool tiles = ctx->saved_data["tiles"].toBool();
    const at::ScalarType wt = q.scalar_type();  // bf16 for the tile kernel, else fp32 / fp64
    at::Tensor g = working(grad[0], wt);
    const auto grad_opts = q.options().dtype(tiles ? at::kFloat : wt);
    at::Tensor dq = at::empty(q.sizes(), grad_opts), dk = at::empty(k.sizes(), grad_opts),
               dv = at::empty(v.sizes(), grad_opts);
    FaArgs a;
    a.B = q.size(0), a.H = q.size(1), a.L = q.size(2), a.D = q.size(3), a.S = k.size(2);
    a.causal = ctx->saved_data["causal"].toBool(), a.window = ctx->saved_data["window"].toInt();
    a.scale = ctx->saved_data["scale"].toDouble();
    set_masks(a, slopes, key_padding);
    a.q = view_of(q), a.k = view_of(k), a.v = view_of(v), a.y = view_of(y);
    a.lse = const_cast<float*>(lse.data_ptr<float>());
    a.g = view_of(g), a.dq = view_of(dq), a.dk = view_of(dk), a.dv = view_of(dv);
    run(pick(true, wt, ctx->saved_data["bf16"].toBool(), tiles, static_cast<Isa>(ctx->saved_data["isa"].toInt())), a);
    return {dq, dk, dv, at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor(), at::Tensor()};
  }
};

void check(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, const FlashAttentionOptions& o) {
  LMF_REQUIRE(q.dim() == 4 && k.dim() == 4 && v.dim() == 4, std::invalid_argument,
              "flash_attention: q, k, v must be (B, H, N, d), got ", q.sizes(), ", ", k.sizes(), ", ", v.sizes());
  LMF_REQUIRE(k.sizes() == v.sizes() && k.size(0) == q.size(0) && k.size(1) == q.size(1) && k.size(3) == q.size(3),
              std::invalid_argument, "flash_attention: k and v must be (B, H, S, d) matching q ", q.sizes(), ", got ",
              k.sizes(), " and ", v.sizes());
  LMF_REQUIRE(q.size(2) <= k.size(2), std::invalid_argument, "flash_attention: more queries (", q.size(2),
              ") than keys (", k.size(2), "); the queries are the last L of the S positions");
  LMF_REQUIRE(k.size(2) < (int64_t(1) << 31), std::invalid_argument, "flash_attention: sequence too long (", k.size(2), ")");
  LMF_REQUIRE(o.window >= 0, std::invalid_argument, "flash_attention: window must be >= 0, got ", o.window);
  if (o.alibi_slopes.defined())
    LMF_REQUIRE(o.alibi_slopes.dim() == 1 && o.alibi_slopes.size(0) == q.size(1), std::invalid_argument,
                "flash_attention: alibi_slopes must be (H = ", q.size(1), "), got ", o.alibi_slopes.sizes());
  if (o.key_padding.defined())
    LMF_REQUIRE(o.key_padding.scalar_type() == at::kBool && o.key_padding.dim() == 2 &&
                    o.key_padding.size(0) == q.size(0) && o.key_padding.size(1) == k.size(2),
                std::invalid_argument, "flash_attention: key_padding must be bool (B = ", q.size(0), ", S = ", k.size(2),
                "), got ", o.key_padding.scalar_type(), " ", o.key_padding.sizes());
}

}  // namespace

bool flash_attention_bf16_tiles(int64_t d, Isa isa) { return isa >= Isa::amx && d % 32 == 0; }

at::Tensor flash_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                           const FlashAttentionOptions& o) {
  check(q, k, v, o);
  if (!q.device().is_cpu()) return flash_attention_ref(q, k, v, o);  // CUDA: the ATen form
  const Isa isa = dispatch_isa("flash_attention");
  if (isa == Isa::ref) return flash_attention_ref(q, k, v, o);
  if (q.numel() == 0 || k.size(2) == 0) return at::zeros(q.sizes(), q.options());
  const double scale = o.scale > 0 ? o.scale : 1.0 / std::sqrt(static_cast<double>(q.size(3)));
  at::Tensor slopes = o.alibi_slopes.defined() ? o.alibi_slopes.to(at::kFloat).contiguous() : at::empty({0}, at::kFloat);
  at::Tensor pad = o.key_padding.defined() ? o.key_padding.contiguous() : at::empty({0}, at::kBool);
  return FlashAttentionFn::apply(q, k, v, o.causal, o.window, scale, slopes, pad, static_cast<int64_t>(isa));
}

static const bool kInfo = register_kernel_info("flash_attention", [](at::ScalarType dt, Isa isa) -> std::string {
  if (isa == Isa::ref) return "aten (L x S scores)";
  if (dt == at::kBFloat16 && isa >= Isa::amx) return "amx tiles (d % 32 == 0; else avx512 fp32), fp32 softmax";
  if (dt == at::kBFloat16 && isa == Isa::avx512bf16) return "avx512bf16 tiles (VDPBF16PS GEMMs, fp32 softmax)";
  return isa >= Isa::avx512 ? "avx512 fp32 tiles" : "generic fp32 tiles";
});

}  // namespace lmforge
