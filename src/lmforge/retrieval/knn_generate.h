// kNN-LM during generation: a LogitsHook (eval/generate.h) that replaces each step's logits
// (B, V) by log(lambda p_kNN + (1 - lambda) p_LM), querying the datastore with the rows' final
// hidden states (B, D), the same key eval-lm --knn uses.
//
// It also records what "kNN-LM Does Not Improve Open-ended Text Generation" (Wang et al., 2023)
// plots against the position in the generated text: the entropy of p_kNN (the retrieval
// distribution), of p_LM and of the mixture, and the distance to the nearest key. The paper's
// finding: retrieval entropy grows faster than the LM's along a generation, because the queries
// come from model-written text the datastore never saw (exposure bias).
#pragma once
#include <functional>
#include <memory>
#include <vector>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "lmforge/eval/generate.h"

namespace lmforge::retrieval {

class KnnLm;

struct KnnGenerationTrace {
  // One per step, the mean over the rows decoded at that step.
  std::vector<double> entropy_lm, entropy_knn, entropy_mix, nearest_distance;
  nlohmann::json to_json() const;
};

LogitsHook knn_logits_hook(
    std::shared_ptr<const KnnLm> knn, double lambda, double temperature, std::shared_ptr<KnnGenerationTrace> trace);

}  // namespace lmforge::retrieval
