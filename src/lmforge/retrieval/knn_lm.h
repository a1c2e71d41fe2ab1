// kNN-LM retrieval (Khandelwal et al., ICLR'20): a datastore (retrieval/datastore.h) with one
// FAISS index per shard (retrieval/faiss_index.h). search() asks every shard for its k nearest
// keys, optionally recomputes their squared L2 distances from the stored keys (the paper does,
// since IVF-PQ's distances are those of the compressed codes), and keeps the k nearest overall.
// log_probs() turns them into log p_kNN (retrieval/knn_distribution.h).
#pragma once
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "lmforge/retrieval/datastore.h"
#include "lmforge/retrieval/faiss_index.h"

namespace lmforge::retrieval {

struct KnnOptions {
  int64_t k = 1024;
  int64_t nprobe = 0;            // ivfpq cells per query; 0: the one stored at build time
  std::string recompute = "auto";  // on | off | auto (on for approximate indexes)
};

struct Neighbours {
  at::Tensor dists;  // (Q, k) fp32 squared L2, ascending; +inf where fewer than k were found
  at::Tensor ids;    // (Q, k) int64 datastore-wide entry ids, -1 where none
  at::Tensor vals;   // (Q, k) int64 next tokens, -1 where none
};

class KnnLm {
 public:
  // Opens the datastore for the model `expect` identifies (refused when built by another) and
  // reads every shard's index.
  KnnLm(const std::string& dir, const ModelIdentity& expect, const KnnOptions& o);

  Neighbours search(const at::Tensor& queries) const;  // (Q, dim) any float dtype, any device
  at::Tensor log_probs(const Neighbours& n, int64_t vocab, double temperature) const;

  const Datastore& datastore() const { return ds_; }
  void set_nprobe(int64_t nprobe);  // every shard (ivfpq)
  bool recomputes() const { return recompute_; }
  nlohmann::json describe() const;

 private:
  Datastore ds_;
  KnnOptions o_;
  bool recompute_ = false;
  std::vector<FaissIndex> idx_;
  std::vector<int64_t> offset_;  // first global id of each shard
};

}  // namespace lmforge::retrieval
