#include "lmforge/retrieval/build_datastore.h"

#include <chrono>
#include <filesystem>

#include <ATen/CPUGeneratorImpl.h>

#include "lmforge/core/error.h"
#include "lmforge/core/file_io.h"
#include "lmforge/retrieval/datastore.h"
#include "lmforge/train/load_run.h"

namespace lmforge::retrieval {

namespace fs = std::filesystem;

namespace {

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// A uniform random sample of `m` of all entries, as fp32 keys, gathered shard by shard.
at::Tensor sample_keys(const Datastore& ds, int64_t m, uint64_t seed) {
  const int64_t n = ds.meta().count;
  if (m >= n) m = n;
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(seed);
  at::Tensor ids = std::get<0>(at::randperm(n, gen, at::kLong).narrow(0, 0, m).sort());
  std::vector<at::Tensor> parts;
  int64_t off = 0;
  for (size_t s = 0; s < ds.num_shards(); ++s) {
    const int64_t c = ds.meta().shards[s].count;
    at::Tensor in = ids.masked_select((ids >= off) & (ids < off + c)) - off;
    if (in.numel() > 0) parts.push_back(ds.shard_keys_rows(s, in));
    off += c;
  }
  return at::cat(parts, 0);
}

int64_t file_bytes(const Datastore& ds, const std::string& name) {
  return static_cast<int64_t>(fs::file_size(ds.path(name)));
}

}  // namespace

int64_t parse_byte_size(const std::string& s, const std::string& what) {
  size_t pos = 0;
  double v = 0;
  try {
    v = std::stod(s, &pos);
  } catch (const std::exception&) {
    pos = 0;
  }
  const std::string unit = s.substr(pos);
  double mul = unit.empty() || unit == "B" ? 1 : unit == "K" ? 1024.0 : unit == "M" ? 1048576.0 : unit == "G" ? 1073741824.0 : -1;
  LMF_REQUIRE(pos > 0 && mul > 0 && v * mul >= 1, UserError, what, " '", s,
              "': expected a size in bytes, optionally with K, M or G (e.g. 4G)");
  return static_cast<int64_t>(v * mul);
}

nlohmann::json build_datastore(LoadedRun& run, const at::Tensor& stream, const DatastoreBuildOptions& o) {
  LMF_REQUIRE(faiss_available(), UserError, no_faiss_message());
  LMF_REQUIRE(run.config.model.kind == "decoder", UserError, "datastore build needs a decoder (causal) LM; '",
              run.checkpoint, "' is a ", run.config.model.kind);
  LMF_REQUIRE(!fs::exists(fs::path(o.out) / "meta.json"), UserError, "'", o.out,
              "' already holds a datastore (meta.json); remove it or choose another --out");
  LMF_REQUIRE(o.index.type == "exact" || o.index.type == "ivfpq", UserError, "--index '", o.index.type,
              "': expected exact or ivfpq");
  const auto t0 = std::chrono::steady_clock::now();
  DatastoreMeta meta;
  meta.model = identify_model(run);
  meta.dim = run.config.model.d_model;
  meta.fp16 = o.fp16;
  DatastoreWriter w(o.out, meta.dim, o.fp16, o.shard_bytes);
  forward_windows(*run.model, stream, o.windows, [&](const at::Tensor& h, const at::Tensor& targets) {
    at::Tensor mask = (targets != -100).reshape({-1}).cpu();
    at::Tensor flat = h.reshape({-1, h.size(-1)}).to(at::kCPU).to(at::kFloat);
    w.add(flat.index({mask}), targets.reshape({-1}).cpu().index({mask}));
  });
  meta.shards = w.finish();
  meta.count = w.count();
  const double forward_s = seconds_since(t0);

  const auto t1 = std::chrono::steady_clock::now();
  Datastore ds = Datastore::from_meta(o.out, meta);
  at::Tensor sample = o.index.type == "ivfpq" ? sample_keys(ds, o.index.train_size, o.index.seed) : at::Tensor();
  FaissIndex trained = FaissIndex::create(o.index, meta.dim, meta.count, sample);
  const double train_s = seconds_since(t1);
  const auto t2 = std::chrono::steady_clock::now();
  int64_t key_bytes = 0, val_bytes = 0, index_bytes = 0;
  for (size_t s = 0; s < ds.num_shards(); ++s) {
    FaissIndex idx = trained.clone();
    const int64_t c = meta.shards[s].count, chunk = 65536;
    for (int64_t i = 0; i < c; i += chunk)
      idx.add(ds.shard_keys_rows(s, at::arange(i, std::min(c, i + chunk), at::kLong)));
    meta.shards[s].index_crc32c = idx.write(ds.path(meta.shards[s].index));
    key_bytes += file_bytes(ds, meta.shards[s].keys);
    val_bytes += file_bytes(ds, meta.shards[s].vals);
    index_bytes += file_bytes(ds, meta.shards[s].index);
  }
  const double add_s = seconds_since(t2);
  meta.index = trained.describe();
  meta.corpus = o.corpus;
  meta.corpus["context"] = o.windows.context;
  meta.corpus["stride"] = o.windows.stride;
  nlohmann::json summary = {{"entries", meta.count},
                            {"shards", meta.shards.size()},
                            {"dim", meta.dim},
                            {"key_dtype", o.fp16 ? "fp16" : "fp32"},
                            {"bytes", {{"keys", key_bytes}, {"vals", val_bytes}, {"index", index_bytes}}},
                            {"seconds", {{"forward", forward_s}, {"index_train", train_s}, {"index_add", add_s},
                                         {"total", seconds_since(t0)}}}};
  nlohmann::json mj = meta.to_json();
  mj["build"] = summary;
  write_file_atomic((fs::path(o.out) / "meta.json").string(), mj.dump(2) + "\n");
  summary["index"] = meta.index;
  summary["out"] = o.out;
  return summary;
}

}  // namespace lmforge::retrieval
