// HMT's segment recurrence; see hmt.h.
#include "lmforge/models/hmt.h"

#include <cmath>

#include "lmforge/core/error.h"
#include "lmforge/models/language_model.h"

namespace lmforge {

void validate_hmt_config(const HmtConfig& h, int64_t max_seq_len, const std::string& kind, const std::string& path) {
  if (!h.enabled) return;
  LMF_REQUIRE(kind == "decoder", ConfigError, "config key '", path, ".enabled': HMT wraps a decoder, model.kind is \"",
              kind, "\"");
  LMF_REQUIRE(h.segment_len >= 2 && h.sensory >= 0 && h.cache >= 1 && h.recall_dim >= 1, ConfigError, "config table '",
              path, "': segment_len >= 2, sensory >= 0, cache >= 1 and recall_dim >= 1 are required");
  LMF_REQUIRE(h.sensory <= h.segment_len, ConfigError, "config key '", path, ".sensory' (", h.sensory,
              ") is longer than a segment (", h.segment_len, ")");
  LMF_REQUIRE(h.segment_len + h.sensory + 2 <= max_seq_len, ConfigError, "config table '", path,
              "': a segment needs segment_len + sensory + 2 = ", h.segment_len + h.sensory + 2,
              " positions, model.max_seq_len is ", max_seq_len);
  LMF_REQUIRE(h.summary_fraction > 0 && h.summary_fraction <= 1, ConfigError, "config key '", path,
              ".summary_fraction' must be in (0, 1]");
  LMF_REQUIRE(h.query == "previous" || h.query == "segment", ConfigError, "config key '", path,
              ".query': expected previous or segment, got \"", h.query, "\"");
}

HmtMemory::HmtMemory(const HmtConfig& c, int64_t d_model, double embed_std) : c_(c) {
  torch::NoGradGuard ng;
  // The reference initialises the memory and summary tokens like word embeddings.
  m0_ = register_parameter("memory", at::randn({1, d_model}) * embed_std);
  summary_ = register_parameter("summary", at::randn({1, d_model}) * embed_std);
  const double s = 1.0 / std::sqrt(static_cast<double>(d_model));
  wq_ = register_parameter("wq", at::randn({d_model, c.recall_dim}) * s);
  wk_ = register_parameter("wk", at::randn({d_model, c.recall_dim}) * s);
}

at::Tensor HmtMemory::recall(LanguageModel& lm, const at::Tensor& query_tokens, const std::deque<at::Tensor>& cache,
                             ForwardContext& ctx) const {
  const int64_t B = query_tokens.size(0);
  at::Tensor s = summary_.to(query_tokens.dtype()).unsqueeze(0).expand({B, 1, -1});
  ForwardContext enc = ctx;
  enc.pos_offset = 0;
  at::Tensor h = lm.hidden_from_embeddings(at::cat({s, query_tokens, s}, 1), enc);
  for (auto& [k, v] : enc.aux_losses) ctx.aux_losses[k] = v;
  at::Tensor S = h.select(1, h.size(1) - 1);                           // (B, D)
  at::Tensor M = at::stack(std::vector<at::Tensor>(cache.begin(), cache.end()), 1);  // (B, N, D)
  at::Tensor q = at::matmul(S, wq_.to(S.dtype())).unsqueeze(1);        // (B, 1, h)
  at::Tensor k = at::matmul(M, wk_.to(M.dtype()));                      // (B, N, h)
  at::Tensor a = (at::matmul(q, k.transpose(1, 2)) / std::sqrt(static_cast<double>(c_.recall_dim))).softmax(-1);
  return at::matmul(a, M).squeeze(1);  // (B, D)
}

at::Tensor HmtMemory::forward(LanguageModel& lm, const at::Tensor& tokens, ForwardContext& ctx, HmtState* state) {
  LMF_REQUIRE(tokens.dim() == 2, UserError, "HMT input must be (batch, length), got ", tokens.sizes());
  LMF_REQUIRE(!ctx.key_padding.defined(), UserError, "HMT does not take padded batches");
  HmtState local;
  HmtState& st = state ? *state : local;
  const int64_t B = tokens.size(0), T = tokens.size(1), L = c_.segment_len;
  at::Tensor E = lm.token_embeddings(tokens);  // (B, T, D)
  std::vector<at::Tensor> outs;
  for (int64_t start = 0; start < T; start += L) {
    const int64_t n = std::min(L, T - start);
    at::Tensor H = E.narrow(1, start, n);
    at::Tensor P;
    if (c_.memory) {
      if (st.cache.empty()) {
        P = m0_.to(H.dtype()).expand({B, -1});
      } else if (!c_.recall) {
        P = st.cache.back();
      } else {
        at::Tensor src = c_.query == "segment" || !st.prev_tokens.defined() ? H : st.prev_tokens;
        const int64_t q = std::max<int64_t>(1, std::llround(c_.summary_fraction * static_cast<double>(src.size(1))));
        at::Tensor qt = c_.query == "segment" || !st.prev_tokens.defined() ? src.narrow(1, 0, q)
                                                                           : src.narrow(1, src.size(1) - q, q);
        // With query = "previous" and no previous segment, nothing is cached either (handled above).
        P = recall(lm, qt, st.cache, ctx);
      }
    }
    std::vector<at::Tensor> parts;
    if (P.defined()) parts.push_back(P.unsqueeze(1));
    int64_t sensory = 0;
    if (c_.sensory > 0 && st.prev_tokens.defined()) {
      sensory = std::min(c_.sensory, st.prev_tokens.size(1));
      parts.push_back(st.prev_tokens.narrow(1, st.prev_tokens.size(1) - sensory, sensory));
    }
    parts.push_back(H);
    if (P.defined()) parts.push_back(P.unsqueeze(1));
    ForwardContext seg = ctx;
    seg.pos_offset = 0;
    at::Tensor h = lm.hidden_from_embeddings(parts.size() == 1 ? H : at::cat(parts, 1), seg);
    for (auto& [k, v] : seg.aux_losses) ctx.aux_losses[k] = v;
    const int64_t off = (P.defined() ? 1 : 0) + sensory;
    outs.push_back(h.narrow(1, off, n));
    if (c_.memory) {
      st.cache.push_back(h.select(1, h.size(1) - 1));
      while (static_cast<int64_t>(st.cache.size()) > c_.cache) st.cache.pop_front();
    }
    st.prev_tokens = H;
  }
  return outs.size() == 1 ? outs[0] : at::cat(outs, 1);
}

}  // namespace lmforge
