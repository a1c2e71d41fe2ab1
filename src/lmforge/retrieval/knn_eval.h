// eval-lm --knn: perplexity of p = lambda p_kNN + (1 - lambda) p_LM (Khandelwal et al., ICLR'20)
// with eval-lm's sliding-window protocol (eval/perplexity.h forward_windows), for a grid of
// lambdas and temperatures from ONE search per target (the search is the cost; mixing is cheap),
// with the base model's perplexity from the same forward passes.
//
// Per-token analysis of "kNN-LM Does Not Improve Open-ended Text Generation" (Wang et al., 2023):
// for each setting the share of targets whose NLL gets worse with retrieval and the share that
// gets better, the mean change of each group (the paper: most tokens get slightly worse, a minority
// gains a lot), a histogram of the change, and the mean entropy of p_kNN and of p_LM.
#pragma once
#include <vector>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "lmforge/eval/perplexity.h"

namespace lmforge {
class LanguageModel;
}

namespace lmforge::retrieval {

class KnnLm;

struct KnnSetting {
  double lambda = 0, temperature = 1;
  double nll = 0;                            // total, nats
  int64_t worse = 0, better = 0;             // targets whose NLL rose / fell
  double loss_when_worse = 0, gain_when_better = 0;  // totals of the rise / fall, nats
  std::vector<int64_t> histogram;            // of the NLL change, see kHistogramEdges
};

struct KnnEvalResult {
  int64_t tokens = 0;
  double nll_base = 0;
  double entropy_lm = 0;                  // total over targets, nats
  std::vector<double> entropy_knn;        // per temperature, total over targets
  std::vector<KnnSetting> settings;       // lambdas x temperatures, lambda-major
  double search_seconds = 0;
};

// Bin edges (nats) of the per-target NLL change histogram: (-inf, e0), [e0, e1), ..., [e_last, inf).
const std::vector<double>& histogram_edges();

KnnEvalResult score_stream_knn(LanguageModel& model, const KnnLm& knn, const at::Tensor& stream,
                               const PerplexityOptions& o, const std::vector<double>& lambdas,
                               const std::vector<double>& temperatures);

// {"tokens", "base": {nll, token_ppl, word_ppl}, "knn": [{lambda, temperature, nll, token_ppl,
// word_ppl, worse_share, better_share, mean_loss_when_worse, mean_gain_when_better}], "entropy",
// "search_seconds"}; with `analysis`, the histograms too.
nlohmann::json knn_report(const KnnEvalResult& r, int64_t words, bool analysis);

}  // namespace lmforge::retrieval
