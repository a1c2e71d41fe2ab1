// The kNN-LM datastore (Khandelwal et al., ICLR'20, section 2): one entry per target position of a
// corpus, key = the model's context vector f(c_i) before predicting token i, value = token i.
//
// Key: the final hidden state, after the final norm, i.e. the input of the output layer (what
// LanguageModel::hidden returns). The paper's key is the input of the last layer's FFN (after its
// pre-norm); ours exists for every mixer and block type the engine assembles (attention, Hyena,
// linear attention, MoE, ...) without a hook inside one block, and it is the representation the
// LM's own softmax is linear in. docs/retrieval.md discusses the choice.
//
// A datastore is a folder (the layout of urvashik/knnlm's memory-mapped dstore_keys/dstore_vals):
//   meta.json        the model it belongs to (weights checksum + tokenizer fingerprint), the key
//                    dtype and dimension, the corpus and its windows, the index kind, the shards;
//                    written last, so a build that died leaves no usable datastore
//   keys-SSS.bin     shard S's keys, row-major (count, dim), fp32 or fp16, little-endian
//   vals-SSS.bin     shard S's values, int32
//   index-SSS.faiss  shard S's FAISS index (retrieval/faiss_index.h), ids local to the shard
// Keys are split into shards of at most shard_bytes each: each shard gets its own index, and a
// search asks every shard and merges (retrieval/knn_lm.h).
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "lmforge/core/file_io.h"
#include "lmforge/core/mapped_file.h"

namespace lmforge {
struct LoadedRun;
}

namespace lmforge::retrieval {

// What a datastore's keys depend on: the weights (checksum of the checkpoint's weights file) and
// the tokenizer (its fingerprint), plus the shapes for the message.
struct ModelIdentity {
  std::string weights_crc32c, tokenizer;
  int64_t d_model = 0, vocab_size = 0;
  nlohmann::json to_json() const;
  static ModelIdentity from_json(const nlohmann::json& j);
};
ModelIdentity identify_model(const LoadedRun& run);

struct ShardInfo {
  std::string keys, vals, index;  // file names inside the datastore folder
  int64_t count = 0;
  std::string index_crc32c;  // checked before FAISS reads the file
};

struct DatastoreMeta {
  ModelIdentity model;
  int64_t dim = 0, count = 0;
  bool fp16 = false;
  nlohmann::json corpus;  // file, tokens, context, stride
  nlohmann::json index;   // type, and the kind's parameters
  std::vector<ShardInfo> shards;
  nlohmann::json to_json() const;
  static DatastoreMeta read(const std::string& dir);  // InputError naming meta.json when bad
};

// Appends (key, value) pairs in corpus order, cutting a new shard whenever the next key would take
// the current shard's keys past shard_bytes. finish() commits the shard files (atomically); the
// caller then builds the indexes and writes meta.json.
class DatastoreWriter {
 public:
  DatastoreWriter(std::string dir, int64_t dim, bool fp16, int64_t shard_bytes);
  // keys (n, dim) any float dtype, vals (n,) integer.
  void add(const at::Tensor& keys, const at::Tensor& vals);
  std::vector<ShardInfo> finish();
  int64_t count() const { return count_; }

 private:
  void open_shard();
  std::string dir_;
  int64_t dim_, per_shard_, count_ = 0;
  bool fp16_;
  std::vector<ShardInfo> shards_;
  std::unique_ptr<AtomicFile> keys_, vals_;
};

// An opened datastore: its meta and memory-mapped shards. open() refuses one built by another
// model or tokenizer (InputError saying which) and one whose files do not match its meta.
class Datastore {
 public:
  static Datastore open(const std::string& dir, const ModelIdentity& expect);
  // Opens without the model check (inspection, tests of the check itself).
  static Datastore open_unchecked(const std::string& dir);
  // Maps the shards `meta` describes (the build, before meta.json is written).
  static Datastore from_meta(const std::string& dir, const DatastoreMeta& meta);

  const DatastoreMeta& meta() const { return meta_; }
  const std::string& dir() const { return dir_; }
  std::string path(const std::string& name) const;
  size_t num_shards() const { return meta_.shards.size(); }
  // Shard s's keys as fp32 (count, dim) (a copy for fp16 keys), and rows by id (ids (n,) int64).
  at::Tensor shard_keys(size_t s) const;
  at::Tensor shard_keys_rows(size_t s, const at::Tensor& ids) const;
  // Shard s's values (count,) int32, a view of the mapped file.
  at::Tensor shard_vals(size_t s) const;

 private:
  at::Tensor raw_keys(size_t s) const;
  std::string dir_;
  DatastoreMeta meta_;
  std::vector<std::shared_ptr<MappedFile>> keys_, vals_;
};

}  // namespace lmforge::retrieval
