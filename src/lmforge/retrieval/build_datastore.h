// `lmforge datastore build`: runs a trained decoder over a corpus with eval-lm's sliding-window
// protocol (eval/perplexity.h forward_windows: every target scored once, with at least
// context - stride tokens of context), so each entry's key is the very vector eval-lm --knn
// queries with at the same position. Writes keys and next tokens (retrieval/datastore.h), then one
// FAISS index per shard (retrieval/faiss_index.h; ivfpq trained once on a random sample of all
// keys and cloned per shard), then meta.json.
#pragma once
#include <functional>
#include <string>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

#include "lmforge/eval/perplexity.h"
#include "lmforge/retrieval/faiss_index.h"

namespace lmforge {
struct LoadedRun;
}

namespace lmforge::retrieval {

struct DatastoreBuildOptions {
  std::string out;
  PerplexityOptions windows;  // context, stride, batch, dtype, progress
  bool fp16 = false;
  int64_t shard_bytes = int64_t{4} << 30;
  IndexSpec index;
  nlohmann::json corpus;  // recorded in meta.json (file, tokens)
};

// stream: [eos] + the corpus tokens (as eval-lm scores them). Returns the summary that meta.json
// also holds (entries, shards, bytes, seconds). Refuses an --out that already holds a datastore.
nlohmann::json build_datastore(LoadedRun& run, const at::Tensor& stream, const DatastoreBuildOptions& o);

// "4G", "512M", "100K", "12345" (bytes) -> bytes; UserError naming `what` otherwise.
int64_t parse_byte_size(const std::string& s, const std::string& what);

}  // namespace lmforge::retrieval
