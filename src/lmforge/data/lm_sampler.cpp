// Training and evaluation windows for language modelling; see lm_sampler.h.
#include "lmforge/data/lm_sampler.h"

#include "lmforge/core/error.h"
#include "lmforge/data/counter_rng.h"

namespace lmforge::data {

LmSampler::LmSampler(TokenSpan tokens, int64_t seq_len, int64_t batch_size, uint64_t seed,
                     int64_t rank, int64_t world_size)
    : tokens_(tokens), seq_len_(seq_len), batch_size_(batch_size), seed_(seed), rank_(rank),
      world_size_(world_size) {
  LMF_REQUIRE(seq_len >= 1, ConfigError, "seq_len: expected >= 1, got ", seq_len);
  LMF_REQUIRE(batch_size >= 1, ConfigError, "batch_size: expected >= 1, got ", batch_size);
  LMF_REQUIRE(world_size >= 1 && rank >= 0 && rank < world_size, ConfigError, "rank ", rank,
              " of world size ", world_size, ": expected 0 <= rank < world_size");
  LMF_REQUIRE(tokens.size >= seq_len + 1, InputError, "training data has ", tokens.size,
              " tokens, fewer than seq_len + 1 = ", seq_len + 1);
}

int64_t LmSampler::offset(int64_t step, int64_t global_row) const {
  uint64_t key = counter_key(seed_, static_cast<uint64_t>(step), static_cast<uint64_t>(global_row));
  return static_cast<int64_t>(uniform_below(key, static_cast<uint64_t>(tokens_.size - seq_len_)));
}

LmBatch LmSampler::batch(int64_t step) const {
  at::Tensor window = at::empty({batch_size_, seq_len_ + 1}, at::kLong);
  int64_t* w = window.data_ptr<int64_t>();
  for (int64_t i = 0; i < batch_size_; ++i)
    tokens_.copy(offset(step, rank_ + world_size_ * i), seq_len_ + 1, w + i * (seq_len_ + 1));
  return {window.narrow(1, 0, seq_len_).contiguous(), window.narrow(1, 1, seq_len_).contiguous()};
}

SequentialWindows::SequentialWindows(TokenSpan tokens, int64_t seq_len, int64_t context,
                                     int64_t prefix_id, int64_t pad_id)
    : tokens_(tokens), seq_len_(seq_len), context_(context), prefix_id_(prefix_id),
      pad_id_(pad_id) {
  LMF_REQUIRE(seq_len >= 1, ConfigError, "seq_len: expected >= 1, got ", seq_len);
  LMF_REQUIRE(context >= 0 && context < seq_len, ConfigError, "context: expected 0 <= context < ",
              "seq_len = ", seq_len, ", got ", context);
  num_targets_ = prefix_id >= 0 ? tokens.size : std::max<int64_t>(tokens.size - 1, 0);
  stride_ = seq_len - context;
  num_windows_ = (num_targets_ + stride_ - 1) / stride_;
}

int64_t SequentialWindows::input_at(int64_t p) const {
  if (prefix_id_ >= 0) return p == 0 ? prefix_id_ : tokens_[p - 1];
  return tokens_[p];
}

int64_t SequentialWindows::target_at(int64_t p) const {
  return prefix_id_ >= 0 ? tokens_[p] : tokens_[p + 1];
}

LmBatch SequentialWindows::batch(int64_t first, int64_t count) const {
  LMF_REQUIRE(first >= 0 && first < num_windows_ && count >= 1, InputError, "windows [", first,
              ", ", first + count, ") outside [0, ", num_windows_, ")");
  const int64_t rows = std::min(count, num_windows_ - first);
  at::Tensor in = at::full({rows, seq_len_}, pad_id_, at::kLong);
  at::Tensor tg = at::full({rows, seq_len_}, kIgnoreIndex, at::kLong);
  int64_t* ip = in.data_ptr<int64_t>();
  int64_t* tp = tg.data_ptr<int64_t>();
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t begin = (first + r) * stride_;
    const int64_t end = std::min(begin + stride_, num_targets_);
    const int64_t ctx = std::min(context_, begin);
    int64_t col = 0;
    for (int64_t p = begin - ctx; p < end; ++p, ++col) {
      ip[r * seq_len_ + col] = input_at(p);
      if (p >= begin) tp[r * seq_len_ + col] = target_at(p);
    }
  }
  return {in, tg};
}

}  // namespace lmforge::data
