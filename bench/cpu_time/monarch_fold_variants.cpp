// Does folding the Monarch permutations into the GEMMs pay? Three ways to compute the same
// forward+backward (4096 x 1024 -> 1024, 4 blocks, bias; threads 1), timed as process CPU time
// (best of 5) against the dense layer and the engine's op (ops/monarch, whichever path is active):
//   fold_h   the permutation folded into the GEMM operands/outputs (docs task h5): stage 1 writes
//            straight into h (l, B, r) with k*l GEMMs of N = q/l columns (ldc = r, W1 rows read with
//            stride l); stage 2 and dW2/dH read h blocks contiguously; dW1 from strided dh chunks
//            into strided W1 rows; dx_k accumulated from l GEMMs of K = q/l (beta = 1); x read in
//            place (lda = n), dx written in place. Only the output permutation (+ bias) and dy's
//            inverse stay as passes.
//   fold_k   the other split: stage 1 as k GEMMs with W1's rows permuted so Y1 is stored (k, B, l, t);
//            stage 2 as k accumulating GEMMs of K = q/l per output block; dW2 as k GEMMs per block.
//   copies   the permutations as ATen copies, GEMMs on contiguous blocks (what the op did before).
// Numbers and conclusions: docs/benchmarks/monarch_sparse.md section 1. Not part of the CMake build:
//   B=build; g++ -O3 -fopenmp -std=c++17 -Isrc -isystem /usr/include/torch/csrc/api/include \
//     bench/cpu_time/monarch_fold_variants.cpp $(find $B/CMakeFiles/lmforge_obj.dir -name '*.o' | grep -v cli/main.cpp.o) \
//     -o /tmp/monarch_fold -ltorch -ltorch_cpu -lc10 -lprotobuf -lglog -lgflags -ltomlplusplus -lpthread \
//     $(grep -A8 "build lmforge:" $B/build.ninja | grep LINK_LIBRARIES | sed 's/.*libtomlplusplus.so//')
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <sys/resource.h>
#include <torch/csrc/autograd/autograd.h>

#include <cstdio>
#include <functional>

#include "lmforge/ops/monarch/op.h"

namespace {
using at::Tensor;
double cpu_ms() {
  rusage u;
  getrusage(RUSAGE_SELF, &u);
  return (u.ru_utime.tv_sec + u.ru_stime.tv_sec) * 1e3 + (u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e3;
}
double best_cpu_ms(const std::function<void()>& f, int n = 5) {
  f();
  double best = 1e18;
  for (int i = 0; i < n; ++i) {
    double c0 = cpu_ms();
    f();
    best = std::min(best, cpu_ms() - c0);
  }
  return best;
}
void mm_into(Tensor o, const Tensor& a, const Tensor& b) { at::mm_out(o, a, b); }
void add_into(Tensor o, const Tensor& a, const Tensor& b) { at::add_out(o, a, b); }

const int64_t B = 4096, k = 4, p = 256, q = 256, l = 4, s = 256, r = k * q / l, t = q / l, n = k * p, m = l * s;
using Grads = std::vector<Tensor>;  // y, dx, dw1, dw2, db

Grads fold_h(const Tensor& x, const Tensor& w1, const Tensor& w2, const Tensor& bias, const Tensor& g) {
  Tensor h = at::empty({l, B, r}, x.options());
  for (int64_t ki = 0; ki < k; ++ki)
    for (int64_t li = 0; li < l; ++li)
      mm_into(h[li].narrow(1, ki * t, t), x.narrow(1, ki * p, p), w1[ki].slice(0, li, q, l).t());
  Tensor y2 = at::empty({l, B, s}, x.options());
  for (int64_t li = 0; li < l; ++li) mm_into(y2[li], h[li], w2[li].t());
  Tensor y = at::empty({B, m}, x.options());
  add_into(y.view({B, s, l}), y2.permute({1, 2, 0}), bias.view({s, l}));
  Tensor dy2 = g.view({B, s, l}).permute({2, 0, 1}).contiguous();
  Tensor dw2 = at::empty({l, s, r}, x.options()), dh = at::empty({l, B, r}, x.options());
  for (int64_t li = 0; li < l; ++li) {
    mm_into(dw2[li], dy2[li].t(), h[li]);
    mm_into(dh[li], dy2[li], w2[li]);
  }
  Tensor dw1 = at::empty({k, q, p}, x.options()), dx = at::empty({B, n}, x.options());
  for (int64_t ki = 0; ki < k; ++ki) {
    Tensor xk = x.narrow(1, ki * p, p), dxk = dx.narrow(1, ki * p, p);
    for (int64_t li = 0; li < l; ++li) {
      Tensor d = dh[li].narrow(1, ki * t, t);
      mm_into(dw1[ki].slice(0, li, q, l), d.t(), xk);
      if (li == 0) mm_into(dxk, d, w1[ki].slice(0, li, q, l));
      else dxk.addmm_(d, w1[ki].slice(0, li, q, l));
    }
  }
  return {y, dx, dw1, dw2, g.sum(0)};
}

Grads fold_k(const Tensor& x, const Tensor& w1, const Tensor& w2, const Tensor& bias, const Tensor& g) {
  Tensor w1p = w1.view({k, t, l, p}).transpose(1, 2).contiguous().view({k, q, p});  // rows (li, a)
  Tensor y1 = at::empty({k, B, q}, x.options());
  for (int64_t ki = 0; ki < k; ++ki) mm_into(y1[ki], x.narrow(1, ki * p, p), w1p[ki].t());
  Tensor y2 = at::empty({l, B, s}, x.options());
  for (int64_t li = 0; li < l; ++li)
    for (int64_t ki = 0; ki < k; ++ki) {
      Tensor a = y1[ki].narrow(1, li * t, t), b = w2[li].narrow(1, ki * t, t).t();
      if (ki == 0) mm_into(y2[li], a, b);
      else y2[li].addmm_(a, b);
    }
  Tensor y = at::empty({B, m}, x.options());
  add_into(y.view({B, s, l}), y2.permute({1, 2, 0}), bias.view({s, l}));
  Tensor dy2 = g.view({B, s, l}).permute({2, 0, 1}).contiguous();
  Tensor dw2 = at::empty({l, s, r}, x.options()), dh = at::empty({l, B, r}, x.options());
  for (int64_t li = 0; li < l; ++li) {
    for (int64_t ki = 0; ki < k; ++ki) mm_into(dw2[li].narrow(1, ki * t, t), dy2[li].t(), y1[ki].narrow(1, li * t, t));
    mm_into(dh[li], dy2[li], w2[li]);
  }
  Tensor dw1p = at::empty({k, q, p}, x.options()), dx = at::empty({B, n}, x.options());
  for (int64_t ki = 0; ki < k; ++ki) {
    Tensor xk = x.narrow(1, ki * p, p), dxk = dx.narrow(1, ki * p, p);
    for (int64_t li = 0; li < l; ++li) {
      Tensor d = dh[li].narrow(1, ki * t, t);
      mm_into(dw1p[ki].narrow(0, li * t, t), d.t(), xk);
      if (li == 0) mm_into(dxk, d, w1p[ki].narrow(0, 0, t));
      else dxk.addmm_(d, w1p[ki].narrow(0, li * t, t));
    }
  }
  return {y, dx, dw1p.view({k, l, t, p}).transpose(1, 2).reshape({k, q, p}), dw2, g.sum(0)};
}

Grads copies(const Tensor& x, const Tensor& w1, const Tensor& w2, const Tensor& bias, const Tensor& g) {
  Tensor x1 = x.view({B, k, p}).transpose(0, 1).contiguous();
  Tensor y1 = at::empty({k, B, q}, x.options());
  for (int64_t ki = 0; ki < k; ++ki) mm_into(y1[ki], x1[ki], w1[ki].t());
  Tensor x2 = y1.view({k, B, t, l}).permute({3, 1, 0, 2}).contiguous().view({l, B, r});
  Tensor y2 = at::empty({l, B, s}, x.options());
  for (int64_t li = 0; li < l; ++li) mm_into(y2[li], x2[li], w2[li].t());
  Tensor y = at::empty({B, m}, x.options());
  add_into(y.view({B, s, l}), y2.permute({1, 2, 0}), bias.view({s, l}));
  Tensor dy2 = g.view({B, s, l}).permute({2, 0, 1}).contiguous();
  Tensor dw2 = at::empty({l, s, r}, x.options()), dx2 = at::empty({l, B, r}, x.options());
  for (int64_t li = 0; li < l; ++li) {
    mm_into(dw2[li], dy2[li].t(), x2[li]);
    mm_into(dx2[li], dy2[li], w2[li]);
  }
  Tensor dy1 = dx2.view({l, B, k, t}).permute({2, 1, 3, 0}).contiguous().view({k, B, q});
  Tensor dw1 = at::empty({k, q, p}, x.options()), dx1 = at::empty({k, B, p}, x.options());
  for (int64_t ki = 0; ki < k; ++ki) {
    mm_into(dw1[ki], dy1[ki].t(), x1[ki]);
    mm_into(dx1[ki], dy1[ki], w1[ki]);
  }
  return {y, dx1.transpose(0, 1).reshape({B, n}), dw1, dw2, g.sum(0)};
}
}  // namespace

int main() {
  at::set_num_threads(1);
  for (auto dt : {at::kFloat, at::kBFloat16}) {
    const char* name = dt == at::kFloat ? "fp32" : "bf16";
    Tensor x = at::randn({B, n}).to(dt), w1 = (at::randn({k, q, p}) / 16).to(dt), w2 = (at::randn({l, s, r}) / 16).to(dt);
    Tensor bias = at::randn({m}).to(dt), g = at::randn({B, m}).to(dt), W = (at::randn({m, n}) / 32).to(dt);
    Tensor xr = x.clone().requires_grad_(), w1r = w1.clone().requires_grad_(), w2r = w2.clone().requires_grad_(),
           br = bias.clone().requires_grad_();
    Tensor yr = lmforge::monarch_linear(xr, w1r, w2r, br);
    auto gr = torch::autograd::grad({yr}, {xr, w1r, w2r, br}, {g});
    Grads want{yr, gr[0], gr[1], gr[2], gr[3]};
    struct V { const char* name; Grads (*fn)(const Tensor&, const Tensor&, const Tensor&, const Tensor&, const Tensor&); };
    for (V v : {V{"fold_h", fold_h}, V{"fold_k", fold_k}, V{"copies", copies}}) {
      Grads got = v.fn(x, w1, w2, bias, g);
      double err = 0;
      for (size_t i = 0; i < got.size(); ++i) {
        Tensor a = got[i].to(at::kDouble), b = want[i].to(at::kDouble);
        err = std::max(err, ((a - b).abs().max() / b.abs().max()).item<double>());
      }
      std::printf("%s %-7s max relative difference to the op %.1e\n", name, v.name, err);
    }
    std::printf("%s forward+backward, CPU ms (best of 5):\n", name);
    std::printf("  dense (at::linear + 2 mm + sum) %7.1f\n", best_cpu_ms([&] {
      Tensor y = at::linear(x, W, bias), dx = at::mm(g, W), dW = at::mm(g.t(), x), db = g.sum(0);
    }));
    std::printf("  op (ops/monarch)                %7.1f\n", best_cpu_ms([&] {
      Tensor xx = x.detach().requires_grad_();
      torch::autograd::grad({lmforge::monarch_linear(xx, w1r, w2r, br)}, {xx, w1r, w2r, br}, {g});
    }));
    std::printf("  fold_h                          %7.1f\n", best_cpu_ms([&] { fold_h(x, w1, w2, bias, g); }));
    std::printf("  fold_k                          %7.1f\n", best_cpu_ms([&] { fold_k(x, w1, w2, bias, g); }));
    std::printf("  copies                          %7.1f\n", best_cpu_ms([&] { copies(x, w1, w2, bias, g); }));
  }
}
