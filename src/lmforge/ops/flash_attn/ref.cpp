// The oracle of flash_attention (op.h): the whole L x S score matrix in plain ATen.
#include <cmath>
#include <limits>

#include "lmforge/ops/flash_attn/op.h"

namespace lmforge {

at::Tensor attention_hidden_mask(int64_t L, int64_t S, bool causal, int64_t window, const at::Tensor& key_padding,
                                 at::Device device) {
  if (!causal && window <= 0 && !key_padding.defined()) return at::Tensor();
  auto opts = at::TensorOptions().dtype(at::kLong).device(device);
  at::Tensor qi = at::arange(S - L, S, opts).unsqueeze(1), kj = at::arange(0, S, opts).unsqueeze(0);
  at::Tensor hidden = at::zeros({L, S}, opts.dtype(at::kBool));
  if (causal) hidden = hidden | (kj > qi);
  if (window > 0) {
    hidden = hidden | (kj <= qi - window);
    if (!causal) hidden = hidden | (kj >= qi + window);
  }
  hidden = hidden.view({1, 1, L, S});
  if (key_padding.defined()) hidden = hidden | key_padding.logical_not().view({-1, 1, 1, S});
  return hidden;
}

at::Tensor softmax_attention(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, bool causal,
                             int64_t window, const at::Tensor& bias, const at::Tensor& key_padding, double dropout,
                             bool training, double scale) {
  if (scale <= 0) scale = 1.0 / std::sqrt(static_cast<double>(q.size(3)));
  at::Tensor scores = at::matmul(q * scale, k.transpose(-2, -1));  // scale q (L x d), not the L x S scores
  if (bias.defined()) scores = scores + bias.to(scores.scalar_type());
  at::Tensor hidden = attention_hidden_mask(q.size(2), k.size(2), causal, window, key_padding, q.device());
  if (hidden.defined()) scores = scores.masked_fill(hidden, -std::numeric_limits<double>::infinity());
  at::Tensor p = at::softmax(scores, -1);
  if (key_padding.defined()) p = p.nan_to_num(0.0);  // rows with no visible key (only padding hides all)
  if (dropout > 0 && training) p = at::dropout(p, dropout, true);
  return at::matmul(p, v);
}

at::Tensor flash_attention_ref(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v,
                               const FlashAttentionOptions& o, double dropout, bool training) {
  at::Tensor bias;
  if (o.alibi_slopes.defined()) {  // -slope_h |i - j| (its value at hidden keys does not matter)
    const int64_t L = q.size(2), S = k.size(2);
    auto opts = at::TensorOptions().dtype(at::kFloat).device(q.device());
    at::Tensor dist = (at::arange(S - L, S, opts).unsqueeze(1) - at::arange(0, S, opts).unsqueeze(0)).abs();
    bias = -o.alibi_slopes.to(at::kFloat).view({-1, 1, 1}) * dist;
  }
  return softmax_attention(q, k, v, o.causal, o.window, bias, o.key_padding, dropout, training, o.scale);
}

}  // namespace lmforge
