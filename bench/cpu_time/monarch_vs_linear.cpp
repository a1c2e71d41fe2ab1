// Monarch linear (4 blocks, 4096 x 1024 -> 1024, bias) vs at::linear, forward and forward+backward,
// fp32 and bf16, threads 1: best of 4 wall ms AND process CPU ms (getrusage, all threads). On the
// shared 2-core machine the wall time mostly measures waiting for a core; CPU time does not.
// Used for docs/benchmarks/monarch_sparse.md. Not part of the CMake build; build against the
// engine's objects (any build dir, e.g. main's to time the previous code):
//   B=build; g++ -O3 -fopenmp -std=c++17 -Isrc -isystem /usr/include/torch/csrc/api/include \
//     bench/cpu_time/monarch_vs_linear.cpp $(find $B/CMakeFiles/lmforge_obj.dir -name '*.o' | grep -v cli/main.cpp.o) \
//     -o /tmp/monarch_cpu -ltorch -ltorch_cpu -lc10 -lprotobuf -lglog -lgflags -ltomlplusplus -lpthread \
//     $(grep -A8 "build lmforge:" $B/build.ninja | grep LINK_LIBRARIES | sed 's/.*libtomlplusplus.so//')
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <sys/resource.h>
#include <chrono>
#include <cstdio>
#include "lmforge/ops/monarch/op.h"
using namespace std::chrono;
double cpu_ms() { rusage u; getrusage(RUSAGE_SELF, &u); return (u.ru_utime.tv_sec + u.ru_stime.tv_sec) * 1e3 + (u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e3; }
template <class F> std::pair<double,double> tm(F f, int n = 4) { f(); double best = 1e9, bc = 1e9; for (int i = 0; i < n; ++i) { double c0 = cpu_ms(); auto s = steady_clock::now(); f(); best = std::min(best, duration<double, std::milli>(steady_clock::now() - s).count()); bc = std::min(bc, cpu_ms() - c0); } return {best, bc}; }
int main() {
  at::set_num_threads(1);
  for (auto dt : {at::kFloat, at::kBFloat16}) {
    at::Tensor x = at::randn({4096, 1024}).to(dt).requires_grad_(), W = at::randn({1024, 1024}).to(dt).requires_grad_(), b = at::randn({1024}).to(dt).requires_grad_();
    at::Tensor w1 = (at::randn({4, 256, 256})/16).to(dt).requires_grad_(), w2 = (at::randn({4, 256, 256})/16).to(dt).requires_grad_();
    at::Tensor g = at::randn({4096, 1024}).to(dt);
    printf("%s  (wall ms, cpu ms)\n", dt == at::kFloat ? "fp32" : "bf16");
    auto p = [](const char* n, std::pair<double,double> r) { printf(" %-28s %8.1f %8.1f\n", n, r.first, r.second); };
    { at::NoGradGuard ng;
      p("linear fwd", tm([&] { at::linear(x, W, b); }));
      p("monarch fwd", tm([&] { lmforge::monarch_linear(x, w1, w2, b); })); }
    p("linear f+b", tm([&] { at::linear(x, W, b).backward(g); }));
    p("monarch f+b", tm([&] { lmforge::monarch_linear(x, w1, w2, b).backward(g); }));
  }
}
