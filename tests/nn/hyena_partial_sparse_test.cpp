// Hyena with FlashFFTConv's partial convolution (hyena.partial: filters shorter than the sequence)
// and frequency-sparse convolution (hyena.freq_sparsity), chosen from [model.block.hyena]:
// partial with the full length is the dense model exactly; a partial filter of P taps gives a
// receptive field of P + short_filter - 1 tokens (the dense model's is the whole prefix); the fused
// operator equals the ATen reference with both options (values and gradients); a model with each
// option trains a step.
#include <gtest/gtest.h>

#include <torch/optim/sgd.h>

#include "lmforge/core/error.h"
#include "lmforge/models/language_model.h"
#include "lmforge/nn/hyena.h"
#include "lmforge/train/loss.h"

using namespace lmforge;

namespace {

constexpr int64_t kV = 50, kMaxLen = 64;

ModelConfig tiny(const std::string& hyena_opts) {
  toml::table t = parse_toml_string(
      "vocab_size = 50\nd_model = 16\nn_layers = 2\nmax_seq_len = 64\nposition = \"none\"\n[block]\nmixer = \"hyena\"\n"
      "hyena = { " + hyena_opts + " }\n",
      "test");
  return parse_model_config(&t, "model");
}

void copy_weights(const LanguageModel& from, LanguageModel& to) {
  torch::NoGradGuard ng;
  auto dst = to.named_parameters();
  for (const auto& p : from.named_parameters()) dst[p.key()].copy_(p.value());
}

// Hidden states and the gradients of a fixed function of them.
std::pair<at::Tensor, std::map<std::string, at::Tensor>> run(LanguageModel& m, const at::Tensor& x) {
  m.zero_grad();
  ForwardContext c;
  at::Tensor h = m.hidden(x, c);
  (h * at::linspace(-1, 1, h.numel()).view(h.sizes())).sum().backward();
  std::map<std::string, at::Tensor> g;
  for (const auto& p : m.named_parameters())
    if (p.value().grad().defined()) g[p.key()] = p.value().grad().clone();
  return {h.detach(), g};
}

double max_diff(const at::Tensor& a, const at::Tensor& b) { return (a - b).abs().max().item<double>(); }

}  // namespace

TEST(HyenaPartialSparse, KeysReachTheMixer) {
  ModelConfig mc = tiny("partial = 8, freq_sparsity = 0.5");
  toml::table resolved = model_config_to_toml(mc);
  const toml::table& h = *(*resolved["blocks"].as_array())[0].as_table()->get("hyena")->as_table();
  EXPECT_EQ(h["partial"].value<int64_t>(), 8);
  EXPECT_EQ(h["freq_sparsity"].value<double>(), 0.5);
}

TEST(HyenaPartialSparse, PartialWithTheFullLengthEqualsDense) {
  at::manual_seed(1);
  LanguageModel dense(tiny("order = 2"));
  at::Tensor x = at::randint(0, kV, {2, 40}, at::kLong);
  auto [hd, gd] = run(dense, x);
  // partial = the sequence length, and longer than it (clipped to L): the same model.
  for (const char* p : {"partial = 40", "partial = 64", "partial = 1000"}) {
    LanguageModel part(tiny(p));
    copy_weights(dense, part);
    auto [hp, gp] = run(part, x);
    EXPECT_TRUE(at::equal(hp, hd)) << p << " max diff " << max_diff(hp, hd);
    ASSERT_EQ(gp.size(), gd.size());
    for (const auto& [k, g] : gd) EXPECT_TRUE(at::equal(gp.at(k), g)) << p << " " << k;
  }
}

// Filters whose far taps matter: no decay window, the filter MLP's uniform init (safari's default
// gives taps ~1e-3 at a few tokens' distance, too close to float noise for the checks below).
const char* kStrongFilters = "modulate = false, filter_init_std = 0.0";

TEST(HyenaPartialSparse, PartialFilterLimitsTheReceptiveField) {
  // One Hyena layer (order 2, short filter 3, filter of P taps): y_t reads x_{t-P-1} .. x_t.
  const int64_t P = 6, L = 40, t = 30;
  for (const std::string opts : {"partial = 6", "partial = 0"}) {
    toml::table tt = parse_toml_string(
        std::string("vocab_size = 50\nd_model = 16\nn_layers = 1\nmax_seq_len = 64\nposition = \"none\"\n"
                    "init_std = 0.5\nfinal_norm = false\n[block]\nmixer = \"hyena\"\nffn = \"none\"\nhyena = { ") + opts + ", " +
            kStrongFilters + " }\n", "test");
    at::manual_seed(2);
    LanguageModel m(parse_model_config(&tt, "model"));
    m.eval();
    at::Tensor a = at::randint(0, kV, {1, L}, at::kLong), near = a.clone(), far = a.clone();
    near[0][t - P - 1] = (a[0][t - P - 1].item<int64_t>() + 1) % kV;  // just inside the field
    far[0][t - P - 2] = (a[0][t - P - 2].item<int64_t>() + 1) % kV;   // just outside
    ForwardContext c1, c2, c3;
    at::Tensor ya = m.hidden(a, c1)[0][t], yn = m.hidden(near, c2)[0][t], yf = m.hidden(far, c3)[0][t];
    const double scale = ya.abs().max().item<double>();  // O(1) with init_std 0.5
    EXPECT_GT(max_diff(ya, yn), 1e-3 * scale) << opts;
    if (opts == "partial = 6") EXPECT_LT(max_diff(ya, yf), 1e-6 * scale) << opts;  // float noise of the FFT only
    else EXPECT_GT(max_diff(ya, yf), 1e-3 * scale) << opts;  // the dense filter reaches back to t - P - 2
  }
}

TEST(HyenaPartialSparse, FusedEqualsReferenceWithEachOption) {
  for (const std::string opts : {"partial = 12", "freq_sparsity = 0.5", "partial = 20, freq_sparsity = 0.25"}) {
    at::manual_seed(3);
    LanguageModel fused(tiny(opts)), ref(tiny(opts + ", fused = false"));
    copy_weights(fused, ref);
    at::Tensor x = at::randint(0, kV, {2, 48}, at::kLong);
    auto [hf, gf] = run(fused, x);
    auto [hr, gr] = run(ref, x);
    EXPECT_LT(max_diff(hf, hr), 1e-4) << opts;
    for (const auto& [k, g] : gr) EXPECT_LT(max_diff(gf.at(k), g), 1e-3 * (1 + g.abs().max().item<double>())) << opts << " " << k;
  }
}

TEST(HyenaPartialSparse, EachOptionChangesTheModelAndTrainsAStep) {
  at::manual_seed(4);
  LanguageModel dense(tiny(kStrongFilters));
  at::Tensor x = at::randint(0, kV, {2, 33}, at::kLong);
  at::Tensor in = x.narrow(1, 0, 32), tgt = x.narrow(1, 1, 32);
  ForwardContext cd;
  const at::Tensor hd = dense.hidden(in, cd).detach();
  for (const std::string opts : {"partial = 8", "freq_sparsity = 0.5"}) {
    LanguageModel m(tiny(opts + ", " + kStrongFilters));
    copy_weights(dense, m);
    torch::optim::SGD sgd(m.parameters(), torch::optim::SGDOptions(0.5));
    double first = 0;
    for (int step = 0; step < 3; ++step) {
      sgd.zero_grad();
      ForwardContext c;
      at::Tensor h = m.hidden(in, c);
      if (step == 0) EXPECT_GT(max_diff(h.detach(), hd), 1e-5) << opts << ": the option must change the output";
      auto [sum, n] = lm_loss_sum(m, h, tgt);
      at::Tensor loss = sum / static_cast<double>(n);
      ASSERT_TRUE(loss.isfinite().item<bool>()) << opts;
      loss.backward();
      sgd.step();
      if (step == 0) first = loss.item<double>();
      else if (step == 2) EXPECT_LT(loss.item<double>(), first) << opts;
    }
  }
}

TEST(HyenaPartialSparse, RejectsBadValues) {
  EXPECT_THROW(LanguageModel(tiny("partial = -1")), ConfigError);
  EXPECT_THROW(LanguageModel(tiny("freq_sparsity = 1.0")), ConfigError);
  EXPECT_THROW(LanguageModel(tiny("freq_sparsity = -0.1")), ConfigError);
}
