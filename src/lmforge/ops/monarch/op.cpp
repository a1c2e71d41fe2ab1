// The Monarch fast path as an autograd Function, forward and backward side by side.
//
// Layout: each factor is a set of per-block GEMMs on (rows, block width) matrices (one
// single-threaded GEMM per block and thread; OpenBLAS for fp32, oneDNN/AMX for bf16).
//   forward   X1 = blocks(x)      Y1 = X1 W1^T      X2 = P(Y1)      y = P_out(X2 W2^T) + b
//   backward  dY2 = P_out^-1(dy)  dW2 = dY2^T X2    dX2 = dY2 W2    dY1 = P^-1(dX2)
//             dW1 = dY1^T X1      dx[:, block k] = dY1[k] W1[k]  (written in place, ldc = n)
//             db summed inside the P_out^-1 pass
//
// Why the permutations stay passes instead of being folded into the GEMMs (measured 2026-11-23,
// bench/cpu_time/monarch_fold_variants.cpp, docs/benchmarks/monarch_sparse.md section 1): a BLAS
// GEMM packs both operands anyway, and a permuted operand can only be expressed to BLAS by splitting
// the GEMM along the permuted index. Writing stage 1 straight into X2's layout takes k*l GEMMs of
// N = q/l columns, each re-packing its x block; the other split takes k accumulating GEMMs of
// K = q/l (C re-read k times; oneDNN runs those 2-3x slower in bf16). Forward+backward CPU ms at
// B 4096, d 1024, threads 1: folded 160 / 166 vs ATen copies 149 vs this file 133 (fp32); 81 / 103
// vs 53 vs 33 (bf16). What pays instead: passes written by hand at memcpy speed (passes.h: one read
// and one write per row, bias and its gradient fused in), dx written in place by its GEMMs, and no
// fresh 16 MB buffers per call (buffers.h: page faults). The hand-written passes need l | q (every
// MonarchLinear shape) and CPU tensors; everything else takes the generic path (MonarchFn: ATen
// permute copies, fresh buffers; LMFORGE_MONARCH_GENERIC=1 forces it, for measuring).
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <ATen/autocast_mode.h>
#include <torch/csrc/autograd/custom_function.h>

#include <cstdlib>

#include "lmforge/core/error.h"
#include "lmforge/ops/isa.h"
#include "lmforge/ops/kernel_info.h"
#include "lmforge/ops/second_order.h"
#include "lmforge/ops/monarch/buffers.h"
#include "lmforge/ops/monarch/op.h"
#include "lmforge/ops/monarch/passes.h"

namespace lmforge {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// Y1 (k, B, q) -> X2 (l, B, r) with X2[li, b, ri] = Y1flat[b, ri*l + li] (flat index ki*q + j).
at::Tensor permute_mid(const at::Tensor& y1, int64_t l, int64_t r) {
  const int64_t k = y1.size(0), b = y1.size(1), q = y1.size(2);
  if (q % l == 0) {
    // j = alpha*l + li, ri = ki*(q/l) + alpha: one copy.
    return y1.view({k, b, q / l, l}).permute({3, 1, 0, 2}).contiguous().view({l, b, r});
  }
  return y1.transpose(0, 1).reshape({b, r, l}).permute({2, 0, 1}).contiguous();
}

// The inverse: dX2 (l, B, r) -> dY1 (k, B, q).
at::Tensor unpermute_mid(const at::Tensor& x2, int64_t k, int64_t q) {
  const int64_t l = x2.size(0), b = x2.size(1);
  if (q % l == 0) {
    return x2.view({l, b, k, q / l}).permute({2, 1, 3, 0}).contiguous().view({k, b, q});
  }
  return x2.permute({1, 2, 0}).reshape({b, k, q}).transpose(0, 1).contiguous();
}

// Batched GEMM a[i] @ b[i] (+ bias[i]) with the blocks spread over the intra-op threads, each GEMM
// single-threaded (OpenBLAS/oneDNN run serially inside a parallel region). Why not at::bmm: it
// threads each small (B x 256 x 256) GEMM across cores with fine-grained barriers, which measured
// 2-3x slower per FLOP than one big GEMM on the shared 2-core machine (35 -> 14.5 GFLOP/s from
// 1 to 2 threads); one block per thread has a single join per call.
at::Tensor block_mm(const at::Tensor& a, const at::Tensor& b, const at::Tensor& bias = {}) {
  const int64_t nb = a.size(0);
  at::Tensor out = at::empty({nb, a.size(1), b.size(2)}, a.options());
  // Worker threads do not inherit the autograd dispatch exclusion of Function::forward: hand them
  // detached views (no copies) and no grad mode.
  const at::Tensor ad = a.detach(), bd = b.detach(), cd = bias.defined() ? bias.detach() : at::Tensor();
  at::parallel_for(0, nb, 1, [&](int64_t lo, int64_t hi) {
    at::NoGradGuard ng;
    for (int64_t i = lo; i < hi; ++i) {
      at::Tensor o = out.select(0, i);
      if (cd.defined()) at::addmm_out(o, cd.select(0, i), ad.select(0, i), bd.select(0, i));
      else at::mm_out(o, ad.select(0, i), bd.select(0, i));
    }
  });
  return out;
}

// The generic path (any l, any device): contiguous per-block activations, ATen permute copies.
struct MonarchFn : public torch::autograd::Function<MonarchFn> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& w1, const at::Tensor& w2,
                            const at::Tensor& bias) {
    const int64_t k = w1.size(0), p = w1.size(2), l = w2.size(0), s = w2.size(1), r = w2.size(2);
    const int64_t b = x.size(0);
    const bool has_bias = bias.numel() > 0;  // no bias: an empty tensor (apply() rejects undefined ones)
    at::Tensor x1 = x.view({b, k, p}).transpose(0, 1).contiguous();                // (k, B, p)
    at::Tensor y1 = block_mm(x1, w1.transpose(1, 2));                              // (k, B, q)
    at::Tensor x2 = permute_mid(y1, l, r);                                         // (l, B, r)
    at::Tensor y2 = block_mm(x2, w2.transpose(1, 2), has_bias ? bias.view({s, l}).t() : at::Tensor());  // (l, B, s)
    ctx->save_for_backward({x1, x2, w1, w2});
    ctx->saved_data["has_bias"] = has_bias;
    return y2.permute({1, 2, 0}).reshape({b, s * l});                              // y[s_i*l + l_i]
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    require_first_order_backward("monarch_linear (fast path)");
    auto saved = ctx->get_saved_variables();
    const at::Tensor &x1 = saved[0], &x2 = saved[1], &w1 = saved[2], &w2 = saved[3];
    const int64_t k = w1.size(0), q = w1.size(1), p = w1.size(2), l = w2.size(0), s = w2.size(1);
    const int64_t b = x1.size(1);
    at::Tensor g = grads[0].contiguous();                                          // (B, m)
    at::Tensor dy2 = g.view({b, s, l}).permute({2, 0, 1}).contiguous();            // (l, B, s)
    at::Tensor dw2 = block_mm(dy2.transpose(1, 2), x2);                             // (l, s, r)
    at::Tensor dx2 = block_mm(dy2, w2);                                             // (l, B, r)
    at::Tensor dy1 = unpermute_mid(dx2, k, q);                                     // (k, B, q)
    at::Tensor dw1 = block_mm(dy1.transpose(1, 2), x1);                             // (k, q, p)
    at::Tensor dx = block_mm(dy1, w1).transpose(0, 1).reshape({b, k * p});          // (B, n)
    at::Tensor db = ctx->saved_data["has_bias"].toBool() ? g.sum(0) : at::Tensor();
    return {dx, dw1, dw2, db};
  }
};


// ---- The CPU path for l | q: hand-written permutation passes (passes.h), in-place dx, reused
// memory (buffers.h) ----

using namespace monarch_detail;

// out_i = a_i @ b_i for i < nb (out_i may be a strided view: BLAS/oneDNN write it in place), the
// blocks spread over the intra-op threads, one single-threaded GEMM each (see block_mm).
template <class F>
void for_blocks(int64_t nb, F&& gemm) {
  at::parallel_for(0, nb, 1, [&](int64_t lo, int64_t hi) {
    at::NoGradGuard ng;
    for (int64_t i = lo; i < hi; ++i) gemm(i);
  });
}

void mm_into(at::Tensor out, const at::Tensor& a, const at::Tensor& b) { at::mm_out(out, a, b); }

// Rows per chunk of the CPU path: all rows by default. LMFORGE_MONARCH_ROWS=N processes N rows at a
// time (intermediates stay in cache; dW accumulates over chunks with beta = 1, in the op's dtype, so
// bf16 weight gradients round once per chunk). Measured 2026-11-23 at B 4096, d 1024 fp32 (CPU
// time, 3 interleaved runs each): dense / Monarch 1.54-1.56x unchunked, 1.51-1.54x at 512 rows,
// 1.44-1.55x at 1024 -- no gain, so it is off; kept for experiments on other machines.
int64_t row_chunk(int64_t rows) {
  static const int64_t c = [] {
    const char* e = std::getenv("LMFORGE_MONARCH_ROWS");
    return e && *e ? std::atoll(e) : int64_t{0};
  }();
  return c > 0 ? std::min(c, rows) : rows;
}

struct MonarchCpuFn : public torch::autograd::Function<MonarchCpuFn> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x_in, const at::Tensor& w1_in,
                            const at::Tensor& w2_in, const at::Tensor& bias_in) {
    // Worker threads do not inherit the autograd dispatch exclusion: work on detached tensors.
    const at::Tensor x = x_in.detach().contiguous(), w1 = w1_in.detach(), w2 = w2_in.detach();
    const int64_t k = w1.size(0), q = w1.size(1), p = w1.size(2), l = w2.size(0), s = w2.size(1), r = w2.size(2);
    const int64_t b = x.size(0), n = k * p, m = l * s, bc_max = row_chunk(b);
    const bool has_bias = bias_in.numel() > 0;
    const auto opt = x.options();
    const at::Tensor bias = has_bias ? bias_in.detach().contiguous() : at::Tensor();
    // Saved, chunk-major: rows [b0, b0 + bc) of X1 are the (k, bc, p) block at offset b0 * n.
    at::Tensor x1 = pooled_empty({b * n}, opt), x2 = pooled_empty({b * l * r}, opt);
    at::Tensor y = pooled_empty({b, m}, opt);
    for (int64_t b0 = 0; b0 < b; b0 += bc_max) {
      const int64_t bc = std::min(bc_max, b - b0);
      at::Tensor x1c = x1.narrow(0, b0 * n, bc * n).view({k, bc, p});
      at::Tensor x2c = x2.narrow(0, b0 * l * r, bc * l * r).view({l, bc, r});
      AT_DISPATCH_FLOATING_TYPES_AND2(at::kBFloat16, at::kHalf, x.scalar_type(), "monarch_split", [&] {
        split_blocks(x.data_ptr<scalar_t>() + b0 * n, x1c.data_ptr<scalar_t>(), bc, k, p);
      });
      at::Tensor y1 = scratch(0, {k, bc, q}, opt);
      for_blocks(k, [&](int64_t i) { mm_into(y1[i], x1c[i], w1[i].t()); });
      LMF_MONARCH_PASS(x.scalar_type(), l, mid_perm, y1.data_ptr<scalar_t>(), x2c.data_ptr<scalar_t>(), k, bc, q, l);
      at::Tensor y2 = scratch(0, {l, bc, s}, opt);                                   // y1 is dead
      for_blocks(l, [&](int64_t i) { mm_into(y2[i], x2c[i], w2[i].t()); });
      LMF_MONARCH_PASS(x.scalar_type(), l, out_perm, y2.data_ptr<scalar_t>(),
                       has_bias ? bias.data_ptr<scalar_t>() : nullptr, y.data_ptr<scalar_t>() + b0 * m, bc, s, l);
    }
    ctx->save_for_backward({x1, x2, w1_in, w2_in});
    ctx->saved_data["has_bias"] = has_bias;
    ctx->saved_data["rows"] = b;
    ctx->saved_data["chunk"] = bc_max;
    return y;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    require_first_order_backward("monarch_linear (fast path)");
    auto saved = ctx->get_saved_variables();
    const at::Tensor x1 = saved[0].detach(), x2 = saved[1].detach(), w1 = saved[2].detach(), w2 = saved[3].detach();
    const int64_t k = w1.size(0), q = w1.size(1), p = w1.size(2), l = w2.size(0), s = w2.size(1), r = w2.size(2);
    const int64_t b = ctx->saved_data["rows"].toInt(), bc_max = ctx->saved_data["chunk"].toInt(), n = k * p, m = l * s;
    const auto opt = x1.options();
    const bool has_bias = ctx->saved_data["has_bias"].toBool();
    at::Tensor g = grads[0].detach().contiguous();                                 // (B, m)
    // The bias gradient rides in dy's pass: column sums per (row chunk, thread chunk) in the math type.
    const int64_t nchunk = (b + bc_max - 1) / bc_max;
    const int64_t tchunks = std::max<int64_t>(1, std::min<int64_t>(at::get_num_threads(), bc_max));
    at::Tensor partial = has_bias ? at::empty({nchunk * tchunks, m}, opt.dtype(at::toOpMathType(g.scalar_type())))
                                  : at::Tensor();
    at::Tensor dw1 = at::empty({k, q, p}, opt), dw2 = at::empty({l, s, r}, opt), dx = pooled_empty({b, n}, opt);
    for (int64_t c = 0, b0 = 0; b0 < b; ++c, b0 += bc_max) {
      const int64_t bc = std::min(bc_max, b - b0);
      at::Tensor x1c = x1.narrow(0, b0 * n, bc * n).view({k, bc, p});
      at::Tensor x2c = x2.narrow(0, b0 * l * r, bc * l * r).view({l, bc, r});
      const int64_t tc = std::min(tchunks, bc);
      at::Tensor dy2 = scratch(0, {l, bc, s}, opt);
      LMF_MONARCH_PASS(g.scalar_type(), l, out_unperm, g.data_ptr<scalar_t>() + b0 * m, dy2.data_ptr<scalar_t>(), bc, s,
                       l, has_bias ? partial.data_ptr<at::opmath_type<scalar_t>>() + c * tchunks * m : nullptr, tc);
      if (has_bias && tc < tchunks) partial.narrow(0, c * tchunks + tc, tchunks - tc).zero_();
      at::Tensor dx2 = scratch(1, {l, bc, r}, opt);
      for_blocks(l, [&](int64_t i) {
        if (c == 0) mm_into(dw2[i], dy2[i].t(), x2c[i]);
        else dw2[i].addmm_(dy2[i].t(), x2c[i]);
        mm_into(dx2[i], dy2[i], w2[i]);
      });
      at::Tensor dy1 = scratch(0, {k, bc, q}, opt);                                   // dy2 is dead
      LMF_MONARCH_PASS(g.scalar_type(), l, mid_unperm, dx2.data_ptr<scalar_t>(), dy1.data_ptr<scalar_t>(), k, bc, q, l);
      for_blocks(k, [&](int64_t i) {
        if (c == 0) mm_into(dw1[i], dy1[i].t(), x1c[i]);
        else dw1[i].addmm_(dy1[i].t(), x1c[i]);
        mm_into(dx.narrow(0, b0, bc).narrow(1, i * p, p), dy1[i], w1[i]);           // in place, ldc = n
      });
    }
    at::Tensor db = has_bias ? partial.sum(0).to(g.scalar_type()) : at::Tensor();
    return {dx, dw1, dw2, db};
  }
};

}  // namespace

at::Tensor monarch_linear(const at::Tensor& x_in, const at::Tensor& w1_in, const at::Tensor& w2_in,
                          const at::Tensor& bias_in) {
  const int64_t k = w1_in.size(0), q = w1_in.size(1), p = w1_in.size(2);
  const int64_t l = w2_in.size(0), s = w2_in.size(1), r = w2_in.size(2);
  LMF_REQUIRE(w1_in.dim() == 3 && w2_in.dim() == 3 && x_in.size(-1) == k * p && l * r == k * q, UserError,
              "monarch_linear: shapes do not chain (x ", x_in.sizes(), ", w1 ", w1_in.sizes(), ", w2 ", w2_in.sizes(),
              "; need x.size(-1) = k*p and l*r = k*q)");
  LMF_REQUIRE(!bias_in.defined() || bias_in.numel() == l * s, UserError, "monarch_linear: bias has ",
              bias_in.numel(), " entries, expected ", l * s);
  if (dispatch_isa("monarch") == Isa::ref) return monarch_linear_ref(x_in, w1_in, w2_in, bias_in);
  // Autocast does not see inside a custom Function: cast like a linear layer would be cast.
  at::Tensor x = x_in, w1 = w1_in, w2 = w2_in, bias = bias_in;
  at::ScalarType dt = x.scalar_type();
  if (x.device().is_cpu() && at::autocast::is_cpu_enabled()) dt = at::autocast::get_autocast_cpu_dtype();
  else if (x.device().is_cuda() && at::autocast::is_enabled()) dt = at::autocast::get_autocast_gpu_dtype();
  if (at::isFloatingType(dt)) {
    x = x.to(dt), w1 = w1.to(dt), w2 = w2.to(dt);
    if (bias.defined()) bias = bias.to(dt);
  }
  std::vector<int64_t> out_shape(x.sizes().begin(), x.sizes().end());
  out_shape.back() = l * s;
  at::Tensor x2d = x.reshape({-1, k * p}), b_arg = bias.defined() ? bias : at::empty({0}, x.options());
  // The hand-written passes need l | q and CPU tensors; everything else takes the generic path.
  // LMFORGE_MONARCH_GENERIC=1 forces the generic path (to compare the two in one build).
  static const bool force_generic = monarch_detail::env_switch("LMFORGE_MONARCH_GENERIC");
  const bool cpu_path = !force_generic && x.device().is_cpu() && q % l == 0 && x2d.size(0) > 0;
  at::Tensor y = cpu_path ? MonarchCpuFn::apply(x2d, w1, w2, b_arg) : MonarchFn::apply(x2d, w1, w2, b_arg);
  return y.view(out_shape);
}

static const bool kInfo = register_kernel_info("monarch", [](at::ScalarType dt, Isa isa) -> std::string {
  if (isa == Isa::ref) return "aten (two bmm)";
  return std::string("per-block GEMMs (") + (dt == at::kBFloat16 ? "oneDNN bf16)" : "OpenBLAS fp32)");
});

}  // namespace lmforge
