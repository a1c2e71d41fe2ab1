// kNN-LM end to end through the binary on a tiny word-level model the test trains:
// `datastore build` then `eval-lm --knn` and `generate --knn`. Oracles: lambda 0 gives the base
// perplexity exactly (and eval-lm's own); a datastore holding the scored text drives perplexity to
// ~1 as lambda -> 1; the exact index returns a stored key at distance 0 with its token; fp16 keys
// agree with fp32; shards merge to the single-shard result; a datastore of another model or
// tokenizer is refused, a corrupt index file is an error naming it. Skipped without FAISS.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "../test_util.h"
#include "lmforge/core/error.h"
#include "lmforge/retrieval/knn_lm.h"

namespace lr = lmforge::retrieval;
using lmforge::test::run_lmforge;

namespace {

// 60 lines of 8 words drawn from 24 (deterministic): ~540 tokens.
std::string corpus(uint32_t seed) {
  static const char* words[] = {"the", "cat", "dog", "sat", "on", "mat", "a", "ran", "to", "house", "red", "blue",
                                "big", "small", "and", "of", "it", "was", "in", "park", "tree", "bird", "saw", "ate"};
  std::string s;
  uint32_t x = seed;
  for (int l = 0; l < 60; ++l) {
    for (int w = 0; w < 8; ++w) {
      x = x * 1664525u + 1013904223u;
      s += std::string(" ") + words[(x >> 16) % 24];
    }
    s += " . \n";
  }
  return s;
}

class KnnLmCli : public testing::Test {
 protected:
  static void SetUpTestSuite() {
    if (!lr::faiss_available()) return;
    dir_ = new lmforge::test::TempDir("knn");
    lmforge::test::write_text(path("train.txt"), corpus(1));
    lmforge::test::write_text(path("valid.txt"), corpus(2).substr(0, 600));
    lmforge::test::write_text(path("other.txt"), corpus(3) + " zebra giraffe \n");
    train("run", "train.txt", 1234);
    train("run-seed", "train.txt", 99);    // same tokenizer, other weights
    train("run-vocab", "other.txt", 1234); // other tokenizer
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }
  void SetUp() override {
    if (!lr::faiss_available()) GTEST_SKIP() << lr::no_faiss_message();
  }
  static std::string path(const std::string& name) { return (*dir_) / name; }
  static void train(const std::string& out, const std::string& data, int seed) {
    auto r = run_lmforge("train -q -c gpt-tiny --set data.task=lm --set data.train=" + path(data) +
                         " --set data.tokenizer.kind=word --set data.tokenizer.vocab_size=0 --set train.seq_len=16" +
                         " --set train.steps=3 --set run.seed=" + std::to_string(seed) + " --set data.cache_dir=" +
                         path("cache") + " --set run.threads=1 --out " + path(out));
    ASSERT_EQ(r.code, 0) << r.output;
  }
  // Builds a datastore (once per name) over `data` with extra flags.
  static std::string build(const std::string& name, const std::string& data, const std::string& flags = "") {
    const std::string out = path(name);
    if (std::filesystem::exists(out + "/meta.json")) return out;
    auto r = run_lmforge("datastore build --threads 1 --checkpoint " + path("run") + " --data " + path(data) +
                         " --context 16 --stride 8 --out " + out + " " + flags);
    EXPECT_EQ(r.code, 0) << r.output;
    return out;
  }
  static nlohmann::json eval(const std::string& args) {
    auto r = run_lmforge("eval-lm --threads 1 --checkpoint " + path("run") + " --data " + path("valid.txt") +
                         " --context 16 --stride 8 --json " + args);
    EXPECT_EQ(r.code, 0) << r.output;
    return nlohmann::json::parse(r.output.substr(r.output.find('{')));
  }
  static lmforge::test::TempDir* dir_;
};

lmforge::test::TempDir* KnnLmCli::dir_ = nullptr;

void expect_user_error(const lmforge::test::CommandResult& r, const std::string& needle) {
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find(needle), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("Exception raised from"), std::string::npos) << r.output;
}

}  // namespace

TEST_F(KnnLmCli, LambdaZeroIsTheBasePerplexityExactly) {
  const std::string ds = build("ds", "train.txt");
  nlohmann::json plain = eval("");
  nlohmann::json j = eval("--knn " + ds + " --lambda 0,0.25 --temperature 1,10 --k 16");
  const auto& k = j["knn"];
  EXPECT_EQ(k["tokens"].get<int64_t>(), plain["tokens"].get<int64_t>());
  // The same forward passes: lambda 0 leaves every target's log-probability bit for bit.
  for (int t = 0; t < 2; ++t) {
    EXPECT_EQ(k["knn"][t]["lambda"].get<double>(), 0.0);
    EXPECT_EQ(k["knn"][t]["nll"].get<double>(), k["base"]["nll"].get<double>());
    EXPECT_EQ(k["knn"][t]["worse_share"].get<double>(), 0.0);
  }
  // And the base equals plain eval-lm's (log_softmax here, the fused cross-entropy there).
  EXPECT_NEAR(k["base"]["token_ppl"].get<double>(), plain["token_ppl"].get<double>(),
              1e-6 * plain["token_ppl"].get<double>());
  // lambda 0.25 changes something, and the shares are shares.
  EXPECT_NE(k["knn"][2]["nll"].get<double>(), k["base"]["nll"].get<double>());
  const double w = k["knn"][2]["worse_share"].get<double>(), b = k["knn"][2]["better_share"].get<double>();
  EXPECT_GT(w + b, 0.99);
  EXPECT_LE(w + b, 1.0);
}

TEST_F(KnnLmCli, DatastoreOfTheScoredTextDrivesPerplexityToOne) {
  const std::string ds = build("ds-valid", "valid.txt");
  nlohmann::json j = eval("--knn " + ds + " --lambda 0.99 --temperature 0.01 --k 8");
  EXPECT_LT(j["knn"]["knn"][0]["token_ppl"].get<double>(), 1.05) << j.dump(2);
  EXPECT_GT(j["knn"]["base"]["token_ppl"].get<double>(), 5.0);
}

TEST_F(KnnLmCli, ExactIndexReturnsAStoredKeyAtDistanceZeroAndItsToken) {
  const std::string ds = build("ds", "train.txt");
  lr::Datastore raw = lr::Datastore::open_unchecked(ds);
  lr::KnnOptions o;
  o.k = 4;
  o.recompute = "on";
  lr::KnnLm knn(ds, raw.meta().model, o);
  at::Tensor ids = at::tensor(std::vector<int64_t>{0, 7, 100, raw.meta().count - 1});
  lr::Neighbours nb = knn.search(raw.shard_keys_rows(0, ids));
  EXPECT_TRUE(at::equal(nb.ids.select(1, 0), ids));
  EXPECT_EQ(nb.dists.select(1, 0).abs().max().item<double>(), 0.0);
  EXPECT_TRUE(at::equal(nb.vals.select(1, 0), raw.shard_vals(0).index_select(0, ids).to(at::kLong)));
}

TEST_F(KnnLmCli, Fp16KeysAgreeWithFp32AndShardsMergeToOne) {
  const std::string fp32 = build("ds", "train.txt");
  const std::string fp16 = build("ds-fp16", "train.txt", "--fp16");
  const std::string sharded = build("ds-shards", "train.txt", "--shard-size 20K");
  EXPECT_GT(lr::Datastore::open_unchecked(sharded).num_shards(), 2u);
  EXPECT_EQ(lmforge::test::read_text(fp16 + "/keys-000.bin").size() * 2,
            lmforge::test::read_text(fp32 + "/keys-000.bin").size());
  const std::string args = " --lambda 0.25 --temperature 10 --k 16";
  const double a = eval("--knn " + fp32 + args)["knn"]["knn"][0]["nll"].get<double>();
  const double b = eval("--knn " + fp16 + args)["knn"]["knn"][0]["nll"].get<double>();
  const double c = eval("--knn " + sharded + args)["knn"]["knn"][0]["nll"].get<double>();
  EXPECT_NEAR(a, b, 1e-3 * std::abs(a));
  EXPECT_NEAR(a, c, 1e-6 * std::abs(a));
}

TEST_F(KnnLmCli, IvfPqIndexAndGenerateAnalysis) {
  const std::string ds = build("ds-ivf", "train.txt", "--index ivfpq --nprobe 4");
  nlohmann::json j = eval("--knn " + ds + " --lambda 0.25 --k 32 --knn-analysis " + path("analysis.json"));
  EXPECT_EQ(j["knn"]["retrieval"]["index"]["type"], "ivfpq");
  EXPECT_TRUE(j["knn"]["retrieval"]["recompute"].get<bool>());
  EXPECT_TRUE(std::isfinite(j["knn"]["knn"][0]["token_ppl"].get<double>()));
  nlohmann::json a = nlohmann::json::parse(lmforge::test::read_text(path("analysis.json")));
  int64_t sum = 0;
  for (auto c : a["knn"][0]["nll_change_histogram"]) sum += c.get<int64_t>();
  EXPECT_EQ(sum, a["tokens"].get<int64_t>());
  // The recall tool: the exact datastore against itself is perfect; against IVF-PQ a share.
  const std::string base = " --threads 1 --checkpoint " + path("run") + " --data " + path("valid.txt") +
                           " --context 16 --stride 8 --k 8 --nprobe 1,4 --exact " + build("ds", "train.txt");
  auto rr = run_lmforge("datastore recall" + base + " --approx " + build("ds", "train.txt"));
  ASSERT_EQ(rr.code, 0) << rr.output;
  nlohmann::json self = nlohmann::json::parse(rr.output.substr(rr.output.find('{')));
  EXPECT_EQ(self["approx"][1]["recall_at_k"].get<double>(), 1.0);
  rr = run_lmforge("datastore recall" + base + " --approx " + ds);
  ASSERT_EQ(rr.code, 0) << rr.output;
  nlohmann::json rec = nlohmann::json::parse(rr.output.substr(rr.output.find('{')));
  for (const auto& row : rec["approx"]) {
    EXPECT_GT(row["recall_at_k"].get<double>(), 0.0);
    EXPECT_LE(row["recall_at_k"].get<double>(), 1.0);
  }
  auto r = run_lmforge("generate --threads 1 --checkpoint " + path("run") + " --prompt 'the cat' --max-new 6 --knn " +
                       ds + " --knn-lambda 0.5 --knn-temperature 10 --knn-analysis " + path("gen.json"));
  ASSERT_EQ(r.code, 0) << r.output;
  nlohmann::json g = nlohmann::json::parse(lmforge::test::read_text(path("gen.json")));
  EXPECT_EQ(g["steps"].get<int64_t>(), 6);
  EXPECT_EQ(g["entropy_knn"].size(), 6u);
  for (double e : g["entropy_mix"]) EXPECT_GE(e, 0.0);
}

TEST_F(KnnLmCli, RefusesAnotherModelOrTokenizerAndCorruptIndexes) {
  const std::string ds = build("ds", "train.txt");
  auto other = [&](const std::string& run) {
    return run_lmforge("eval-lm --threads 1 --checkpoint " + path(run) + " --data " + path("valid.txt") +
                       " --context 16 --knn " + ds);
  };
  expect_user_error(other("run-seed"), "was built by another model");
  expect_user_error(other("run-vocab"), "was built with another tokenizer");
  // Damage the index file of a copy: caught by its checksum, and by FAISS once the checksum is gone.
  const std::string bad = path("ds-bad");
  std::filesystem::copy(ds, bad);
  std::string bytes = lmforge::test::read_text(bad + "/index-000.faiss");
  lmforge::test::write_text(bad + "/index-000.faiss", bytes.substr(0, 40) + std::string(64, '\xff'));
  auto r = run_lmforge("eval-lm --threads 1 --checkpoint " + path("run") + " --data " + path("valid.txt") +
                       " --context 16 --knn " + bad);
  expect_user_error(r, "index-000.faiss");
  std::string meta = lmforge::test::read_text(bad + "/meta.json");
  nlohmann::json m = nlohmann::json::parse(meta);
  m["shards"][0].erase("index_crc32c");
  lmforge::test::write_text(bad + "/meta.json", m.dump());
  r = run_lmforge("eval-lm --threads 1 --checkpoint " + path("run") + " --data " + path("valid.txt") +
                  " --context 16 --knn " + bad);
  expect_user_error(r, "index-000.faiss");
  EXPECT_NE(r.output.find("not a readable FAISS index"), std::string::npos) << r.output;
  // Building over an existing datastore is refused; nothing is overwritten.
  expect_user_error(run_lmforge("datastore build --checkpoint " + path("run") + " --data " + path("train.txt") +
                                " --out " + ds),
                    "already holds a datastore");
}
