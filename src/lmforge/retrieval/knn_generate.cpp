#include "lmforge/retrieval/knn_generate.h"

#include "lmforge/core/error.h"
#include "lmforge/retrieval/knn_distribution.h"
#include "lmforge/retrieval/knn_lm.h"

namespace lmforge::retrieval {

nlohmann::json KnnGenerationTrace::to_json() const {
  auto mean = [](const std::vector<double>& v) {
    double s = 0;
    for (double x : v) s += x;
    return v.empty() ? 0.0 : s / static_cast<double>(v.size());
  };
  return {{"steps", entropy_knn.size()},
          {"entropy_knn", entropy_knn},
          {"entropy_lm", entropy_lm},
          {"entropy_mix", entropy_mix},
          {"nearest_distance", nearest_distance},
          {"mean", {{"entropy_knn", mean(entropy_knn)}, {"entropy_lm", mean(entropy_lm)},
                    {"entropy_mix", mean(entropy_mix)}, {"nearest_distance", mean(nearest_distance)}}}};
}

LogitsHook knn_logits_hook(
    std::shared_ptr<const KnnLm> knn, double lambda, double temperature, std::shared_ptr<KnnGenerationTrace> trace) {
  LMF_REQUIRE(lambda >= 0 && lambda <= 1, UserError, "--knn-lambda must be in [0, 1], got ", lambda);
  LMF_REQUIRE(temperature > 0, UserError, "--knn-temperature must be > 0, got ", temperature);
  return [knn, lambda, temperature, trace](const at::Tensor& hidden, const at::Tensor& logits) {
    at::Tensor lp_lm = logits.to(at::kCPU).to(at::kFloat).log_softmax(-1);
    Neighbours nb = knn->search(hidden.reshape({lp_lm.size(0), -1}));
    at::Tensor lp_knn = knn->log_probs(nb, lp_lm.size(1), temperature);
    at::Tensor mix = interpolate_log_probs(lp_lm, lp_knn, lambda);
    if (trace) {
      trace->entropy_lm.push_back(entropy_of_log_probs(lp_lm).mean().item<double>());
      trace->entropy_knn.push_back(entropy_of_log_probs(lp_knn).mean().item<double>());
      trace->entropy_mix.push_back(entropy_of_log_probs(mix).mean().item<double>());
      trace->nearest_distance.push_back(nb.dists.select(1, 0).mean().item<double>());
    }
    return mix.to(logits.device());
  };
}

}  // namespace lmforge::retrieval
