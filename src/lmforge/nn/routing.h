// Routing Transformer attention (Roy, Saffar, Vaswani, Grangier, TACL 2021): a layer whose heads are
// split between local heads (causal sliding window) and routing heads (content-based sparse attention).
//
// Routing head (shared QK, as in the paper's decoders): x = layer_norm(q) (no affine), k := x.
// Online mini-batch k-means: centroids mu (per head, K x d, buffers), scores x . mu^T (= -distance,
// as both are normalised). Attention happens inside clusters, scaled by 1/sqrt(d):
//   assignment = "nearest" (default): each token joins its nearest centroid; the tokens are sorted by
//     (cluster, position) and each attends to the previous `cluster_window` members of its cluster
//     (band over the sorted order, ops/banded_attn). Every decision depends on the token alone and
//     only earlier keys are seen, so causality is exact; the blocked layout costs O(L w d) whatever the
//     balance of the clusters.
//   assignment = "balanced" (the paper's top-w routing): each cluster takes the w tokens with the
//     highest score; attention inside the cluster in position order (causal mask by position);
//     outputs of a token routed to several clusters are averaged, unrouted tokens get 0. Who gets
//     routed where depends on the whole sequence, so in a decoder a future token can change a past
//     token's cluster membership (the published method's known leak): use it for encoders or for
//     reproduction, not when causality must be exact.
// Centroid update (training only, no gradient): EMA with decay lambda of counts and sums of the
// tokens nearest to each centroid (padding excluded), mu = sums / (counts + 1e-5), renormalised.
// Commitment loss beta * mean ||x - sg(mu(x))||^2 goes to ForwardContext::aux_losses.
// Local heads: q, k, v projections, RoPE when position = "rope" (routing heads use no positions).
#pragma once
#include "lmforge/nn/components.h"
#include "lmforge/nn/dense.h"

namespace lmforge {

struct RoutingOptions {
  int64_t n_heads = 4;
  int64_t n_routing_heads = 2;
  int64_t head_dim = 0;         // 0: d_model / n_heads
  int64_t window = 64;          // local heads: sliding window (0 = full causal attention)
  int64_t n_clusters = 0;       // 0: round(sqrt(max_seq_len))
  int64_t cluster_window = 0;   // routing heads: w; 0 = ceil(L / n_clusters) at run time
  std::string assignment = "nearest";
  double decay = 0.999;
  double commitment = 1e-4;
  bool qkv_bias = true;
  bool out_bias = true;
  double rope_base = 10000.0;
  template <class V>
  void visit(V& v) {
    v("n_heads", n_heads, "attention heads in all (local + routing)");
    v("n_routing_heads", n_routing_heads, "how many of the heads are routing heads (the rest are local)");
    v("head_dim", head_dim, "width of one head; 0 means d_model / n_heads");
    v("window", window, "sliding window of the local heads; 0 = full causal attention");
    v("n_clusters", n_clusters, "k-means clusters per routing head; 0 = round(sqrt(max_seq_len))");
    v("cluster_window", cluster_window, "routing heads: keys per query inside a cluster (w); 0 = ceil(L / n_clusters)");
    v("assignment", assignment, "nearest (exactly causal) | balanced (the paper's top-w per cluster)");
    v("decay", decay, "EMA decay of the centroid statistics");
    v("commitment", commitment, "weight of the k-means commitment loss (aux loss); 0 = off");
    v("qkv_bias", qkv_bias, "bias on the input projection");
    v("out_bias", out_bias, "bias on the output projection");
    v("rope_base", rope_base, "RoPE base for the local heads (position = \"rope\")");
  }
};

class RoutingAttention : public Mixer {
 public:
  RoutingAttention(const RoutingOptions& o, const LayerContext& c);
  at::Tensor forward(const at::Tensor& x, ForwardContext& ctx) override;
  double flops_per_token(int64_t seq_len) const override;

  // Routing heads only, on normalised vectors xr (B, Hr, L, d) and values (B, Hr, L, dv).
  at::Tensor route(const at::Tensor& xr, const at::Tensor& v, const at::Tensor& valid, bool causal, int64_t L);
  // One EMA k-means step on normalised vectors xr (B, Hr, L, d); valid (B, L) or undefined.
  void update_centroids(const at::Tensor& xr, const at::Tensor& valid);
  int64_t n_clusters() const { return k_; }

  at::Tensor centroids, ema_counts, ema_sums;  // (Hr, K, d), (Hr, K), (Hr, K, d)

 private:
  int64_t cluster_window(int64_t L) const;
  RoutingOptions opt_;
  LayerContext lc_;
  int64_t dh_, hl_, hr_, k_;
  std::shared_ptr<Dense> in_, out_;
};

}  // namespace lmforge
