// Batches for next-token language modelling, drawn from a token array (a TokenFile's span or a
// tensor's).
//
// LmSampler (training): batch(step) returns B windows of T+1 consecutive tokens at random offsets,
// as (inputs, targets) = (x[o:o+T], x[o+1:o+T+1]). The offset of global row g at step s is
// uniform in [0, N-T) from counter_key(seed, s, g): a pure function of (seed, step, rank,
// world_size), so resuming at step s is bit-exact and rank r of W simply takes the global rows
// r, r+W, r+2W, ... of a global batch of B*W rows.
//
// SequentialWindows (evaluation): every token scored exactly once, in order, fairseq eval-lm
// style. The target stream is x itself when prefix_id >= 0 (the first token is predicted from
// prefix_id, usually eos: fairseq's count, 217,646 on WikiText-103 valid) or x[1:] otherwise.
// Window k scores targets [k*S, k*S+S) with S = seq_len - context, and is preceded by up to
// `context` earlier positions whose targets are -100 (C = 0: disjoint blocks; C = T-1: a sliding
// window). The last window is padded with pad_id inputs and -100 targets.
#pragma once
#include <ATen/ATen.h>

#include <cstdint>

#include "lmforge/data/token_span.h"

namespace lmforge::data {

constexpr int64_t kIgnoreIndex = -100;  // target value that the loss and metrics skip

struct LmBatch {
  at::Tensor inputs;   // (rows, T) int64
  at::Tensor targets;  // (rows, T) int64, kIgnoreIndex where unscored
};

class LmSampler {
 public:
  LmSampler(TokenSpan tokens, int64_t seq_len, int64_t batch_size, uint64_t seed,
            int64_t rank = 0, int64_t world_size = 1);
  // This rank's (batch_size, seq_len) batch of step `step`.
  LmBatch batch(int64_t step) const;
  // Window start of global row g at step s.
  int64_t offset(int64_t step, int64_t global_row) const;

  int64_t seq_len() const { return seq_len_; }
  int64_t batch_size() const { return batch_size_; }

 private:
  TokenSpan tokens_;
  int64_t seq_len_, batch_size_;
  uint64_t seed_;
  int64_t rank_, world_size_;
};

class SequentialWindows {
 public:
  SequentialWindows(TokenSpan tokens, int64_t seq_len, int64_t context = 0,
                    int64_t prefix_id = -1, int64_t pad_id = 0);
  int64_t num_windows() const { return num_windows_; }
  int64_t num_scored() const { return num_targets_; }  // targets over all windows
  // Windows [first, first + count) clipped to num_windows(), one per row.
  LmBatch batch(int64_t first, int64_t count) const;

 private:
  int64_t input_at(int64_t p) const;
  int64_t target_at(int64_t p) const;

  TokenSpan tokens_;
  int64_t seq_len_, context_, prefix_id_, pad_id_;
  int64_t num_targets_ = 0, stride_ = 0, num_windows_ = 0;
};

}  // namespace lmforge::data
