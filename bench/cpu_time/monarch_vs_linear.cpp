// Monarch linear (4 blocks, 4096 rows, bias) vs at::linear, forward and forward+backward, fp32 and
// bf16, threads 1, for d 1024 -> 1024, 1024 -> 4096, 4096 -> 1024 and 2048 -> 2048: best of 4 wall ms
// AND process CPU ms (getrusage, all threads). On the shared 2-core machine the wall time mostly
// measures waiting for a core; CPU time does not. Backward = torch::autograd::grad w.r.t. all inputs
// (no .grad accumulation), as the ops harness does. LMFORGE_MONARCH_GENERIC=1 times the op's generic
// path. Used for docs/benchmarks/monarch_sparse.md. Not part of the CMake build; build against the
// engine's objects (any build dir, e.g. main's to time the previous code):
//   B=build; g++ -O3 -fopenmp -std=c++17 -Isrc -isystem /usr/include/torch/csrc/api/include \
//     bench/cpu_time/monarch_vs_linear.cpp $(find $B/CMakeFiles/lmforge_obj.dir -name '*.o' | grep -v cli/main.cpp.o) \
//     -o /tmp/monarch_cpu -ltorch -ltorch_cpu -lc10 -lprotobuf -lglog -lgflags -ltomlplusplus -lpthread \
//     $(grep -A8 "build lmforge:" $B/build.ninja | grep LINK_LIBRARIES | sed 's/.*libtomlplusplus.so//')
// Usage: /tmp/monarch_cpu [shape filter, e.g. d1024_to]
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <sys/resource.h>
#include <torch/csrc/autograd/autograd.h>

#include <chrono>
#include <cstdio>
#include <string>

#include "lmforge/ops/monarch/op.h"
using namespace std::chrono;
double cpu_ms() {
  rusage u;
  getrusage(RUSAGE_SELF, &u);
  return (u.ru_utime.tv_sec + u.ru_stime.tv_sec) * 1e3 + (u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e3;
}
template <class F>
std::pair<double, double> tm(F f, int n = 4) {
  f();
  double best = 1e18, bc = 1e18;
  for (int i = 0; i < n; ++i) {
    double c0 = cpu_ms();
    auto s = steady_clock::now();
    f();
    best = std::min(best, duration<double, std::milli>(steady_clock::now() - s).count());
    bc = std::min(bc, cpu_ms() - c0);
  }
  return {best, bc};
}
int main(int argc, char** argv) {
  at::set_num_threads(1);
  const std::string filter = argc > 1 ? argv[1] : "";
  struct Shape { const char* name; int64_t n, m; };
  std::printf("%-14s %-5s %10s %10s %10s %10s | %10s %10s %10s %10s | %7s %7s\n", "shape", "dtype", "dense f", "(cpu)",
              "monarch f", "(cpu)", "dense f+b", "(cpu)", "mon. f+b", "(cpu)", "x f+b", "x cpu");
  for (Shape sh : {Shape{"d1024", 1024, 1024}, Shape{"d1024_to4096", 1024, 4096}, Shape{"d4096_to1024", 4096, 1024},
                   Shape{"d2048", 2048, 2048}}) {
    if (std::string(sh.name).find(filter) == std::string::npos) continue;
    const int64_t nb = 4, ib = sh.n / nb, ob = sh.m / nb, mid = sh.n <= sh.m ? ib : ob;
    for (auto dt : {at::kFloat, at::kBFloat16}) {
      at::Tensor x = at::randn({4096, sh.n}).to(dt).requires_grad_();
      at::Tensor W = (at::randn({sh.m, sh.n}) / std::sqrt(sh.n)).to(dt).requires_grad_();
      at::Tensor b = at::randn({sh.m}).to(dt).requires_grad_();
      at::Tensor w1 = (at::randn({nb, mid, ib}) / std::sqrt(ib)).to(dt).requires_grad_();
      at::Tensor w2 = (at::randn({nb, ob, mid}) / std::sqrt(mid)).to(dt).requires_grad_();
      at::Tensor g = at::randn({4096, sh.m}).to(dt);
      std::pair<double, double> df, mf;
      {
        at::NoGradGuard ng;
        df = tm([&] { at::linear(x, W, b); });
        mf = tm([&] { lmforge::monarch_linear(x, w1, w2, b); });
      }
      auto dfb = tm([&] { torch::autograd::grad({at::linear(x, W, b)}, {x, W, b}, {g}); });
      auto mfb = tm([&] { torch::autograd::grad({lmforge::monarch_linear(x, w1, w2, b)}, {x, w1, w2, b}, {g}); });
      std::printf("%-14s %-5s %10.1f %10.1f %10.1f %10.1f | %10.1f %10.1f %10.1f %10.1f | %6.2fx %6.2fx\n", sh.name,
                  dt == at::kFloat ? "fp32" : "bf16", df.first, df.second, mf.first, mf.second, dfb.first, dfb.second,
                  mfb.first, mfb.second, dfb.first / mfb.first, dfb.second / mfb.second);
      std::fflush(stdout);
    }
  }
}
