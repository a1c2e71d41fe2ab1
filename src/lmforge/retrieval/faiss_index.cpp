#include "lmforge/retrieval/faiss_index.h"

#include <algorithm>
#include <cmath>
#include <fstream>

#include "lmforge/core/crc32c.h"
#include "lmforge/core/error.h"
#include "lmforge/core/file_io.h"

#ifdef LMFORGE_HAVE_FAISS
#include <faiss/IndexFlat.h>
#include <faiss/IndexIVFPQ.h>
#include <faiss/clone_index.h>
#include <faiss/impl/FaissException.h>
#include <faiss/impl/io.h>
#include <faiss/index_io.h>
#endif

namespace lmforge::retrieval {

std::string no_faiss_message() {
  return "this lmforge was built without FAISS, which the kNN-LM datastore and index need: install Debian's "
         "libfaiss-dev (scripts/setup.sh does) and rebuild (scripts/build.sh)";
}

#ifndef LMFORGE_HAVE_FAISS

bool faiss_available() { return false; }
FaissIndex FaissIndex::create(const IndexSpec&, int64_t, int64_t, const at::Tensor&) { throw UserError(no_faiss_message()); }
FaissIndex FaissIndex::read(const std::string&, int64_t, int64_t) { throw UserError(no_faiss_message()); }
FaissIndex FaissIndex::clone() const { throw UserError(no_faiss_message()); }
void FaissIndex::add(const at::Tensor&) { throw UserError(no_faiss_message()); }
std::string FaissIndex::write(const std::string&) const { throw UserError(no_faiss_message()); }
void FaissIndex::set_nprobe(int64_t) {}
bool FaissIndex::exact() const { return true; }
int64_t FaissIndex::size() const { return 0; }
std::pair<at::Tensor, at::Tensor> FaissIndex::search(const at::Tensor&, int64_t) const {
  throw UserError(no_faiss_message());
}
nlohmann::json FaissIndex::describe() const { return params_; }

#else

bool faiss_available() { return true; }

namespace {

at::Tensor as_f32(const at::Tensor& x, int64_t dim, const char* what) {
  LMF_REQUIRE(x.dim() == 2 && x.size(1) == dim, UserError, "kNN index: ", what, " must be (n, ", dim, ")");
  return x.to(at::kCPU).to(at::kFloat).contiguous();
}

// faiss writes through this into lmforge's atomic file (temporary name, fsync, rename).
struct AtomicWriter : faiss::IOWriter {
  explicit AtomicWriter(AtomicFile& f) : file(f) {}
  size_t operator()(const void* ptr, size_t size, size_t nitems) override {
    file.write(ptr, size * nitems);
    crc = crc32c(ptr, size * nitems, crc);
    return nitems;
  }
  AtomicFile& file;
  uint32_t crc = 0;
};

int64_t auto_nlist(int64_t n, int64_t train) {
  // ~4 sqrt(n) cells (FAISS's guideline), a power of two, each cell with >= 39 training points.
  int64_t nl = 1;
  while (nl * 2 <= 4 * std::sqrt(static_cast<double>(n)) && nl * 2 <= 4096 && nl * 2 * 39 <= train) nl *= 2;
  return nl;
}

int64_t auto_pq_m(int64_t dim) {
  for (int64_t m = std::max<int64_t>(1, dim / 8); m > 1; --m)
    if (dim % m == 0) return m;
  return 1;
}

}  // namespace

FaissIndex FaissIndex::create(const IndexSpec& spec, int64_t dim, int64_t n_total, const at::Tensor& sample) {
  FaissIndex r;
  if (spec.type == "exact") {
    r.idx_ = std::make_shared<faiss::IndexFlatL2>(dim);
    r.params_ = {{"type", "exact"}, {"faiss", "IndexFlatL2"}};
    return r;
  }
  LMF_REQUIRE(spec.type == "ivfpq", UserError, "--index '", spec.type, "': expected exact or ivfpq");
  at::Tensor x = as_f32(sample, dim, "the training sample");
  const int64_t m = x.size(0);
  LMF_REQUIRE(m >= 2, UserError, "ivfpq needs at least 2 training keys, the datastore has ", m);
  const int64_t nlist = spec.nlist > 0 ? spec.nlist : auto_nlist(n_total, m);
  const int64_t pq_m = spec.pq_m > 0 ? spec.pq_m : auto_pq_m(dim);
  // PQ's k-means needs 2^bits <= training points; below 256 points the codebooks shrink.
  const int64_t bits = spec.pq_bits > 0 ? spec.pq_bits
                                        : std::clamp<int64_t>(static_cast<int64_t>(std::floor(std::log2(m))), 1, 8);
  LMF_REQUIRE(nlist <= m, UserError, "--nlist ", nlist, " exceeds the ", m, " training keys");
  LMF_REQUIRE(dim % pq_m == 0, UserError, "--pq-m ", pq_m, " must divide the key dimension ", dim);
  LMF_REQUIRE(bits >= 1 && bits <= 16 && (int64_t{1} << bits) <= m, UserError, "--pq-bits ", bits,
              ": need 1..16 and 2^bits <= the ", m, " training keys");
  try {
    auto* quantizer = new faiss::IndexFlatL2(dim);
    auto ivf = std::make_shared<faiss::IndexIVFPQ>(quantizer, dim, nlist, pq_m, bits);
    ivf->own_fields = true;
    ivf->cp.seed = static_cast<int>(spec.seed);
    ivf->pq.cp.seed = static_cast<int>(spec.seed);
    ivf->verbose = false;
    ivf->train(m, x.data_ptr<float>());
    ivf->nprobe = static_cast<size_t>(std::max<int64_t>(1, spec.nprobe));
    r.idx_ = ivf;
  } catch (const faiss::FaissException& e) {
    throw UserError(str("training the ivfpq index failed: ", e.what()));
  }
  r.params_ = {{"type", "ivfpq"}, {"faiss", "IndexIVFPQ"}, {"nlist", nlist}, {"pq_m", pq_m},
               {"pq_bits", bits}, {"train_size", m}, {"nprobe", spec.nprobe}};
  return r;
}

FaissIndex FaissIndex::read(const std::string& path, int64_t dim, int64_t count) {
  FaissIndex r;
  try {
    r.idx_.reset(faiss::read_index(path.c_str()));
  } catch (const std::exception& e) {  // faiss::FaissException, or bad_alloc on a torn size field
    std::string why = e.what();
    if (why.size() > 300) why = why.substr(0, 300) + "...";
    throw InputError(str("file '", path, "': not a readable FAISS index (", why, ")"));
  }
  LMF_REQUIRE(r.idx_->d == dim && r.idx_->ntotal == count, InputError, "file '", path, "': a FAISS index of ",
              r.idx_->ntotal, " vectors of dimension ", r.idx_->d, ", but the datastore shard has ", count, " keys of ",
              dim, " (a file of another datastore?)");
  if (auto* ivf = dynamic_cast<faiss::IndexIVFPQ*>(r.idx_.get())) {
    r.params_ = {{"type", "ivfpq"}, {"nlist", ivf->nlist}, {"pq_m", ivf->pq.M}, {"pq_bits", ivf->pq.nbits},
                 {"nprobe", ivf->nprobe}};
  } else {
    LMF_REQUIRE(dynamic_cast<faiss::IndexFlatL2*>(r.idx_.get()), InputError, "file '", path,
                "': a FAISS index of a kind lmforge does not build (expected IndexFlatL2 or IndexIVFPQ)");
    r.params_ = {{"type", "exact"}};
  }
  return r;
}

FaissIndex FaissIndex::clone() const {
  FaissIndex r;
  r.idx_.reset(faiss::clone_index(idx_.get()));
  r.params_ = params_;
  return r;
}

void FaissIndex::add(const at::Tensor& keys) {
  at::Tensor x = as_f32(keys, idx_->d, "keys");
  idx_->add(x.size(0), x.data_ptr<float>());
}

std::string FaissIndex::write(const std::string& path) const {
  AtomicFile f(path);
  AtomicWriter w(f);
  w.name = path;
  try {
    faiss::write_index(idx_.get(), &w);
  } catch (const faiss::FaissException& e) {
    throw InputError(str("file '", path, "': writing the FAISS index failed (", e.what(), ")"));
  }
  f.commit();
  return crc32c_hex(w.crc);
}

void FaissIndex::set_nprobe(int64_t nprobe) {
  if (auto* ivf = dynamic_cast<faiss::IndexIVF*>(idx_.get())) ivf->nprobe = static_cast<size_t>(std::max<int64_t>(1, nprobe));
}

bool FaissIndex::exact() const { return dynamic_cast<faiss::IndexFlat*>(idx_.get()) != nullptr; }

int64_t FaissIndex::size() const { return idx_->ntotal; }

std::pair<at::Tensor, at::Tensor> FaissIndex::search(const at::Tensor& queries, int64_t k) const {
  at::Tensor q = as_f32(queries, idx_->d, "queries");
  at::Tensor d = at::empty({q.size(0), k}, at::kFloat);
  at::Tensor ids = at::empty({q.size(0), k}, at::kLong);
  static_assert(sizeof(faiss::Index::idx_t) == sizeof(int64_t), "faiss ids are 64-bit");
  idx_->search(q.size(0), q.data_ptr<float>(), k, d.data_ptr<float>(),
               reinterpret_cast<faiss::Index::idx_t*>(ids.data_ptr<int64_t>()));
  return {d, ids};
}

nlohmann::json FaissIndex::describe() const { return params_; }

#endif

}  // namespace lmforge::retrieval
