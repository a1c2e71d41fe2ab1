#include "lmforge/retrieval/datastore.h"

#include <cstdio>
#include <filesystem>

#include "lmforge/core/crc32c.h"
#include "lmforge/core/error.h"
#include "lmforge/train/checkpoint.h"
#include "lmforge/train/load_run.h"

namespace lmforge::retrieval {

namespace fs = std::filesystem;

namespace {

constexpr const char* kFormat = "lmforge-datastore";
constexpr int kVersion = 1;

std::string shard_name(const char* stem, size_t s, const char* ext) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%s-%03zu.%s", stem, s, ext);
  return buf;
}

// A view of a mapped file as a tensor that keeps the mapping alive.
at::Tensor view_of(const std::shared_ptr<MappedFile>& f, at::IntArrayRef sizes, at::ScalarType t) {
  auto keep = f;
  return at::from_blob(const_cast<unsigned char*>(f->data()), sizes, [keep](void*) {},
                       at::TensorOptions().dtype(t));
}

}  // namespace

nlohmann::json ModelIdentity::to_json() const {
  return {{"weights_crc32c", weights_crc32c}, {"tokenizer", tokenizer}, {"d_model", d_model}, {"vocab_size", vocab_size}};
}

ModelIdentity ModelIdentity::from_json(const nlohmann::json& j) {
  ModelIdentity m;
  m.weights_crc32c = j.at("weights_crc32c").get<std::string>();
  m.tokenizer = j.at("tokenizer").get<std::string>();
  m.d_model = j.at("d_model").get<int64_t>();
  m.vocab_size = j.at("vocab_size").get<int64_t>();
  return m;
}

ModelIdentity identify_model(const LoadedRun& run) {
  ModelIdentity m;
  // The checkpoint manifest already holds the weights' CRC-32C (verified when they were loaded);
  // an older checkpoint without one gets it computed here.
  const std::string weights = weights_path(run.checkpoint);
  auto manifest = read_file_if_exists((fs::path(run.checkpoint) / "manifest.json").string());
  std::string name = fs::path(weights).filename().string();
  if (manifest) {
    auto j = nlohmann::json::parse(*manifest, nullptr, false);
    if (j.is_object() && j.contains("files") && j["files"].contains(name))
      m.weights_crc32c = j["files"][name].value("crc32c", "");
  }
  if (m.weights_crc32c.empty()) {
    std::string bytes = read_file(weights);
    m.weights_crc32c = crc32c_hex(crc32c(bytes.data(), bytes.size()));
  }
  m.tokenizer = run.tokenizer ? run.tokenizer->fingerprint() : "";
  m.d_model = run.config.model.d_model;
  m.vocab_size = run.config.model.vocab_size;
  return m;
}

nlohmann::json DatastoreMeta::to_json() const {
  nlohmann::json sh = nlohmann::json::array();
  for (const ShardInfo& s : shards) sh.push_back({{"keys", s.keys}, {"vals", s.vals}, {"index", s.index}, {"count", s.count}, {"index_crc32c", s.index_crc32c}});
  return {{"format", kFormat},         {"version", kVersion},  {"model", model.to_json()},
          {"key", "final hidden state after the final norm (input of the output layer)"},
          {"dim", dim},                {"count", count},       {"key_dtype", fp16 ? "fp16" : "fp32"},
          {"value_dtype", "int32"},    {"corpus", corpus},     {"index", index},
          {"shards", sh}};
}

DatastoreMeta DatastoreMeta::read(const std::string& dir) {
  const std::string path = (fs::path(dir) / "meta.json").string();
  LMF_REQUIRE(fs::exists(path), InputError, "'", dir, "' is not a datastore: no meta.json (build one with `lmforge datastore build`)");
  auto j = nlohmann::json::parse(read_file(path), nullptr, false);
  LMF_REQUIRE(j.is_object() && j.value("format", "") == kFormat, InputError, "file '", path,
              "': not a datastore meta.json (format is not '", kFormat, "')");
  LMF_REQUIRE(j.value("version", 0) == kVersion, InputError, "file '", path, "': datastore version ",
              j.value("version", 0), ", this lmforge reads version ", kVersion);
  DatastoreMeta m;
  try {
    m.model = ModelIdentity::from_json(j.at("model"));
    m.dim = j.at("dim").get<int64_t>();
    m.count = j.at("count").get<int64_t>();
    const std::string kd = j.at("key_dtype").get<std::string>();
    LMF_REQUIRE(kd == "fp32" || kd == "fp16", InputError, "file '", path, "': key_dtype '", kd, "' (expected fp32 or fp16)");
    m.fp16 = kd == "fp16";
    m.corpus = j.value("corpus", nlohmann::json::object());
    m.index = j.at("index");
    for (const auto& s : j.at("shards"))
      m.shards.push_back({s.at("keys").get<std::string>(), s.at("vals").get<std::string>(),
                          s.at("index").get<std::string>(), s.at("count").get<int64_t>(),
                          s.value("index_crc32c", "")});
  } catch (const nlohmann::json::exception& e) {
    throw InputError(str("file '", path, "': malformed datastore meta (", e.what(), ")"));
  }
  return m;
}

DatastoreWriter::DatastoreWriter(std::string dir, int64_t dim, bool fp16, int64_t shard_bytes)
    : dir_(std::move(dir)), dim_(dim), fp16_(fp16) {
  LMF_REQUIRE(dim > 0, UserError, "datastore: key dimension must be > 0");
  LMF_REQUIRE(shard_bytes > 0, UserError, "--shard-size must be > 0");
  per_shard_ = std::max<int64_t>(1, shard_bytes / (dim * (fp16 ? 2 : 4)));
  fs::create_directories(dir_);
}

void DatastoreWriter::open_shard() {
  const size_t s = shards_.size();
  shards_.push_back({shard_name("keys", s, "bin"), shard_name("vals", s, "bin"), shard_name("index", s, "faiss"), 0, ""});
  keys_ = std::make_unique<AtomicFile>((fs::path(dir_) / shards_.back().keys).string());
  vals_ = std::make_unique<AtomicFile>((fs::path(dir_) / shards_.back().vals).string());
}

void DatastoreWriter::add(const at::Tensor& keys_in, const at::Tensor& vals_in) {
  LMF_REQUIRE(keys_in.dim() == 2 && keys_in.size(1) == dim_ && keys_in.size(0) == vals_in.numel(), UserError,
              "datastore: keys must be (n, ", dim_, ") beside n values");
  at::Tensor keys = keys_in.detach().to(at::kCPU).to(fp16_ ? at::kHalf : at::kFloat).contiguous();
  at::Tensor vals = vals_in.detach().to(at::kCPU).to(at::kInt).contiguous();
  const int64_t row = keys.element_size() * dim_;
  for (int64_t i = 0; i < keys.size(0);) {
    if (!keys_ || shards_.back().count == per_shard_) {
      if (keys_) {
        keys_->commit();
        vals_->commit();
      }
      open_shard();
    }
    const int64_t n = std::min(keys.size(0) - i, per_shard_ - shards_.back().count);
    keys_->write(static_cast<const char*>(keys.data_ptr()) + i * row, n * row);
    vals_->write(vals.data_ptr<int32_t>() + i, n * sizeof(int32_t));
    shards_.back().count += n;
    count_ += n;
    i += n;
  }
}

std::vector<ShardInfo> DatastoreWriter::finish() {
  LMF_REQUIRE(keys_, UserError, "datastore: the corpus gave no entries (an empty file?)");
  keys_->commit();
  vals_->commit();
  keys_.reset();
  vals_.reset();
  return shards_;
}

std::string Datastore::path(const std::string& name) const { return (fs::path(dir_) / name).string(); }

Datastore Datastore::open_unchecked(const std::string& dir) { return from_meta(dir, DatastoreMeta::read(dir)); }

Datastore Datastore::from_meta(const std::string& dir, const DatastoreMeta& meta) {
  Datastore d;
  d.dir_ = dir;
  d.meta_ = meta;
  int64_t total = 0;
  for (const ShardInfo& s : d.meta_.shards) {
    auto k = std::make_shared<MappedFile>(d.path(s.keys));
    auto v = std::make_shared<MappedFile>(d.path(s.vals));
    const int64_t kb = s.count * d.meta_.dim * (d.meta_.fp16 ? 2 : 4);
    LMF_REQUIRE(static_cast<int64_t>(k->size()) == kb, InputError, "file '", k->path(), "': ", k->size(),
                " bytes, but meta.json says ", s.count, " keys of ", d.meta_.dim, " ", d.meta_.fp16 ? "fp16" : "fp32",
                " (", kb, " bytes): a torn or foreign file");
    LMF_REQUIRE(static_cast<int64_t>(v->size()) == s.count * 4, InputError, "file '", v->path(), "': ", v->size(),
                " bytes, but meta.json says ", s.count, " int32 values");
    d.keys_.push_back(std::move(k));
    d.vals_.push_back(std::move(v));
    total += s.count;
  }
  LMF_REQUIRE(total == d.meta_.count && total > 0, InputError, "datastore '", dir, "': its shards hold ", total,
              " entries, meta.json says ", d.meta_.count);
  return d;
}

Datastore Datastore::open(const std::string& dir, const ModelIdentity& expect) {
  Datastore d = open_unchecked(dir);
  const ModelIdentity& got = d.meta_.model;
  LMF_REQUIRE(got.tokenizer == expect.tokenizer, InputError, "datastore '", dir,
              "' was built with another tokenizer (fingerprint ", got.tokenizer, ", this model's is ", expect.tokenizer,
              "): its values are other token ids; rebuild it with this checkpoint");
  LMF_REQUIRE(got.weights_crc32c == expect.weights_crc32c && got.d_model == expect.d_model, InputError,
              "datastore '", dir, "' was built by another model (weights crc32c ", got.weights_crc32c, ", d_model ",
              got.d_model, "; this checkpoint: ", expect.weights_crc32c, ", d_model ", expect.d_model,
              "): its keys live in another vector space; rebuild it with this checkpoint");
  return d;
}

at::Tensor Datastore::raw_keys(size_t s) const {
  return view_of(keys_.at(s), {meta_.shards[s].count, meta_.dim}, meta_.fp16 ? at::kHalf : at::kFloat);
}

at::Tensor Datastore::shard_keys(size_t s) const { return raw_keys(s).to(at::kFloat); }

at::Tensor Datastore::shard_keys_rows(size_t s, const at::Tensor& ids) const {
  return raw_keys(s).index_select(0, ids.to(at::kLong)).to(at::kFloat);
}

at::Tensor Datastore::shard_vals(size_t s) const { return view_of(vals_.at(s), {meta_.shards[s].count}, at::kInt); }

}  // namespace lmforge::retrieval
