#include "lmforge/retrieval/knn_eval.h"

#include <chrono>
#include <cmath>

#include "lmforge/core/error.h"
#include "lmforge/models/language_model.h"
#include "lmforge/retrieval/knn_distribution.h"
#include "lmforge/retrieval/knn_lm.h"

namespace lmforge::retrieval {

const std::vector<double>& histogram_edges() {
  static const std::vector<double> e = {-4, -2, -1, -0.5, -0.1, -1e-6, 1e-6, 0.1, 0.5, 1, 2};
  return e;
}

namespace {

void count_changes(const at::Tensor& delta, KnnSetting& s) {
  at::Tensor worse = delta > 0, better = delta < 0;
  s.worse += worse.sum().item<int64_t>();
  s.better += better.sum().item<int64_t>();
  s.loss_when_worse += delta.masked_select(worse).sum().item<double>();
  s.gain_when_better -= delta.masked_select(better).sum().item<double>();
  const auto& e = histogram_edges();
  at::Tensor edges = at::tensor(e, at::kDouble);
  at::Tensor bin = at::bucketize(delta.to(at::kDouble), edges, /*out_int32=*/false, /*right=*/true);
  at::Tensor counts = at::bincount(bin, {}, static_cast<int64_t>(e.size()) + 1);
  for (int64_t i = 0; i < counts.numel(); ++i) s.histogram[i] += counts[i].item<int64_t>();
}

}  // namespace

KnnEvalResult score_stream_knn(LanguageModel& model, const KnnLm& knn, const at::Tensor& stream,
                               const PerplexityOptions& o, const std::vector<double>& lambdas,
                               const std::vector<double>& temperatures) {
  LMF_REQUIRE(!lambdas.empty() && !temperatures.empty(), UserError, "--lambda and --temperature need a value");
  KnnEvalResult r;
  r.entropy_knn.assign(temperatures.size(), 0.0);
  for (double l : lambdas)
    for (double t : temperatures) {
      r.settings.push_back({l, t});
      r.settings.back().histogram.assign(histogram_edges().size() + 1, 0);
    }
  const int64_t vocab = model.config().vocab_size;
  forward_windows(model, stream, o, [&](const at::Tensor& h, const at::Tensor& targets) {
    at::Tensor mask = (targets != -100).reshape({-1});
    at::Tensor hs = h.reshape({-1, h.size(-1)}).index({mask});
    at::Tensor tg = targets.reshape({-1}).index({mask}).cpu();
    at::Tensor lp_lm = model.logits(hs).to(at::kFloat).log_softmax(-1).cpu();
    at::Tensor lm_t = lp_lm.gather(1, tg.view({-1, 1})).squeeze(1);
    r.tokens += tg.numel();
    r.nll_base -= lm_t.sum().item<double>();
    r.entropy_lm += entropy_of_log_probs(lp_lm).sum().item<double>();
    const auto t0 = std::chrono::steady_clock::now();
    Neighbours nb = knn.search(hs);
    r.search_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    for (size_t ti = 0; ti < temperatures.size(); ++ti) {
      at::Tensor knn_t = knn_target_log_probs(nb.dists, nb.vals, tg, temperatures[ti]);
      r.entropy_knn[ti] += entropy_of_log_probs(knn.log_probs(nb, vocab, temperatures[ti])).sum().item<double>();
      for (size_t li = 0; li < lambdas.size(); ++li) {
        KnnSetting& s = r.settings[li * temperatures.size() + ti];
        at::Tensor mix_t = interpolate_log_probs(lm_t, knn_t, lambdas[li]);
        s.nll -= mix_t.sum().item<double>();
        count_changes(lm_t - mix_t, s);  // NLL with kNN minus NLL without
      }
    }
  });
  return r;
}

nlohmann::json knn_report(const KnnEvalResult& r, int64_t words, bool analysis) {
  const double n = static_cast<double>(std::max<int64_t>(1, r.tokens));
  auto ppl = [&](double nll) {
    return nlohmann::json{{"nll", nll}, {"token_ppl", std::exp(nll / n)},
                          {"word_ppl", words > 0 ? std::exp(nll / static_cast<double>(words)) : 0.0}};
  };
  nlohmann::json j = {{"tokens", r.tokens}, {"words", words}, {"base", ppl(r.nll_base)}};
  nlohmann::json settings = nlohmann::json::array();
  for (const KnnSetting& s : r.settings) {
    nlohmann::json k = ppl(s.nll);
    k["lambda"] = s.lambda;
    k["temperature"] = s.temperature;
    k["worse_share"] = s.worse / n;
    k["better_share"] = s.better / n;
    k["mean_loss_when_worse"] = s.worse ? s.loss_when_worse / static_cast<double>(s.worse) : 0.0;
    k["mean_gain_when_better"] = s.better ? s.gain_when_better / static_cast<double>(s.better) : 0.0;
    if (analysis) k["nll_change_histogram"] = s.histogram;
    settings.push_back(k);
  }
  j["knn"] = settings;
  nlohmann::json ent = {{"lm_mean", r.entropy_lm / n}, {"knn_mean_by_temperature", nlohmann::json::array()}};
  for (size_t i = 0; i < r.entropy_knn.size(); ++i)
    ent["knn_mean_by_temperature"].push_back(
        {{"temperature", r.settings[i].temperature}, {"mean", r.entropy_knn[i] / n}});
  j["entropy"] = ent;
  j["search_seconds"] = r.search_seconds;
  j["queries_per_s"] = r.search_seconds > 0 ? r.tokens / r.search_seconds : 0.0;
  if (analysis) j["nll_change_histogram_edges"] = histogram_edges();
  return j;
}

}  // namespace lmforge::retrieval
