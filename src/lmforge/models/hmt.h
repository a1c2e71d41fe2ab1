// HMT: Hierarchical Memory Transformer (He, Qin, Prakriya, Sun, Cong; NAACL 2025), a wrapper that
// lets a decoder with a short context read a long document segment by segment.
// For segment n (tokens H_n, L of them) with cached memories M = [M_{n-N}, ..., M_{n-1}]:
//   1. representation encoding: S_n = backbone([s, E(Q_n), s]) at the last position, Q_n the first
//      summary_fraction of H_n (the paper, query = "segment") or the last summary_fraction of
//      H_{n-1} (query = "previous", default: the paper's choice lets every token of H_n see, through
//      the recall weights, the first half of its own segment, i.e. tokens after it);
//   2. memory recall: P_n = softmax((S_n W_q)(M W_k)^T / sqrt(h)) M; m0 (learned) when the cache
//      is empty; with recall off, P_n = M_{n-1} (RMT's recurrent memory);
//   3. segment: h = backbone([P_n, E(last k tokens of H_{n-1}), E(H_n), P_n]); the outputs of the
//      H_n positions are the segment's hidden states, and M_n = h at the final position (the end copy
//      of P_n has read the whole segment) joins the cache (the last N kept).
// Gradients flow through every segment of the input (backpropagation through time over the rows
// of a training batch: train.seq_len / segment_len segments). Extra parameters: m0, s (1 x d),
// W_q, W_k (d x h). The backbone is the model's own embedding, blocks and final norm.
#pragma once
#include <deque>

#include <ATen/ATen.h>
#include <torch/nn/module.h>

#include "lmforge/models/hmt_config.h"
#include "lmforge/nn/context.h"

namespace lmforge {

class LanguageModel;

// What a document's earlier segments leave for the next call (streaming evaluation).
struct HmtState {
  std::deque<at::Tensor> cache;  // (B, D) memories, oldest first
  at::Tensor prev_tokens;        // (B, <= L) the previous segment's token embeddings
};

class HmtMemory : public torch::nn::Module {
 public:
  HmtMemory(const HmtConfig& c, int64_t d_model, double embed_std);
  // tokens (B, T) -> hidden states (B, T, D); `state` (optional) carries memory across calls.
  at::Tensor forward(LanguageModel& lm, const at::Tensor& tokens, ForwardContext& ctx, HmtState* state = nullptr);
  const HmtConfig& config() const { return c_; }

 private:
  at::Tensor recall(LanguageModel& lm, const at::Tensor& query_tokens, const std::deque<at::Tensor>& cache,
                    ForwardContext& ctx) const;
  HmtConfig c_;
  at::Tensor m0_, summary_, wq_, wk_;
};

}  // namespace lmforge
