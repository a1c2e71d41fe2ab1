// The Hyena operator (Poli et al. 2023, "Hyena Hierarchy: Towards Larger Convolutional Language
// Models"; layout of HazyResearch/safari src/models/sequence/hyena.py), order N >= 2:
//   z = in_proj(x) (B, L, (N+1) D) -> depthwise causal conv, kernel 3 -> split [x0, x1, .., x_{N-1}, v]
//   for i = N-1 .. 1:  v = causal_conv(v * x_i, h_i) + b_i * (v * x_i)     (long conv, FFT)
// (optionally with FlashFFTConv's partial or frequency-sparse convolution: options `partial`,
// `freq_sparsity`)
//   y = out_proj(v * x0)
// The long filters h_i (D channels, length L) are implicit: h = MLP(z_pos(t)) * exp(-|delta_c| t),
// with positional features z_pos(t) = [t, cos(2 pi f_k t'), -sin(2 pi f_k t')], an MLP of sine
// activations sin(w x) (one trainable w shared by all layers of the MLP), and a fixed exponential
// decay per channel (|delta| from 3.07 to 15.35). Each step of the recurrence is one call of the
// fused ops/fftconv kernel (gate, FFT long convolution, skip, and for the last step the output
// gate x0), so the only tensors written between steps are v's. The short convolution is the fused
// ops/shortconv kernel: it reads in_proj's (B, L, (N+1) D) output once and writes each part as a
// contiguous channel-major (B, D, L) tensor, so no transpose or split copies are made.
#pragma once
#include "lmforge/nn/components.h"
#include "lmforge/nn/dense.h"
#include "lmforge/nn/param_groups.h"

namespace lmforge {

struct HyenaOptions {
  int64_t order = 2;          // N: N gates, N-1 long convolutions
  int64_t filter_order = 64;  // width of the implicit filter MLP
  int64_t emb_dim = 3;        // positional features (odd, >= 3): t and (emb_dim-1)/2 complex bands
  int64_t short_filter = 3;   // kernel of the depthwise causal convolution after in_proj
  double sine_freq = 1.0;     // initial w of the sine activation (safari: 1, Pile 14, synthetics 10)
  double decay_fast = 0.3;    // modulation: the fastest channel decays to `decay_target` at t = 0.3
  double decay_slow = 1.5;    //   and the slowest at t = 1.5
  double decay_target = 1e-2;
  bool modulate = true;
  bool fused = true;          // fused shortconv + fftconv ops (false: the ATen reference, for checks)
  bool gated = true;          // false: no multiplicative gates (a plain long convolution, the
                              // ablation of the MQAR experiment); x0..x_{N-1} are then unused
  // Optimisation of the implicit filter, as safari trains it (HyenaFilter's `_optim` hints): the
  // filter MLP and its sine frequencies in their own optimizer group (lr = filter_lr_scale x the
  // run's lr, weight decay filter_weight_decay), the positional features z with lr
  // pos_emb_lr_scale x the run's lr (0: fixed, as safari's synthetics set lr_pos_emb = 0).
  double filter_lr_scale = 1.0;
  double filter_weight_decay = 0.0;
  double pos_emb_lr_scale = 0.0;
  // Filter MLP initialisation: safari's LM re-initialises every nn.Linear, the filter MLP's
  // included, to N(0, 0.02^2) weights and zero biases (simple_lm.py / long_conv_lm.py
  // _init_weights). 0 = PyTorch's default uniform(+-1/sqrt(fan_in)) of the bare HyenaFilter module.
  double filter_init_std = 0.02;
  // FlashFFTConv's two cheaper convolutions (Fu et al. 2023, sec. 3.3; ops/fftconv):
  // partial: the long filters have only this many taps (0 = as long as the sequence), so the filter
  // MLP runs on `partial` positions and the FFT is of size >= L + partial - 1 instead of 2L;
  // freq_sparsity: this share of the filter's frequency rows is zeroed (low-pass, aligned to the
  // Monarch blocks so the kernel skips those sub-FFTs).
  int64_t partial = 0;
  double freq_sparsity = 0.0;
  template <class V>
  void visit(V& v) {
    v("order", order, "Hyena order N >= 2 (N gates, N-1 long convolutions)");
    v("filter_order", filter_order, "width of the implicit filter MLP");
    v("emb_dim", emb_dim, "positional features of the filter MLP (odd, >= 3)");
    v("short_filter", short_filter, "kernel size of the short depthwise causal convolution");
    v("sine_freq", sine_freq, "initial frequency w of the sine activations sin(w x)");
    v("decay_fast", decay_fast, "position (in [0,1] units) where the fastest channel's filter reaches decay_target");
    v("decay_slow", decay_slow, "same for the slowest channel");
    v("decay_target", decay_target, "filter magnitude the decay reaches");
    v("modulate", modulate, "multiply the filters by the exponential decay window");
    v("fused", fused, "use the fused short-conv and FFT-convolution operators (false: plain ATen reference)");
    v("gated", gated, "multiplicative gates (false: ungated long convolution, for ablations)");
    v("filter_lr_scale", filter_lr_scale, "learning rate of the filter MLP and sine frequencies, x train.lr");
    v("filter_weight_decay", filter_weight_decay, "weight decay of the filter MLP and sine frequencies");
    v("pos_emb_lr_scale", pos_emb_lr_scale, "learning rate of the filter's positional features, x train.lr (0 = fixed)");
    v("filter_init_std", filter_init_std, "std of the filter MLP's normal init, zero biases (0 = uniform +-1/sqrt(fan_in))");
    v("partial", partial, "FlashFFTConv partial convolution: filter taps (0 = the sequence length)");
    v("freq_sparsity", freq_sparsity, "FlashFFTConv frequency-sparse convolution: share of frequency rows zeroed, [0, 1)");
  }
};

class Hyena : public Mixer, public ParamGroupProvider {
 public:
  Hyena(const HyenaOptions& o, const LayerContext& c);
  at::Tensor forward(const at::Tensor& x, ForwardContext& ctx) override;
  double flops_per_token(int64_t seq_len) const override;
  // "hyena.filter" (filter MLP + sine frequencies) and "hyena.pos_emb" (z, when trained).
  std::vector<ParamGroupHint> param_group_hints() const override;
  // The long filters for length L: (N-1, D, L), and the skip biases (N-1, D).
  at::Tensor filters(int64_t L) const;
  at::Tensor skip_bias() const { return filter_bias_.view({opt_.order - 1, lc_.d_model}); }

 private:
  HyenaOptions opt_;
  LayerContext lc_;
  std::shared_ptr<Dense> in_proj_, out_proj_;
  std::vector<std::shared_ptr<Dense>> mlp_;
  at::Tensor short_w_, short_b_;  // ((N+1) D, 1, K), ((N+1) D)
  at::Tensor pos_z_, pos_t_;      // (Lmax, emb_dim) trainable, (Lmax, 1) fixed
  at::Tensor sine_w_;             // (filter_order) shared by every sine activation
  at::Tensor decay_;              // ((N-1) D) |delta|, fixed
  at::Tensor filter_bias_;        // ((N-1) D) the skip "D" terms
};

}  // namespace lmforge
