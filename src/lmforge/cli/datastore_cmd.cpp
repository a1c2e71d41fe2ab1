// `lmforge datastore build --checkpoint RUN --data FILE --out DIR [--context N --stride S] [--fp16]
//  [--index exact|ivfpq] [--shard-size 4G] [--nlist N --pq-m M --pq-bits B --train-size N --nprobe P]
//  [--max-tokens N] [--json]`: the kNN-LM datastore of a trained decoder over a corpus
// (retrieval/build_datastore.h, docs/retrieval.md).
// `lmforge datastore recall --checkpoint RUN --data FILE --exact DIR --approx DIR [--max-tokens N]
//  [--k K] [--nprobe 8,32,128]`: recall and speed of an IVF-PQ datastore against the exact one on
// the context vectors of FILE (retrieval/index_recall.h).
#include <filesystem>
#include <iostream>

#include "lmforge/cli/subcommand.h"
#include "lmforge/core/progress.h"
#include "lmforge/core/threads.h"
#include "lmforge/data/token_file.h"
#include "lmforge/eval/sliding_window.h"
#include "lmforge/retrieval/build_datastore.h"
#include "lmforge/retrieval/index_recall.h"
#include "lmforge/retrieval/knn_lm.h"
#include "lmforge/train/load_run.h"
#include "lmforge/train/task.h"

namespace lmforge {
namespace {

struct DatastoreArgs {
  std::string checkpoint, data, out, device, cache_dir, precision, shard_size = "4G";
  int64_t context = 0, stride = 0, batch = 8, max_tokens = 0;
  bool fp16 = false, json = false;
  int threads = 0;
  retrieval::IndexSpec index;
  // recall
  std::string exact, approx;
  int64_t k = 1024;
  std::vector<int64_t> nprobes{8, 32, 128};
};

// The scored positions' context vectors of the first max_tokens tokens of a.data.
at::Tensor query_vectors(const DatastoreArgs& a, LoadedRun& run) {
  const data::Tokenizer& tok = *run.tokenizer;
  data::TokenFile tf = data::TokenFile::open_or_build(
      tok, a.data, a.cache_dir.empty() ? default_token_cache_dir(run.config.data) : a.cache_dir);
  const int64_t n = a.max_tokens > 0 ? std::min(a.max_tokens, tf.size()) : tf.size();
  at::Tensor stream = at::cat({at::full({1}, tok.eos_id(), at::kLong), tf.slice(0, n)});
  std::vector<at::Tensor> parts;
  forward_windows(*run.model, stream, window_options(run.config, a.context, a.stride, a.batch, a.precision),
                  [&](const at::Tensor& h, const at::Tensor& targets) {
                    at::Tensor mask = (targets != -100).reshape({-1});
                    parts.push_back(h.reshape({-1, h.size(-1)}).index({mask}).to(at::kCPU).to(at::kFloat));
                  });
  return at::cat(parts, 0);
}

int run_datastore_recall(const DatastoreArgs& a) {
  set_threads(a.threads);
  LMF_REQUIRE(retrieval::faiss_available(), UserError, retrieval::no_faiss_message());
  LoadedRun run = load_run(a.checkpoint, a.device);
  LMF_REQUIRE(run.tokenizer, UserError, "datastore recall needs a text model");
  LMF_REQUIRE(std::filesystem::exists(a.data), InputError, "data file '", a.data, "' does not exist");
  const retrieval::ModelIdentity id = retrieval::identify_model(run);
  retrieval::KnnOptions o;
  o.k = a.k;
  retrieval::KnnLm exact(a.exact, id, o), approx(a.approx, id, o);
  nlohmann::json j = retrieval::index_recall(exact, approx, query_vectors(a, run), a.nprobes);
  j["exact"] = exact.describe();
  j["approx_index"] = approx.describe();
  std::cout << j.dump(2) << std::endl;
  return 0;
}

int run_datastore_build(const DatastoreArgs& a) {
  set_threads(a.threads);
  LMF_REQUIRE(retrieval::faiss_available(), UserError, retrieval::no_faiss_message());
  const int64_t shard_bytes = retrieval::parse_byte_size(a.shard_size, "--shard-size");
  LMF_REQUIRE(a.max_tokens >= 0, UserError, "--max-tokens must not be negative");
  LoadedRun run = load_run(a.checkpoint, a.device);
  LMF_REQUIRE(run.tokenizer, UserError, "datastore build needs a text model; '", a.checkpoint,
              "' was trained on task '", run.config.data.task, "'");
  LMF_REQUIRE(std::filesystem::exists(a.data), InputError, "data file '", a.data, "' does not exist");
  const data::Tokenizer& tok = *run.tokenizer;
  data::TokenFile tf = data::TokenFile::open_or_build(
      tok, a.data, a.cache_dir.empty() ? default_token_cache_dir(run.config.data) : a.cache_dir);
  const int64_t n = a.max_tokens > 0 ? std::min(a.max_tokens, tf.size()) : tf.size();

  retrieval::DatastoreBuildOptions o;
  o.out = a.out;
  o.windows = window_options(run.config, a.context, a.stride, a.batch, a.precision);
  o.fp16 = a.fp16;
  o.shard_bytes = shard_bytes;
  o.index = a.index;
  o.corpus = {{"file", a.data}, {"tokens", n}};
  at::Tensor stream = at::cat({at::full({1}, tok.eos_id(), at::kLong), tf.slice(0, n)});
  ProgressBar bar("datastore", static_cast<int64_t>(sliding_windows(n, o.windows.context, o.windows.stride).size()));
  o.windows.progress = [&](int64_t done, int64_t) { bar.update(done); };
  nlohmann::json s = retrieval::build_datastore(run, stream, o);
  bar.finish();
  if (a.json) {
    std::cout << s.dump(2) << std::endl;
  } else {
    const auto& b = s["bytes"];
    std::printf("%s: %lld entries (dim %lld, %s) in %zu shard(s), %s index; keys %.1f MB, index %.1f MB; %.1f s\n",
                a.out.c_str(), static_cast<long long>(s["entries"].get<int64_t>()),
                static_cast<long long>(s["dim"].get<int64_t>()), s["key_dtype"].get<std::string>().c_str(),
                s["shards"].get<size_t>(), s["index"]["type"].get<std::string>().c_str(),
                b["keys"].get<double>() / 1e6, b["index"].get<double>() / 1e6, s["seconds"]["total"].get<double>());
  }
  return 0;
}

const bool kRegistered = register_subcommand(
    "datastore", "kNN-LM datastores: `datastore build` (docs/retrieval.md)", [](CLI::App& app) {
      auto a = std::make_shared<DatastoreArgs>();
      app.require_subcommand(1);
      CLI::App* b = app.add_subcommand("build", "keys (final hidden states) and next tokens of a corpus, and their FAISS index");
      b->add_option("--checkpoint", a->checkpoint, "run directory (or its checkpoint folder) of a decoder LM")->required();
      b->add_option("--data", a->data, "text file (e.g. wiki.train.tokens)")->required();
      b->add_option("--out", a->out, "datastore folder to create")->required();
      b->add_option("--context", a->context, "window length in tokens (default: as eval-lm)");
      b->add_option("--stride", a->stride, "new tokens per window (default: as eval-lm)");
      b->add_option("--batch", a->batch, "windows per forward");
      b->add_option("--precision", a->precision, "fp32 | bf16 of the forward (default: the run's)");
      b->add_option("--max-tokens", a->max_tokens, "use only the first N tokens of the file (0 = all)");
      b->add_flag("--fp16", a->fp16, "store keys as fp16 (half the disk; distances recomputed from them)");
      b->add_option("--index", a->index.type, "exact (IndexFlatL2) | ivfpq (IndexIVFPQ)");
      b->add_option("--shard-size", a->shard_size, "most key bytes per shard, e.g. 4G, 512M (one index per shard)");
      b->add_option("--nlist", a->index.nlist, "ivfpq: coarse cells (0 = ~4 sqrt(entries), a power of two)");
      b->add_option("--pq-m", a->index.pq_m, "ivfpq: sub-quantizers (0 = dim / 8 or the next divisor below)");
      b->add_option("--pq-bits", a->index.pq_bits, "ivfpq: bits per sub-code (0 = 8)");
      b->add_option("--train-size", a->index.train_size, "ivfpq: random keys its quantizers are trained on");
      b->add_option("--nprobe", a->index.nprobe, "ivfpq: default cells visited per query");
      b->add_option("--seed", a->index.seed, "ivfpq: sampling and k-means seed");
      b->add_option("--cache-dir", a->cache_dir, "where the tokenized file is cached");
      b->add_option("--device", a->device, "cpu | cuda (default: the run's)");
      b->add_option("--threads", a->threads, "intra-op threads (0 = all cores)");
      b->add_flag("--json", a->json, "print the summary as JSON");
      CLI::App* r = app.add_subcommand("recall", "recall and speed of an approximate datastore against the exact one");
      r->add_option("--checkpoint", a->checkpoint, "run directory of the model both datastores belong to")->required();
      r->add_option("--data", a->data, "text whose context vectors are the queries (e.g. wiki.valid.tokens)")->required();
      r->add_option("--exact", a->exact, "datastore with an exact index")->required();
      r->add_option("--approx", a->approx, "datastore with an ivfpq index over the same corpus")->required();
      r->add_option("--max-tokens", a->max_tokens, "queries: the first N tokens of --data");
      r->add_option("--k", a->k, "neighbours per query");
      r->add_option("--nprobe", a->nprobes, "ivfpq cells visited, comma-separated")->delimiter(',');
      r->add_option("--context", a->context, "window length in tokens (default: as eval-lm)");
      r->add_option("--stride", a->stride, "new tokens per window (default: as eval-lm)");
      r->add_option("--cache-dir", a->cache_dir, "where the tokenized file is cached");
      r->add_option("--threads", a->threads, "intra-op threads (0 = all cores)");
      return [a, b] { return b->parsed() ? run_datastore_build(*a) : run_datastore_recall(*a); };
    });

}  // namespace
}  // namespace lmforge
