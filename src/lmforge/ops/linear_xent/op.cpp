// Forward and backward of the fused linear cross-entropy (see op.h for the formula and why).
#include "lmforge/ops/linear_xent/op.h"

#include <ATen/autocast_mode.h>
#include <torch/autograd.h>

#include "lmforge/core/error.h"
#include "lmforge/ops/second_order.h"
#include "lmforge/ops/kernel_info.h"

namespace lmforge {

namespace {

// Rows per chunk: the fp32 logits of a chunk stay around 4 MB (in L2/L3), but never fewer than 64
// rows, below which the GEMMs lose their efficiency.
int64_t chunk_rows(int64_t vocab) { return std::max<int64_t>(64, (int64_t{1} << 20) / std::max<int64_t>(vocab, 1)); }

// The dtype the GEMMs run in: autocast's when it is on (as at::linear would), else the inputs'.
at::ScalarType gemm_dtype(const at::Tensor& h) {
  if (h.scalar_type() == at::kFloat && h.device().is_cpu() && at::autocast::is_cpu_enabled())
    return at::autocast::get_autocast_cpu_dtype();
  if (h.scalar_type() == at::kFloat && h.device().is_cuda() && at::autocast::is_enabled())
    return at::autocast::get_autocast_gpu_dtype();
  return h.scalar_type();
}

struct Result {
  at::Tensor loss, grad_h, grad_w;
};

Result run(const at::Tensor& h_in, const at::Tensor& w_in, const at::Tensor& y, int64_t ignore, bool need_grad) {
  const at::ScalarType cdt = gemm_dtype(h_in);
  // Autocast is handled here explicitly; the GEMMs below must not be re-cast behind our back.
  struct NoCpuAutocast {
    bool prev = at::autocast::is_cpu_enabled();
    NoCpuAutocast() { at::autocast::set_cpu_enabled(false); }
    ~NoCpuAutocast() { at::autocast::set_cpu_enabled(prev); }
  } no_autocast;
  const at::ScalarType acc = cdt == at::kDouble ? at::kDouble : at::kFloat;
  const at::Tensor h = h_in.to(cdt).contiguous(), w = w_in.to(cdt).contiguous();
  const int64_t N = h.size(0), V = w.size(0), R = chunk_rows(V);
  Result r;
  r.loss = at::zeros({}, h.options().dtype(acc));
  if (need_grad) {
    r.grad_h = at::empty_like(h);
    r.grad_w = at::zeros(w.sizes(), w.options().dtype(acc));
  }
  for (int64_t start = 0; start < N; start += R) {
    const int64_t n = std::min(R, N - start);
    const at::Tensor hc = h.narrow(0, start, n), yc = y.narrow(0, start, n);
    at::Tensor logits = at::mm(hc, w.t()).to(acc);  // (n, V)
    const at::Tensor valid = yc != ignore;
    const at::Tensor yv = at::where(valid, yc, at::zeros_like(yc));
    const at::Tensor lse = at::logsumexp(logits, 1);
    const at::Tensor picked = logits.gather(1, yv.unsqueeze(1)).squeeze(1);
    r.loss += ((lse - picked) * valid).sum();
    if (!need_grad) continue;
    // d loss / d logits = softmax - onehot(y), zero for ignored rows; computed in place.
    logits.sub_(lse.unsqueeze(1)).exp_();
    logits.scatter_add_(1, yv.unsqueeze(1), at::full({n, 1}, -1.0, logits.options()));
    logits.mul_(valid.unsqueeze(1).to(acc));
    const at::Tensor d = logits.to(cdt);
    r.grad_h.narrow(0, start, n).copy_(at::mm(d, w));
    r.grad_w.add_(at::mm(d.t(), hc));
  }
  return r;
}

class LinearCrossEntropy : public torch::autograd::Function<LinearCrossEntropy> {
 public:
  static at::Tensor forward(torch::autograd::AutogradContext* ctx, const at::Tensor& h, const at::Tensor& w,
                            const at::Tensor& y, int64_t ignore) {
    const bool need_grad = h.requires_grad() || w.requires_grad();
    Result r = run(h, w, y, ignore, need_grad);
    if (need_grad) ctx->save_for_backward({r.grad_h.to(h.scalar_type()), r.grad_w.to(w.scalar_type())});
    return r.loss;
  }
  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* ctx,
                                                 torch::autograd::variable_list grad_out) {
    require_first_order_backward("linear_xent (fused linear cross-entropy)");
    auto saved = ctx->get_saved_variables();
    const at::Tensor g = grad_out[0];
    return {saved[0] * g.to(saved[0].scalar_type()), saved[1] * g.to(saved[1].scalar_type()), at::Tensor(),
            at::Tensor()};
  }
};

}  // namespace

at::Tensor linear_cross_entropy_sum(const at::Tensor& h, const at::Tensor& weight, const at::Tensor& targets,
                                    int64_t ignore_index) {
  LMF_REQUIRE(h.dim() == 2 && weight.dim() == 2 && targets.dim() == 1, UserError,
              "linear_cross_entropy: expected h (N, D), weight (V, D), targets (N,), got ", h.sizes(), ", ",
              weight.sizes(), ", ", targets.sizes());
  LMF_REQUIRE(h.size(1) == weight.size(1) && h.size(0) == targets.size(0), UserError,
              "linear_cross_entropy: shapes do not match: h ", h.sizes(), ", weight ", weight.sizes(), ", targets ",
              targets.sizes());
  // Its backward only scales the gradient formed in the forward, which has no graph: a second-order
  // pass takes the oracle (ops/second_order.h). Outside one the fused path is used even under
  // LMFORGE_ISA=ref, as before (it has no per-ISA kernels).
  if (second_order_active() && dispatch_isa("linear_xent") == Isa::ref)
    return linear_cross_entropy_sum_ref(h, weight, targets, ignore_index);
  return LinearCrossEntropy::apply(h, weight, targets, ignore_index);
}

static const bool kInfo = register_kernel_info("linear_xent", [](at::ScalarType dt, Isa) -> std::string {
  return std::string("chunked logits + loss + gradient in one pass (") + (dt == at::kBFloat16 ? "oneDNN bf16" : "BLAS fp32") +
         " GEMMs)";
});

}  // namespace lmforge
