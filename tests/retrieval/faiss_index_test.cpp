// The FAISS indexes of kNN-LM (retrieval/faiss_index.h): the exact index returns a stored key at
// distance 0 with its id; IVF-PQ finds the true nearest neighbour among its top 10 for >= 90% of
// queries at nprobe 32 (the kNN-LM setting) on clustered keys; a file round-trips; a corrupt or
// foreign file is an InputError naming it. Skipped when this build has no FAISS.
#include <gtest/gtest.h>

#include "../test_util.h"
#include "lmforge/core/error.h"
#include "lmforge/retrieval/faiss_index.h"

namespace lr = lmforge::retrieval;
using lmforge::test::TempDir;

namespace {

#define SKIP_WITHOUT_FAISS() \
  if (!lr::faiss_available()) GTEST_SKIP() << lr::no_faiss_message()

// n keys around 64 centres (hidden states cluster by context; uniform noise is PQ's worst case).
at::Tensor clustered_keys(int64_t n, int64_t d) {
  at::manual_seed(3);
  at::Tensor centres = at::randn({64, d}) * 4;
  return centres.index_select(0, at::randint(0, 64, {n}, at::kLong)) + at::randn({n, d});
}

}  // namespace

TEST(FaissIndex, ExactReturnsStoredKeyAtDistanceZero) {
  SKIP_WITHOUT_FAISS();
  at::Tensor keys = clustered_keys(600, 16);
  lr::FaissIndex idx = lr::FaissIndex::create({}, 16, 600, at::Tensor());
  idx.add(keys);
  EXPECT_TRUE(idx.exact());
  // Several queries at once (FAISS's BLAS path, ||q||^2 + ||x||^2 - 2 q.x) and one (its direct path).
  for (int64_t nq : {64, 1}) {
    at::Tensor ids = at::arange(0, 600, 600 / nq, at::kLong).narrow(0, 0, nq);
    auto [d, found] = idx.search(keys.index_select(0, ids), 5);
    EXPECT_TRUE(at::equal(found.select(1, 0), ids)) << nq << " queries";
    EXPECT_LT(d.select(1, 0).abs().max().item<double>(), 1e-3) << nq << " queries";
    EXPECT_TRUE((d.select(1, 1) >= d.select(1, 0)).all().item<bool>());
  }
}

TEST(FaissIndex, IvfPqRecallAtNprobe32) {
  SKIP_WITHOUT_FAISS();
  const int64_t n = 20000, d = 32;
  at::Tensor keys = clustered_keys(n, d);
  lr::FaissIndex exact = lr::FaissIndex::create({}, d, n, at::Tensor());
  exact.add(keys);
  lr::IndexSpec spec;
  spec.type = "ivfpq";
  spec.train_size = 10000;
  lr::FaissIndex ivf = lr::FaissIndex::create(spec, d, n, keys.narrow(0, 0, spec.train_size));
  ivf.add(keys);
  EXPECT_FALSE(ivf.exact());
  EXPECT_EQ(ivf.describe()["pq_m"].get<int64_t>(), 4);  // d / 8
  at::Tensor queries = keys.narrow(0, 0, 500) + 0.3 * at::randn({500, d});
  auto [de, ie] = exact.search(queries, 1);
  auto [di, ii] = ivf.search(queries, 10);
  const double recall = (ii == ie).any(1).to(at::kDouble).mean().item<double>();
  EXPECT_GE(recall, 0.9) << "1-recall@10 of IVF-PQ (nlist " << ivf.describe()["nlist"] << ")";
}

TEST(FaissIndex, RoundTripAndCorruptFiles) {
  SKIP_WITHOUT_FAISS();
  TempDir t("faiss");
  at::Tensor keys = clustered_keys(300, 8);
  lr::IndexSpec spec;
  spec.type = "ivfpq";
  lr::FaissIndex ivf = lr::FaissIndex::create(spec, 8, 300, keys);
  ivf.add(keys);
  const std::string path = t / "index-000.faiss";
  EXPECT_EQ(ivf.write(path).size(), 8u);  // its CRC-32C, 8 hex digits
  lr::FaissIndex back = lr::FaissIndex::read(path, 8, 300);
  auto [d1, i1] = ivf.search(keys.narrow(0, 0, 20), 4);
  auto [d2, i2] = back.search(keys.narrow(0, 0, 20), 4);
  EXPECT_TRUE(at::equal(i1, i2));
  // A file of another shape, garbage, and a torn copy: InputError naming the file, no crash.
  std::string msg = lmforge::test::error_of<lmforge::InputError>([&] { lr::FaissIndex::read(path, 16, 300); });
  EXPECT_NE(msg.find("index-000.faiss"), std::string::npos) << msg;
  EXPECT_NE(msg.find("dimension 8"), std::string::npos) << msg;
  const std::string bytes = lmforge::test::read_text(path);
  lmforge::test::write_text(t / "garbage.faiss", std::string(4096, '\x7f'));
  lmforge::test::write_text(t / "torn.faiss", bytes.substr(0, bytes.size() / 2));
  for (const char* name : {"garbage.faiss", "torn.faiss", "absent.faiss"}) {
    msg = lmforge::test::error_of<lmforge::InputError>([&] { lr::FaissIndex::read(t / name, 8, 300); });
    EXPECT_NE(msg.find(name), std::string::npos) << name << ": " << msg;
  }
}
