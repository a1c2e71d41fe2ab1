// The Monarch fast path as an autograd Function, forward and backward side by side.
//
// Layout: activations live per block, (blocks, rows, block width), contiguous, so each factor is one
// batched GEMM (block_mm: one single-threaded GEMM per block and thread; OpenBLAS for fp32,
// oneDNN/AMX for bf16 -- oneDNN needs contiguous or transposed-contiguous operands, so strided
// per-block views of x would fall back to a slow path).
// Each permutation is exactly one copy: x -> (k, B, p); the stride permutation P fused into one
// permute of Y1 (when l divides q, which every MonarchLinear shape satisfies); the output
// permutation fused into the final reshape, which also adds the bias.
// Saved for backward: the two per-block GEMM inputs X1 (k, B, p) and X2 (l, B, r).
//   forward   Y1 = X1 W1^T          X2 = P(Y1)          Y2 = X2 W2^T + b      y = P_out(Y2)
//   backward  dY2 = P_out^-1(dy)    dW2 = dY2^T X2      dX2 = dY2 W2
//             dY1 = P^-1(dX2)       dW1 = dY1^T X1      dX1 = dY1 W1          dx = (dX1 as (B, n))
#include <cstring>

#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>
#include <ATen/autocast_mode.h>
#include <torch/csrc/autograd/custom_function.h>

#include "lmforge/core/error.h"
#include "lmforge/ops/isa.h"
#include "lmforge/ops/monarch/op.h"

namespace lmforge {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// The permutations are batches of small transposes: for each c < C,
//   dst[dbase(c) + j*dst_ld + i] = src[sbase(c) + i*src_ld + j]   (i < R, j < S).
// One hand-written pass each: ATen's generic strided copy of these 4-d permutes (innermost source
// stride l = 4) measured 25 ms for 4096 x 1024 fp32 on one core, ~10x a plain transpose copy, and
// three of them per direction cost as much as the FLOPs Monarch saves on the square d = 1024 layer.
template <class T, class Base>
void small_transposes_t(const T* src, T* dst, int64_t C, int64_t R, int64_t S, int64_t src_ld, int64_t dst_ld,
                      Base base) {
  at::parallel_for(0, C, 64, [&](int64_t lo, int64_t hi) {
    for (int64_t c = lo; c < hi; ++c) {
      const auto [sb, db] = base(c);
      const T* s = src + sb;
      T* d = dst + db;
      if (R >= S) {
        for (int64_t j = 0; j < S; ++j)
          for (int64_t i = 0; i < R; ++i) d[j * dst_ld + i] = s[i * src_ld + j];
      } else {
        for (int64_t i = 0; i < R; ++i)
          for (int64_t j = 0; j < S; ++j) d[j * dst_ld + i] = s[i * src_ld + j];
      }
    }
  });
}

// Moves bits only: dispatch on the element size (c10::BFloat16's assignment is not a plain 16-bit
// move to the compiler, which made the bf16 passes several times slower than a copy).
template <class Base>
void small_transposes(const at::Tensor& src, at::Tensor& dst, int64_t C, int64_t R, int64_t S, int64_t src_ld,
                      int64_t dst_ld, Base base) {
  switch (src.element_size()) {
    case 2:
      return small_transposes_t(static_cast<const uint16_t*>(src.data_ptr()), static_cast<uint16_t*>(dst.data_ptr()), C,
                                R, S, src_ld, dst_ld, base);
    case 4:
      return small_transposes_t(static_cast<const uint32_t*>(src.data_ptr()), static_cast<uint32_t*>(dst.data_ptr()), C,
                                R, S, src_ld, dst_ld, base);
    default:
      return small_transposes_t(static_cast<const uint64_t*>(src.data_ptr()), static_cast<uint64_t*>(dst.data_ptr()), C,
                                R, S, src_ld, dst_ld, base);
  }
}

// Y1 (k, B, q) -> X2 (l, B, r) with X2[li, b, ri] = Y1flat[b, ri*l + li] (flat index ki*q + j).
// When l divides q (every MonarchLinear shape): j = a*l + li, ri = ki*(q/l) + a.
at::Tensor permute_mid(const at::Tensor& y1, int64_t l, int64_t r) {
  const int64_t k = y1.size(0), b = y1.size(1), q = y1.size(2);
  if (q % l != 0) return y1.transpose(0, 1).reshape({b, r, l}).permute({2, 0, 1}).contiguous();
  const int64_t m = q / l;
  at::Tensor x2 = at::empty({l, b, r}, y1.options());
  small_transposes(y1, x2, k * b, m, l, l, b * r, [&](int64_t c) {
    const int64_t ki = c / b, bi = c % b;
    return std::pair<int64_t, int64_t>{(ki * b + bi) * q, bi * r + ki * m};
  });
  return x2;
}

// The inverse: dX2 (l, B, r) -> dY1 (k, B, q).
at::Tensor unpermute_mid(const at::Tensor& x2, int64_t k, int64_t q) {
  const int64_t l = x2.size(0), b = x2.size(1), r = x2.size(2);
  if (q % l != 0) return x2.permute({1, 2, 0}).reshape({b, k, q}).transpose(0, 1).contiguous();
  const int64_t m = q / l;
  at::Tensor y1 = at::empty({k, b, q}, x2.options());
  small_transposes(x2, y1, k * b, l, m, b * r, l, [&](int64_t c) {
    const int64_t ki = c / b, bi = c % b;
    return std::pair<int64_t, int64_t>{bi * r + ki * m, (ki * b + bi) * q};
  });
  return y1;
}

// Y2 (l, B, s) -> y (B, s*l) with y[b, si*l + li] = Y2[li, b, si] (+ bias[si*l + li]): the output
// permutation with the bias add fused in (addmm_out with a broadcast bias measured 6x slower than
// mm_out for these bf16 blocks on oneDNN 1.13, 1.2x for fp32).
at::Tensor permute_out(const at::Tensor& y2, const at::Tensor& bias) {
  const int64_t l = y2.size(0), b = y2.size(1), s = y2.size(2), m = s * l;
  at::Tensor y = at::empty({b, m}, y2.options());
  if (!bias.defined()) {
    small_transposes(y2, y, b, l, s, b * s, l, [&](int64_t c) { return std::pair<int64_t, int64_t>{c * s, c * s * l}; });
    return y;
  }
  const at::Tensor bc = bias.contiguous();
  auto run = [&](auto* dst, const auto* src, const auto* bs, auto add) {
    at::parallel_for(0, b, 64, [&](int64_t lo, int64_t hi) {
      for (int64_t bi = lo; bi < hi; ++bi) {
        auto* d = dst + bi * m;
        for (int64_t li = 0; li < l; ++li) {
          const auto* r = src + (li * b + bi) * s;
          for (int64_t si = 0; si < s; ++si) d[si * l + li] = add(r[si], bs[si * l + li]);
        }
      }
    });
  };
  if (y2.scalar_type() == at::kBFloat16) {
    // bf16 bits -> fp32, add, round to nearest even -> bf16 bits (finite values; inlined, unlike
    // c10::BFloat16's conversions).
    auto add = [](uint16_t a, uint16_t c) {
      const uint32_t ua = static_cast<uint32_t>(a) << 16, uc = static_cast<uint32_t>(c) << 16;
      float fa, fc;
      std::memcpy(&fa, &ua, 4), std::memcpy(&fc, &uc, 4);
      const float f = fa + fc;
      uint32_t u;
      std::memcpy(&u, &f, 4);
      return static_cast<uint16_t>((u + 0x7FFFu + ((u >> 16) & 1u)) >> 16);
    };
    run(static_cast<uint16_t*>(y.data_ptr()), static_cast<const uint16_t*>(y2.data_ptr()),
        static_cast<const uint16_t*>(bc.data_ptr()), add);
  } else {
    AT_DISPATCH_FLOATING_TYPES(y2.scalar_type(), "monarch_permute_out", [&] {
      run(y.data_ptr<scalar_t>(), y2.data_ptr<scalar_t>(), bc.data_ptr<scalar_t>(),
          [](scalar_t a, scalar_t c) { return a + c; });
    });
  }
  return y;
}

// The inverse: dy (B, s*l) -> dY2 (l, B, s).
at::Tensor unpermute_out(const at::Tensor& g, int64_t l) {
  const int64_t b = g.size(0), s = g.size(1) / l;
  at::Tensor dy2 = at::empty({l, b, s}, g.options());
  small_transposes(g, dy2, b, s, l, l, b * s, [&](int64_t c) { return std::pair<int64_t, int64_t>{c * s * l, c * s}; });
  return dy2;
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
  auto run = [&](int64_t lo, int64_t hi) {
    at::NoGradGuard ng;
    for (int64_t i = lo; i < hi; ++i) {
      at::Tensor o = out.select(0, i);
      if (cd.defined()) at::addmm_out(o, cd.select(0, i), ad.select(0, i), bd.select(0, i));
      else at::mm_out(o, ad.select(0, i), bd.select(0, i));
    }
  };
  if (at::get_num_threads() == 1) run(0, nb);  // no parallel region around the GEMM library at all
  else at::parallel_for(0, nb, 1, run);
  return out;
}

struct MonarchFn : public torch::autograd::Function<MonarchFn> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& w1, const at::Tensor& w2,
                            const at::Tensor& bias) {
    const int64_t k = w1.size(0), p = w1.size(2), l = w2.size(0), r = w2.size(2);
    const int64_t b = x.size(0);
    const bool has_bias = bias.numel() > 0;  // no bias: an empty tensor (apply() rejects undefined ones)
    at::Tensor x1 = x.view({b, k, p}).transpose(0, 1).contiguous();                // (k, B, p)
    at::Tensor y1 = block_mm(x1, w1.transpose(1, 2));                              // (k, B, q)
    at::Tensor x2 = permute_mid(y1, l, r);                                         // (l, B, r)
    at::Tensor y2 = block_mm(x2, w2.transpose(1, 2));                              // (l, B, s)
    ctx->save_for_backward({x1, x2, w1, w2});
    ctx->saved_data["has_bias"] = has_bias;
    return permute_out(y2, has_bias ? bias : at::Tensor());                        // y[s_i*l + l_i] + b
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    auto saved = ctx->get_saved_variables();
    const at::Tensor &x1 = saved[0], &x2 = saved[1], &w1 = saved[2], &w2 = saved[3];
    const int64_t k = w1.size(0), q = w1.size(1), p = w1.size(2), l = w2.size(0);
    const int64_t b = x1.size(1);
    at::Tensor g = grads[0].contiguous();                                          // (B, m)
    at::Tensor dy2 = unpermute_out(g, l);                                          // (l, B, s)
    at::Tensor dw2 = block_mm(dy2.transpose(1, 2), x2);                             // (l, s, r)
    at::Tensor dx2 = block_mm(dy2, w2);                                             // (l, B, r)
    at::Tensor dy1 = unpermute_mid(dx2, k, q);                                     // (k, B, q)
    at::Tensor dw1 = block_mm(dy1.transpose(1, 2), x1);                             // (k, q, p)
    at::Tensor dx = block_mm(dy1, w1).transpose(0, 1).reshape({b, k * p});          // (B, n)
    at::Tensor db = ctx->saved_data["has_bias"].toBool() ? g.sum(0) : at::Tensor();
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
  if (active_isa() == Isa::ref) return monarch_linear_ref(x_in, w1_in, w2_in, bias_in);
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
  at::Tensor y = MonarchFn::apply(x.reshape({-1, k * p}), w1, w2, bias.defined() ? bias : at::empty({0}, x.options()));
  return y.view(out_shape);
}

}  // namespace lmforge
