// Builds and caches the Monarch FFT plans (see plan.h).
#include "lmforge/ops/fftconv/plan.h"

#include <cmath>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

#include "lmforge/core/error.h"

namespace lmforge {
namespace fftk {
namespace {

struct OwnedPlan {
  FftPlan plan;
  std::vector<std::vector<float>> f32;
  std::vector<std::vector<double>> f64;
};

int log2i(int64_t n) {
  int p = 0;
  while ((int64_t{1} << p) < n) ++p;
  return p;
}

// Radices (outermost first) for 2^p: a leaf of 16 or 32 (one or two AVX-512 registers per row),
// then levels of at most max_bits bits, as even as possible, at least 2 bits each.
std::vector<int> split_bits(int p, int max_bits) {
  if (p <= 5) return {p};
  int best_leaf = 4;
  double best_cost = 1e30;
  std::vector<int> best;
  for (int leaf : {4, 5}) {
    int q = p - leaf;
    if (q < 2 && q != 0) continue;
    int nl = q == 0 ? 0 : (q + max_bits - 1) / max_bits;
    std::vector<int> bits;
    for (int i = 0; i < nl; ++i) bits.push_back(q / nl + (i < q % nl ? 1 : 0));
    // cost model: r/4 FMAs per point per level plus ~1.5 for the pass through memory
    double cost = (1 << leaf) / 4.0 + 1.5;
    for (int b : bits) cost += (1 << b) / 4.0 + 1.5;
    if (cost < best_cost) best_cost = cost, best = bits, best_leaf = leaf;
  }
  best.push_back(best_leaf);
  return best;
}

// Radices for the AMX tile stages: the fewest passes (each stage costs its packing and a trip
// through memory, while the tile products are nearly free): a leaf of 32 (or 16), levels of at
// most 16, as even as possible.
std::vector<int> split_bits_tiles(int p) {
  if (p <= 5) return {p};
  std::vector<int> best;
  for (int leaf : {5, 4}) {
    const int q = p - leaf, nl = (q + 3) / 4;
    std::vector<int> bits;
    for (int i = 0; i < nl; ++i) bits.push_back(q / nl + (i < q % nl ? 1 : 0));
    bits.push_back(leaf);
    if (best.empty() || bits.size() < best.size()) best = bits;
  }
  return best;
}

std::unique_ptr<OwnedPlan> build(int64_t n, int64_t max_radix) {
  auto o = std::make_unique<OwnedPlan>();
  FftPlan& p = o->plan;
  p.n = n;
  std::vector<int> bits = max_radix == kTilePlan ? split_bits_tiles(log2i(n)) : split_bits(log2i(n), log2i(max_radix));
  LMF_REQUIRE(static_cast<int>(bits.size()) <= kMaxLevels, std::runtime_error, "fft plan too deep");
  p.levels = static_cast<int>(bits.size());
  p.size[p.levels] = 1;
  for (int i = p.levels - 1; i >= 0; --i) p.radix[i] = int64_t{1} << bits[i], p.size[i] = p.radix[i] * p.size[i + 1];
  const double two_pi = 2.0 * M_PI;
  for (int i = 0; i < p.levels; ++i) {
    const int64_t r = p.radix[i], m = p.size[i + 1];
    std::vector<double> re(r * r), im(r * r);
    for (int64_t c = 0; c < r; ++c)
      for (int64_t a = 0; a < r; ++a) {
        double ang = -two_pi * static_cast<double>((c * a) % r) / r;
        re[c * r + a] = std::cos(ang), im[c * r + a] = std::sin(ang);
      }
    o->f64.push_back(re), o->f64.push_back(im);
    o->f32.emplace_back(re.begin(), re.end()), o->f32.emplace_back(im.begin(), im.end());
    if (i + 1 < p.levels) {
      std::vector<double> tr(r * m), ti(r * m);
      for (int64_t c = 0; c < r; ++c)
        for (int64_t j = 0; j < m; ++j) {
          double ang = -two_pi * static_cast<double>(c * j) / static_cast<double>(p.size[i]);
          tr[c * m + j] = std::cos(ang), ti[c * m + j] = std::sin(ang);
        }
      o->f64.push_back(tr), o->f64.push_back(ti);
      o->f32.emplace_back(tr.begin(), tr.end()), o->f32.emplace_back(ti.begin(), ti.end());
    }
  }
  size_t k = 0;
  for (int i = 0; i < p.levels; ++i) {
    p.fr[i] = o->f32[k].data(), p.fi[i] = o->f32[k + 1].data();
    p.dfr[i] = o->f64[k].data(), p.dfi[i] = o->f64[k + 1].data();
    k += 2;
    if (i + 1 < p.levels) {
      p.twr[i] = o->f32[k].data(), p.twi[i] = o->f32[k + 1].data();
      p.dtwr[i] = o->f64[k].data(), p.dtwi[i] = o->f64[k + 1].data();
      k += 2;
    }
  }
  return o;
}

}  // namespace

const FftPlan& fft_plan(int64_t n, int64_t max_radix) {
  LMF_REQUIRE(n >= 1 && (n & (n - 1)) == 0, std::invalid_argument, "fft size must be a power of two, got ", n);
  if (max_radix <= 0 && max_radix != kTilePlan) {
    const char* env = std::getenv("LMFORGE_FFT_RADIX");
    max_radix = env ? std::atol(env) : 16;
    if (max_radix < 4) max_radix = 16;
  }
  static std::mutex mu;
  static std::map<std::pair<int64_t, int64_t>, std::unique_ptr<OwnedPlan>> cache;
  std::lock_guard<std::mutex> lock(mu);
  auto& slot = cache[{n, max_radix}];
  if (!slot) slot = build(n, max_radix);
  return slot->plan;
}

int64_t fft_layout_position(const FftPlan& p, int64_t f) {
  int64_t pos = 0;
  for (int i = 0; i < p.levels; ++i) {
    const int64_t r = p.radix[i], m = p.size[i + 1];
    pos += (f % r) * m;
    f /= r;
  }
  return pos;
}

}  // namespace fftk
}  // namespace lmforge
