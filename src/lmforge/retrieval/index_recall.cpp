#include "lmforge/retrieval/index_recall.h"

#include <chrono>

#include "lmforge/retrieval/knn_lm.h"

namespace lmforge::retrieval {

namespace {

template <class F>
double timed(F&& f) {
  const auto t0 = std::chrono::steady_clock::now();
  f();
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

nlohmann::json index_recall(const KnnLm& exact, KnnLm& approx, const at::Tensor& queries,
                            const std::vector<int64_t>& nprobes) {
  Neighbours ex;
  const double ex_s = timed([&] { ex = exact.search(queries); });
  const int64_t q = queries.size(0);
  nlohmann::json rows = nlohmann::json::array();
  for (int64_t np : nprobes) {
    approx.set_nprobe(np);
    Neighbours ap;
    const double ap_s = timed([&] { ap = approx.search(queries); });
    const int64_t k = std::min(ex.ids.size(1), ap.ids.size(1));
    // Which exact ids the approximate list holds: binary search in each sorted approximate row.
    at::Tensor sorted = std::get<0>(ap.ids.narrow(1, 0, k).sort(1));
    at::Tensor want = ex.ids.narrow(1, 0, k).contiguous();
    at::Tensor pos = at::searchsorted(sorted, want).clamp_max(k - 1);
    at::Tensor hit = sorted.gather(1, pos) == want;
    rows.push_back({{"nprobe", np},
                    {"recall_at_k", hit.to(at::kDouble).mean().item<double>()},
                    {"one_recall_at_k", hit.select(1, 0).to(at::kDouble).mean().item<double>()},
                    {"queries_per_s", q / ap_s}});
  }
  return {{"queries", q}, {"k", ex.ids.size(1)}, {"exact_queries_per_s", q / ex_s}, {"approx", rows},
          {"recompute", approx.recomputes()}};
}

}  // namespace lmforge::retrieval
