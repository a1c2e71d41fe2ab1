// Exact vs approximate kNN-LM search on real queries (`lmforge datastore recall`): the context
// vectors of a text (eval-lm's windows) searched in an exact datastore and in an IVF-PQ one over
// the same corpus and model, for several nprobe values. Reports, per nprobe,
//   recall@k    mean |approx top-k ∩ exact top-k| / k (entry ids)
//   1-recall@k  share of queries whose exact nearest entry is in the approximate top-k
//   queries/s   of each search (FAISS search plus the distance recomputation, if on)
// The paper's IVF-PQ setting is nprobe 32; the spec's oracle: recall >= 0.9 there on a sample.
#pragma once
#include <vector>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

namespace lmforge::retrieval {

class KnnLm;

// queries (Q, dim); approx is re-searched after set_nprobe for each value.
nlohmann::json index_recall(const KnnLm& exact, KnnLm& approx, const at::Tensor& queries,
                            const std::vector<int64_t>& nprobes);

}  // namespace lmforge::retrieval
