// moe_dispatch fast path: an autograd Function, forward and backward side by side (formulas in op.h).
//
// Buffers (N = kept assignments, rows sorted by expert, expert e owns rows [s_e, s_e + counts[e])):
//   forward   xs = x[tok]                       (N, D)  one gather pass
//             Z_e = xs_e W1_e^T + b1_e          (N, H)  addmm_out into a slice of one buffer
//             A = act(Z)                                in place for relu
//             O_e = A_e W2_e^T + b2_e           (N, D)  addmm_out into a slice of one buffer
//             y[t] = sum_slots g[i] O[i]        (T, D)  one pass over tokens (pos: token -> rows),
//                                                       accumulated in fp32, no atomics, no zero-fill
//   backward  dO[i] = g[i] dy[tok[i]]   dg[i] = <dy[tok[i]], O[i]>     one pass over rows
//             dW2_e = dO_e^T A_e   db2_e = sum dO_e   dA_e = dO_e W2_e
//             dZ = dA act'(Z)   (relu: from A, so Z is not kept)
//             dW1_e = dZ_e^T xs_e  db1_e = sum dZ_e  dxs_e = dZ_e W1_e
//             dx[t] = sum_slots dxs[i]                                  one pass over tokens
//             dweight[order[i]] = dg[i]
// Saved: xs, A (relu) or Z (other activations; A is recomputed), O, g, the token->row table.
#include <ATen/OpMathType.h>
#include <ATen/Parallel.h>
#include <ATen/autocast_mode.h>
#include <torch/csrc/autograd/custom_function.h>

#include "lmforge/core/error.h"
#include "lmforge/ops/activation.h"
#include "lmforge/ops/isa.h"
#include "lmforge/ops/kernel_info.h"
#include "lmforge/ops/second_order.h"
#include "lmforge/ops/moe_dispatch/op.h"

namespace lmforge {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

// xs[i] = x[tok[i]], tok[i] = order[i] / K.
at::Tensor gather_rows(const at::Tensor& x, const at::Tensor& order, int64_t K) {
  const int64_t N = order.size(0), D = x.size(1);
  at::Tensor xs = at::empty({N, D}, x.options());
  const int64_t* ord = order.data_ptr<int64_t>();
  AT_DISPATCH_FLOATING_TYPES_AND(at::kBFloat16, x.scalar_type(), "moe_gather_rows", [&] {
    const scalar_t* src = x.data_ptr<scalar_t>();
    scalar_t* dst = xs.data_ptr<scalar_t>();
    at::parallel_for(0, N, 64, [&](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; ++i) std::copy_n(src + (ord[i] / K) * D, D, dst + i * D);
    });
  });
  return xs;
}

// out[t] = sum_{slot} (g ? g[pos[t, slot]] : 1) * rows[pos[t, slot]] over the slots with pos >= 0;
// a token with no kept slot gets zeros.
at::Tensor combine_rows(const at::Tensor& rows, const at::Tensor& g, const at::Tensor& pos) {
  const int64_t T = pos.size(0), K = pos.size(1), D = rows.size(1);
  at::Tensor out = at::empty({T, D}, rows.options());
  const int64_t* ps = pos.data_ptr<int64_t>();
  AT_DISPATCH_FLOATING_TYPES_AND(at::kBFloat16, rows.scalar_type(), "moe_combine_rows", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    const scalar_t* src = rows.data_ptr<scalar_t>();
    const scalar_t* gs = g.defined() ? g.data_ptr<scalar_t>() : nullptr;
    scalar_t* dst = out.data_ptr<scalar_t>();
    at::parallel_for(0, T, 16, [&](int64_t lo, int64_t hi) {
      std::vector<acc_t> acc(static_cast<size_t>(D));
      for (int64_t t = lo; t < hi; ++t) {
        std::fill(acc.begin(), acc.end(), acc_t(0));
        for (int64_t s = 0; s < K; ++s) {
          const int64_t i = ps[t * K + s];
          if (i < 0) continue;
          const acc_t w = gs ? static_cast<acc_t>(gs[i]) : acc_t(1);
          const scalar_t* r = src + i * D;
          for (int64_t d = 0; d < D; ++d) acc[d] += w * static_cast<acc_t>(r[d]);
        }
        scalar_t* o = dst + t * D;
        for (int64_t d = 0; d < D; ++d) o[d] = static_cast<scalar_t>(acc[d]);
      }
    });
  });
  return out;
}

// dO[i] = g[i] dy[tok[i]], dg[i] = <dy[tok[i]], O[i]> (fp32 accumulation).
std::pair<at::Tensor, at::Tensor> weight_backward(const at::Tensor& dy, const at::Tensor& O, const at::Tensor& g,
                                                  const at::Tensor& order, int64_t K) {
  const int64_t N = O.size(0), D = O.size(1);
  at::Tensor dO = at::empty_like(O), dg = at::empty({N}, g.options());
  const int64_t* ord = order.data_ptr<int64_t>();
  AT_DISPATCH_FLOATING_TYPES_AND(at::kBFloat16, O.scalar_type(), "moe_weight_backward", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    const scalar_t *dys = dy.data_ptr<scalar_t>(), *os = O.data_ptr<scalar_t>(), *gs = g.data_ptr<scalar_t>();
    scalar_t *dos = dO.data_ptr<scalar_t>(), *dgs = dg.data_ptr<scalar_t>();
    at::parallel_for(0, N, 64, [&](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; ++i) {
        const scalar_t* d = dys + (ord[i] / K) * D;
        const scalar_t* o = os + i * D;
        scalar_t* r = dos + i * D;
        const acc_t w = static_cast<acc_t>(gs[i]);
        acc_t dot = 0;
        for (int64_t j = 0; j < D; ++j) {
          const acc_t dj = static_cast<acc_t>(d[j]);
          dot += dj * static_cast<acc_t>(o[j]);
          r[j] = static_cast<scalar_t>(w * dj);
        }
        dgs[i] = static_cast<scalar_t>(dot);
      }
    });
  });
  return {dO, dg};
}

// rows[i] = relu?(rows[i] + bias) in place, fp32 arithmetic for bf16 (ATen 1.13's broadcast bf16 add
// and addmm_out's bias path measured 6x slower than the GEMM itself for these shapes).
void bias_rows_(at::Tensor& rows, const at::Tensor& bias, bool relu) {
  const int64_t n = rows.size(0), c = rows.size(1);
  AT_DISPATCH_FLOATING_TYPES_AND(at::kBFloat16, rows.scalar_type(), "moe_bias_rows", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    scalar_t* r = rows.data_ptr<scalar_t>();
    const scalar_t* bs = bias.defined() ? bias.data_ptr<scalar_t>() : nullptr;
    at::parallel_for(0, n, 64, [&](int64_t lo, int64_t hi) {
      for (int64_t i = lo; i < hi; ++i) {
        scalar_t* x = r + i * c;
        for (int64_t j = 0; j < c; ++j) {
          acc_t v = static_cast<acc_t>(x[j]) + (bs ? static_cast<acc_t>(bs[j]) : acc_t(0));
          x[j] = static_cast<scalar_t>(relu && v < 0 ? acc_t(0) : v);
        }
      }
    });
  });
}

// out_e = a_e @ b_e^T (+ bias_e, then relu if asked) for each expert's row slice, written into one
// (N, cols) buffer.
void experts_mm(at::Tensor& out, const at::Tensor& a, const at::Tensor& w, const at::Tensor& bias,
                const std::vector<int64_t>& counts, bool relu) {
  int64_t s = 0;
  for (size_t e = 0; e < counts.size(); ++e) {
    const int64_t c = counts[e];
    if (c > 0) {
      at::Tensor o = out.narrow(0, s, c), ae = a.narrow(0, s, c), we = w[static_cast<int64_t>(e)].t();
      at::mm_out(o, ae, we);
      if (bias.numel() > 0 || relu) bias_rows_(o, bias.numel() > 0 ? bias[static_cast<int64_t>(e)] : at::Tensor(), relu);
    }
    s += c;
  }
}

// The weight gradients of one expert layer: dW_e = d_e^T in_e, db_e = sum d_e; and din_e = d_e W_e.
void experts_mm_backward(const at::Tensor& d, const at::Tensor& in, const at::Tensor& w, bool has_bias,
                         const std::vector<int64_t>& counts, at::Tensor& dw, at::Tensor& db, at::Tensor& din) {
  dw = at::zeros_like(w);
  db = has_bias ? at::zeros({w.size(0), w.size(1)}, w.options()) : at::Tensor();
  din = at::empty({d.size(0), w.size(2)}, d.options());
  int64_t s = 0;
  for (size_t e = 0; e < counts.size(); ++e) {
    const int64_t c = counts[e], ei = static_cast<int64_t>(e);
    if (c > 0) {
      at::Tensor de = d.narrow(0, s, c), dwe = dw[ei], dine = din.narrow(0, s, c);
      at::mm_out(dwe, de.t(), in.narrow(0, s, c));
      if (has_bias) db[ei].copy_(de.sum(0));
      at::mm_out(dine, de, w[ei]);
    }
    s += c;
  }
}

at::Tensor act_backward(at::Tensor& dA, const at::Tensor& saved, const std::string& act) {
  if (act == "relu") {  // saved = A = relu(Z): dZ = dA where A > 0, in place (one pass, any dtype)
    AT_DISPATCH_FLOATING_TYPES_AND(at::kBFloat16, dA.scalar_type(), "moe_relu_backward", [&] {
      scalar_t* d = dA.data_ptr<scalar_t>();
      const scalar_t* a = saved.data_ptr<scalar_t>();
      at::parallel_for(0, dA.numel(), 1 << 14, [&](int64_t lo, int64_t hi) {
        for (int64_t i = lo; i < hi; ++i)  // branch-free select: vectorises
          d[i] = static_cast<float>(a[i]) > 0 ? d[i] : scalar_t(0);
      });
    });
    return dA;
  }
  if (act == "gelu") return at::gelu_backward(dA, saved, "none");
  if (act == "gelu_tanh") return at::gelu_backward(dA, saved, "tanh");
  return at::silu_backward(dA, saved);
}

struct MoeDispatchFn : public torch::autograd::Function<MoeDispatchFn> {
  static at::Tensor forward(AutogradContext* ctx, const at::Tensor& x, const at::Tensor& weight,
                            const at::Tensor& order, const at::Tensor& w1, const at::Tensor& b1, const at::Tensor& w2,
                            const at::Tensor& b2, std::vector<int64_t> counts, std::string act) {
    const int64_t T = x.size(0), D = x.size(1), K = weight.size(1), N = order.size(0), H = w1.size(1);
    at::Tensor pos = at::full({T, K}, -1, order.options());  // token slot -> row, -1 = dropped
    {
      int64_t* ps = pos.data_ptr<int64_t>();
      const int64_t* ord = order.data_ptr<int64_t>();
      for (int64_t i = 0; i < N; ++i) ps[ord[i]] = i;
    }
    at::Tensor g = weight.reshape({-1}).index_select(0, order);
    at::Tensor xs = gather_rows(x, order, K);
    at::Tensor Z = at::empty({N, H}, x.options());
    experts_mm(Z, xs, w1, b1, counts, act == "relu");  // relu fused into the bias pass
    at::Tensor A = act == "relu" ? Z : activation(Z, act);
    at::Tensor O = at::empty({N, D}, x.options());
    experts_mm(O, A, w2, b2, counts, false);
    at::Tensor y = combine_rows(O, g, pos);
    ctx->save_for_backward({xs, act == "relu" ? A : Z, O, g, order, pos, w1, w2});
    ctx->saved_data["counts"] = counts;
    ctx->saved_data["act"] = act;
    ctx->saved_data["has_b1"] = b1.numel() > 0;
    ctx->saved_data["has_b2"] = b2.numel() > 0;
    ctx->saved_data["weight_shape"] = weight.sizes().vec();
    return y;
  }

  static variable_list backward(AutogradContext* ctx, variable_list grads) {
    require_first_order_backward("moe_dispatch (fast path)");
    auto sv = ctx->get_saved_variables();
    const at::Tensor &xs = sv[0], &ZA = sv[1], &O = sv[2], &g = sv[3], &order = sv[4], &pos = sv[5], &w1 = sv[6],
                     &w2 = sv[7];
    const std::vector<int64_t> counts = ctx->saved_data["counts"].toIntVector();
    const std::string act = ctx->saved_data["act"].toStringRef();
    const std::vector<int64_t> wshape = ctx->saved_data["weight_shape"].toIntVector();
    const int64_t K = wshape[1];
    at::Tensor dy = grads[0].to(O.scalar_type()).contiguous();
    auto [dO, dg] = weight_backward(dy, O, g, order, K);
    at::Tensor A = act == "relu" ? ZA : activation(ZA, act);
    at::Tensor dw2, db2, dA;
    experts_mm_backward(dO, A, w2, ctx->saved_data["has_b2"].toBool(), counts, dw2, db2, dA);
    at::Tensor dZ = act_backward(dA, ZA, act);
    at::Tensor dw1, db1, dxs;
    experts_mm_backward(dZ, xs, w1, ctx->saved_data["has_b1"].toBool(), counts, dw1, db1, dxs);
    at::Tensor dx = combine_rows(dxs, at::Tensor(), pos);
    at::Tensor dweight = at::zeros({wshape[0] * wshape[1]}, g.options()).index_copy_(0, order, dg).view(wshape);
    return {dx, dweight, at::Tensor(), dw1, db1, dw2, db2, at::Tensor(), at::Tensor()};
  }
};

}  // namespace

at::Tensor moe_dispatch(const at::Tensor& x_in, const at::Tensor& weight_in, const at::Tensor& order_in,
                        at::IntArrayRef counts, const at::Tensor& w1_in, const at::Tensor& b1_in,
                        const at::Tensor& w2_in, const at::Tensor& b2_in, const std::string& act) {
  const int64_t E = w1_in.size(0);
  LMF_REQUIRE(x_in.dim() == 2 && weight_in.dim() == 2 && weight_in.size(0) == x_in.size(0) && w1_in.dim() == 3 &&
                  w2_in.dim() == 3 && w1_in.size(2) == x_in.size(1) && w2_in.size(0) == E &&
                  w2_in.size(1) == x_in.size(1) && w2_in.size(2) == w1_in.size(1) &&
                  static_cast<int64_t>(counts.size()) == E,
              UserError, "moe_dispatch: shapes do not chain (x ", x_in.sizes(), ", weight ", weight_in.sizes(), ", w1 ",
              w1_in.sizes(), ", w2 ", w2_in.sizes(), ", ", counts.size(), " counts)");
  int64_t total = 0;
  for (int64_t c : counts) total += c;
  LMF_REQUIRE(order_in.dim() == 1 && order_in.size(0) == total && order_in.scalar_type() == at::kLong, UserError,
              "moe_dispatch: order must be int64 with sum(counts) = ", total, " entries, got ", order_in.sizes());
  if (dispatch_isa("moe_dispatch") == Isa::ref || !x_in.device().is_cpu())
    return moe_dispatch_ref(x_in, weight_in, order_in, counts, w1_in, b1_in, w2_in, b2_in, act);
  check_activation(act, "moe_dispatch activation");  // the kernels below know only these names
  // Autocast does not see inside a custom Function: cast as the experts' linear layers would be cast.
  at::ScalarType dt = x_in.scalar_type();
  if (at::autocast::is_cpu_enabled()) dt = at::autocast::get_autocast_cpu_dtype();
  auto cast = [&](const at::Tensor& t) {
    return t.defined() ? t.to(dt).contiguous() : at::empty({0}, x_in.options().dtype(dt));
  };
  return MoeDispatchFn::apply(cast(x_in), cast(weight_in), order_in.contiguous(), cast(w1_in), cast(b1_in),
                              cast(w2_in), cast(b2_in), counts.vec(), act);
}

static const bool kInfo = register_kernel_info("moe_dispatch", [](at::ScalarType dt, Isa isa) -> std::string {
  if (isa == Isa::ref) return "aten (gather, per-expert linear)";
  return std::string("fused gather/combine, per-expert GEMMs (") + (dt == at::kBFloat16 ? "oneDNN bf16)" : "BLAS fp32)");
});

}  // namespace lmforge
