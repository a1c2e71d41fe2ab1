// The kNN-LM index over a datastore shard, on FAISS (Johnson, Douze, Jegou 2019; Debian's
// libfaiss-dev, linked statically when CMake finds it, see CMakeLists.txt):
//   exact  faiss::IndexFlatL2, brute-force squared L2 (the oracle)
//   ivfpq  faiss::IndexIVFPQ: a coarse k-means quantizer of nlist cells (nprobe of them visited per
//          query) and product-quantised residuals, pq_m sub-quantizers of pq_bits each; trained
//          on a random sample of the keys (the kNN-LM paper: 4096 cells, 64 x 8 bits, 1 M keys,
//          nprobe 32)
// Without FAISS every function here throws a UserError saying that this build has none;
// faiss_available() lets callers and tests ask first.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <utility>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

namespace faiss {
struct Index;
}

namespace lmforge::retrieval {

bool faiss_available();
// The message the kNN commands give when faiss_available() is false.
std::string no_faiss_message();

struct IndexSpec {
  std::string type = "exact";  // exact | ivfpq
  int64_t nlist = 0;           // ivfpq cells; 0: a power of two near 4 sqrt(n), at most 4096
  int64_t pq_m = 0;            // sub-quantizers; 0: the largest divisor of dim up to dim / 8
  int64_t pq_bits = 0;         // bits per sub-code; 0: 8, fewer when the sample is tiny
  int64_t train_size = 1000000;
  int64_t nprobe = 32;         // default cells visited at query time (stored in meta.json)
  uint64_t seed = 1;
};

class FaissIndex {
 public:
  // A trained, empty index of spec.type for n_total keys of `dim`; `sample` (m, dim) fp32 are the
  // training keys (ignored by exact). The parameters it chose are in describe().
  static FaissIndex create(const IndexSpec& spec, int64_t dim, int64_t n_total, const at::Tensor& sample);
  // Reads an index file; an unreadable or foreign file (or one whose dimension or size differ from
  // what the datastore expects) is an InputError naming it.
  static FaissIndex read(const std::string& path, int64_t dim, int64_t count);

  FaissIndex clone() const;  // the same trained state, for the next shard
  void add(const at::Tensor& keys);  // (n, dim), converted to contiguous fp32
  // Written through lmforge's atomic protocol (core/file_io.h); returns the file's CRC-32C.
  std::string write(const std::string& path) const;
  void set_nprobe(int64_t nprobe);  // ivfpq only; ignored by exact
  bool exact() const;
  int64_t size() const;
  // queries (Q, dim) -> distances (Q, k) fp32 squared L2, ascending, ids (Q, k) int64 (-1: none).
  std::pair<at::Tensor, at::Tensor> search(const at::Tensor& queries, int64_t k) const;
  nlohmann::json describe() const;

 private:
  std::shared_ptr<faiss::Index> idx_;
  nlohmann::json params_;
};

}  // namespace lmforge::retrieval
