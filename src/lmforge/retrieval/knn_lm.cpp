#include "lmforge/retrieval/knn_lm.h"

#include <limits>

#include "lmforge/core/crc32c.h"
#include "lmforge/core/error.h"
#include "lmforge/core/file_io.h"
#include "lmforge/retrieval/knn_distribution.h"

namespace lmforge::retrieval {

namespace {

// Index files carry their CRC-32C in meta.json: damage is caught before FAISS parses the file.
void check_crc(const std::string& path, const std::string& expect) {
  if (expect.empty()) return;
  std::string bytes = read_file(path);
  const std::string got = crc32c_hex(crc32c(bytes.data(), bytes.size()));
  LMF_REQUIRE(got == expect, InputError, "file '", path, "': corrupt FAISS index (crc32c ", got,
              ", meta.json says ", expect, "); rebuild the datastore");
}

}  // namespace

KnnLm::KnnLm(const std::string& dir, const ModelIdentity& expect, const KnnOptions& o)
    : ds_(Datastore::open(dir, expect)), o_(o) {
  LMF_REQUIRE(faiss_available(), UserError, no_faiss_message());
  LMF_REQUIRE(o.k >= 1, UserError, "--k must be >= 1, got ", o.k);
  LMF_REQUIRE(o.recompute == "auto" || o.recompute == "on" || o.recompute == "off", UserError,
              "--knn-recompute '", o.recompute, "': expected auto, on or off");
  int64_t off = 0;
  for (size_t s = 0; s < ds_.num_shards(); ++s) {
    const ShardInfo& sh = ds_.meta().shards[s];
    check_crc(ds_.path(sh.index), sh.index_crc32c);
    idx_.push_back(FaissIndex::read(ds_.path(sh.index), ds_.meta().dim, sh.count));
    if (o.nprobe > 0) idx_.back().set_nprobe(o.nprobe);
    offset_.push_back(off);
    off += sh.count;
  }
  recompute_ = o.recompute == "on" || (o.recompute == "auto" && !idx_.front().exact());
}

Neighbours KnnLm::search(const at::Tensor& queries_in) const {
  at::Tensor q = queries_in.detach().to(at::kCPU).to(at::kFloat).contiguous();
  const int64_t nq = q.size(0), k = o_.k;
  const float inf = std::numeric_limits<float>::infinity();
  std::vector<at::Tensor> ds, ids, vals;
  for (size_t s = 0; s < idx_.size(); ++s) {
    auto [d, local] = idx_[s].search(q, std::min<int64_t>(k, idx_[s].size()));
    at::Tensor missing = local < 0;
    at::Tensor safe = local.clamp_min(0);
    at::Tensor v = ds_.shard_vals(s).index_select(0, safe.reshape({-1})).view(safe.sizes()).to(at::kLong);
    if (recompute_) {
      // Exact squared L2 to the stored keys, a few queries at a time ((q, k, dim) stays small).
      const int64_t chunk = std::max<int64_t>(1, (1 << 22) / (safe.size(1) * q.size(1)));
      for (int64_t i = 0; i < nq; i += chunk) {
        const int64_t n = std::min(chunk, nq - i);
        at::Tensor keys = ds_.shard_keys_rows(s, safe.narrow(0, i, n).reshape({-1})).view({n, safe.size(1), -1});
        d.narrow(0, i, n).copy_((keys - q.narrow(0, i, n).unsqueeze(1)).pow(2).sum(-1));
      }
    }
    ds.push_back(d.masked_fill(missing, inf));
    ids.push_back((local + offset_[s]).masked_fill(missing, -1));
    vals.push_back(v.masked_fill(missing, -1));
  }
  Neighbours r;
  at::Tensor d = at::cat(ds, 1), id = at::cat(ids, 1), v = at::cat(vals, 1);
  // The k nearest over all shards, ascending (a single shard is re-sorted too: recomputed
  // distances may reorder IVF-PQ's candidates).
  auto [best, pos] = d.topk(std::min<int64_t>(k, d.size(1)), 1, /*largest=*/false, /*sorted=*/true);
  r.dists = best;
  r.ids = id.gather(1, pos);
  r.vals = v.gather(1, pos);
  return r;
}

void KnnLm::set_nprobe(int64_t nprobe) {
  for (FaissIndex& i : idx_) i.set_nprobe(nprobe);
}

at::Tensor KnnLm::log_probs(const Neighbours& n, int64_t vocab, double temperature) const {
  return knn_log_probs(n.dists, n.vals, vocab, temperature);
}

nlohmann::json KnnLm::describe() const {
  nlohmann::json j = {{"dir", ds_.dir()}, {"entries", ds_.meta().count}, {"shards", ds_.num_shards()},
                      {"key_dtype", ds_.meta().fp16 ? "fp16" : "fp32"}, {"k", o_.k}, {"recompute", recompute_},
                      {"index", idx_.front().describe()}};
  return j;
}

}  // namespace lmforge::retrieval
