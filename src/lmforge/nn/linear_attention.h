// Linear attention mixer with selectable feature maps (Katharopoulos et al. 2020; Hedgehog, Zhang
// et al. ICLR 2024; Performer, Choromanski et al. 2021; Based's Taylor map, Arora et al. 2024):
//   y_t = phi_q(q_t)^T S_t / (phi_q(q_t)^T z_t + eps),  S_t = sum_{s<=t} phi_k(k_s) v_s^T,  z_t = sum phi_k(k_s)
// computed by ops/linear_attention (chunked, fused forward and backward). Decoding carries (S, z)
// per head, so a generated token costs O(F * D) whatever the context length.
//
// Feature maps (per layer; Hedgehog's and Performer's are separate for queries and keys):
//   hedgehog   phi(x) = softmax([W x + b, -(W x + b)]) over the 2 d features, per-head W (d x d,
//              init identity) and b (init 0), trainable. The paper writes [exp(u), exp(-u)]; the
//              softmax divides each token's features by sum(exp(+-u)) -- exact for queries (it
//              cancels in the ratio), a per-key scale for keys -- and keeps every feature in (0, 1]
//              so nothing overflows in bf16 (the fla / LoLCATs "softmax over features" variant).
//              The same map is used in training, distillation and decoding.
//   elu        phi(x) = 1 + elu(x)                       (F = d)
//   relu       phi(x) = relu(x)                          (F = d; eps keeps 0/0 at 0)
//   performer  phi(x) = exp(w_i . x' - |x'|^2 / 2 - c) / sqrt(m), x' = x / d^(1/4), w_i ~ N(0, I),
//              m = n_features positive random features (FAVOR+); c = the query's own max for
//              queries (cancels), 0 for keys (w . x' - |x'|^2/2 <= |w|^2/2, bounded in fp32);
//              redraw() draws new w (redraw_every > 0 redraws every that many training forwards).
//   taylor     phi(x) = [1, x / d^(1/4), vec(x x^T) / (sqrt(2) sqrt(d))] so that
//              phi(q).phi(k) = 1 + q.k/sqrt(d) + (q.k)^2 / (2 d) (second-order Taylor of exp; > 0),
//              on q, k projected to qk_dim (default 16: F = 1 + 16 + 256 = 273).
// Numerics: q and k are widened to fp32 before the feature map, the op accumulates in fp32, and
// only the projections run in bf16 under autocast.
#pragma once
#include "lmforge/nn/components.h"
#include "lmforge/nn/dense.h"

namespace lmforge {

struct LinearAttentionMixerOptions {
  int64_t n_heads = 4;
  int64_t head_dim = 0;  // 0: d_model / n_heads (width of v per head)
  int64_t qk_dim = 0;    // width of q, k per head; 0: head_dim (taylor: 16)
  std::string feature_map = "hedgehog";
  int64_t n_features = 0;  // performer: random features per head; 0: qk_dim
  int64_t redraw_every = 0;
  int64_t chunk = 64;
  double eps = 1e-6;
  bool qkv_bias = true;
  bool out_bias = true;
  template <class V>
  void visit(V& v) {
    v("n_heads", n_heads, "number of heads");
    v("head_dim", head_dim, "width of one head's values; 0 means d_model / n_heads");
    v("qk_dim", qk_dim, "width of one head's queries and keys before the feature map; 0 = head_dim (taylor: 16)");
    v("feature_map", feature_map, "hedgehog | elu | relu | performer | taylor");
    v("n_features", n_features, "performer: random features per head; 0 = qk_dim");
    v("redraw_every", redraw_every, "performer: redraw the random features every N training forwards; 0 = never");
    v("chunk", chunk, "chunk length of the chunked causal kernel");
    v("eps", eps, "added to the denominator phi(q).z");
    v("qkv_bias", qkv_bias, "bias on the query/key/value projection");
    v("out_bias", out_bias, "bias on the output projection");
  }
};

// A feature map on (B, H, L, d) fp32 -> (B, H, L, F) fp32.
class FeatureMap : public torch::nn::Module {
 public:
  virtual at::Tensor forward(const at::Tensor& x, bool is_query) = 0;
  virtual int64_t dim() const = 0;
};

// Builds a map by name (ConfigError for an unknown one).
std::shared_ptr<FeatureMap> make_feature_map(const std::string& name, int64_t n_heads, int64_t d, int64_t n_features);

class LinearAttentionMixer : public Mixer {
 public:
  LinearAttentionMixer(const LinearAttentionMixerOptions& o, const LayerContext& c);
  at::Tensor forward(const at::Tensor& x, ForwardContext& ctx) override;
  std::unique_ptr<MixerState> new_state() const override;
  at::Tensor step(const at::Tensor& x, MixerState& state, ForwardContext& ctx) override;
  double flops_per_token(int64_t seq_len) const override;
  MixerCapabilities capabilities() const override;

  // The feature-mapped queries and keys (B, H, L, F) and values (B, H, L, Dv), fp32; for the
  // attention-distillation loss of `lmforge convert` and for tests.
  struct Projected {
    at::Tensor q, k, v, phi_q, phi_k;
  };
  Projected project(const at::Tensor& x, int64_t pos_offset);
  // Linear attention weights A_ij = phi(q_i).phi(k_j) / sum_{j'<=i} phi(q_i).phi(k_j') (B, H, L, L),
  // materialised (distillation only).
  at::Tensor attention_weights(const Projected& p, bool causal) const;
  // Attention distillation (Hedgehog's conversion, stage 1): while on, the layer outputs the
  // teacher's softmax attention of its own q, k, v (so a converted stack behaves exactly as the
  // frozen softmax model it came from) and adds to ctx.aux_losses["attn_distill.<layer>"] the
  // cross-entropy -mean_{b,h,i} sum_j A_ij log(Ahat_ij + 1e-9) between the teacher's causal softmax
  // weights A (fp32, no gradient) and the linear attention weights Ahat (materialised L x L).
  void set_distill(bool on) { distill_ = on; }
  bool distill() const { return distill_; }
  const std::shared_ptr<FeatureMap>& query_map() const { return phi_q_; }
  const std::shared_ptr<FeatureMap>& key_map() const { return phi_k_; }
  int64_t n_heads() const { return opt_.n_heads; }
  int64_t qk_dim() const { return dqk_; }
  int64_t head_dim() const { return dv_; }
  std::shared_ptr<Dense> qkv_, out_;

 private:
  at::Tensor attend(const Projected& p, bool causal) const;
  at::Tensor output(const at::Tensor& y, const at::Tensor& x) const;
  LinearAttentionMixerOptions opt_;
  LayerContext lc_;
  int64_t dqk_, dv_;
  std::shared_ptr<FeatureMap> phi_q_, phi_k_;
  int64_t forwards_ = 0;
  bool distill_ = false;
};

}  // namespace lmforge
