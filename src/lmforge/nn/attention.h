// Softmax multi-head attention (Vaswani et al. 2017), causal or bidirectional, with learned
// (added at the embedding), rotary or ALiBi positions, a KV cache for decoding, and an optional
// sliding window (local attention: query i sees keys i-window+1 .. i).
//
//   Attention(Q, K, V) = softmax(Q K^T / sqrt(d_h) + bias + mask) V
#pragma once
#include "lmforge/nn/components.h"
#include "lmforge/nn/dense.h"
#include "lmforge/ops/flash_attn/op.h"  // softmax_attention: the ATen core, also used by tests and routing

namespace lmforge {

struct AttentionOptions {
  int64_t n_heads = 4;
  int64_t head_dim = 0;  // 0: d_model / n_heads
  bool qkv_bias = true;
  bool out_bias = true;
  double attn_dropout = 0.0;
  double rope_base = 10000.0;
  int64_t window = 0;  // 0: full attention; else local attention over the last `window` keys
  // "flash": ops/flash_attn (tiled, O(L) memory); "aten": the L x L scores; "auto": flash except
  // bf16 on AMX machines with head_dim % 32 != 0 below 1024 keys (ATen's AMX matmuls win there).
  std::string core = "auto";
  template <class V>
  void visit(V& v) {
    v("n_heads", n_heads, "number of attention heads");
    v("head_dim", head_dim, "width of one head; 0 means d_model / n_heads");
    v("qkv_bias", qkv_bias, "bias on the fused query/key/value projection");
    v("out_bias", out_bias, "bias on the output projection");
    v("attn_dropout", attn_dropout, "dropout on the attention probabilities");
    v("rope_base", rope_base, "RoPE frequency base (position = \"rope\")");
    v("window", window, "sliding-window size for local attention; 0 = full");
    v("core", core,
      "\"flash\" (tiled CPU kernel, no L x L matrix; dropout falls back to aten), \"aten\" (L x L scores) or "
      "\"auto\" (flash, except bf16 on AMX with head_dim % 32 != 0 below 1024 keys)");
  }
};

class Attention : public Mixer {
 public:
  Attention(const AttentionOptions& o, const LayerContext& c);
  at::Tensor forward(const at::Tensor& x, ForwardContext& ctx) override;
  std::unique_ptr<MixerState> new_state() const override;
  at::Tensor step(const at::Tensor& x, MixerState& state, ForwardContext& ctx) override;
  double flops_per_token(int64_t seq_len) const override;
  MixerCapabilities capabilities() const override;
  // Keys and values from every row, the output projection on `rows` only.
  at::Tensor forward_rows(const at::Tensor& x, ForwardContext& ctx, const at::Tensor& rows) override;

 private:
  // q (B, H, L, Dh), k and v (B, H, S, Dh) -> (B, H, L, Dh): flash_attention, or the ATen core
  // when attention.core = "aten" or dropout is active.
  at::Tensor core(const at::Tensor& q, const at::Tensor& k, const at::Tensor& v, bool causal,
                  const at::Tensor& key_padding) const;
  // rows (defined): the output at those flat rows only, (n, D) (see Mixer::forward_rows).
  at::Tensor attend(const at::Tensor& x, const at::Tensor& k_past, const at::Tensor& v_past, ForwardContext& ctx,
                    at::Tensor* k_all, at::Tensor* v_all, const at::Tensor& rows = {});
  AttentionOptions opt_;
  LayerContext lc_;
  int64_t dh_;
  std::shared_ptr<Dense> qkv_, out_;
  at::Tensor alibi_slopes_;
};

}  // namespace lmforge
