// [model.hmt]: the Hierarchical Memory Transformer wrapper (models/hmt.h) over the model's own
// decoder stack. Off unless enabled.
#pragma once
#include <string>

#include "lmforge/core/config.h"

namespace lmforge {

struct HmtConfig {
  bool enabled = false;
  int64_t segment_len = 64;     // new tokens per segment (L)
  int64_t sensory = 8;          // tokens of the previous segment read again (k)
  int64_t cache = 32;           // memory embeddings kept for recall (N)
  int64_t recall_dim = 128;     // width h of the recall query/key projections
  bool memory = true;           // false: no memory tokens (with sensory 0: the plain backbone per segment)
  bool recall = true;           // false: the memory token is the previous segment's (RMT + sensory memory)
  double summary_fraction = 0.5;
  std::string query = "previous";  // previous | segment: which tokens the recall query summarises

  template <class V>
  void visit(V& v) {
    v("enabled", enabled, "wrap the decoder in HMT's segment recurrence with memory recall");
    v("segment_len", segment_len, "new tokens per segment");
    v("sensory", sensory, "tokens of the previous segment prepended to each segment");
    v("cache", cache, "memory embeddings kept for recall");
    v("recall_dim", recall_dim, "width of the recall query and key projections");
    v("memory", memory, "memory tokens around each segment");
    v("recall", recall, "cross-attention recall over cached memories (false: previous memory, RMT-style)");
    v("summary_fraction", summary_fraction, "share of the segment the recall query summarises");
    v("query", query, "previous (the end of the previous segment: strictly causal) | segment (the paper: the start of the current one)");
  }
};

// Checks the values; `path` names the table in messages.
void validate_hmt_config(const HmtConfig& h, int64_t max_seq_len, const std::string& kind, const std::string& path);

}  // namespace lmforge
