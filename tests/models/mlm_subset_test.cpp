// MosaicBERT's last-layer subset trick (data.mlm.last_layer_subset; LanguageModel::hidden_rows,
// Block::forward_rows, Mixer::forward_rows): running the last layer's output path and the head on
// the masked rows only gives the same MLM loss and the same gradients for every parameter as the
// full forward followed by picking those rows. Post-LN MosaicBERT (ALiBi, GLU, head transform and
// bias) and a pre-LN encoder (RoPE, final norm) with a mixer that has no forward_rows of its own.
// The config check refuses a last layer whose norm or feed-forward pools over tokens.
#include <gtest/gtest.h>

#include "../test_util.h"
#include "lmforge/core/error.h"
#include "lmforge/models/language_model.h"
#include "lmforge/train/loss.h"

using namespace lmforge;

namespace {

constexpr int64_t V = 40;

ModelConfig mosaic(const std::string& block_extra, const std::string& model_extra) {
  toml::table t = parse_toml_string(
      "kind = \"encoder\"\nvocab_size = 40\nd_model = 32\nn_layers = 3\nmax_seq_len = 64\ntype_vocab_size = 2\n" +
          model_extra + "[block]\nmixer = \"attention\"\nattention = { n_heads = 4 }\n" + block_extra,
      "test");
  return parse_model_config(&t, "model");
}

const char* kPostLn =
    "ffn = \"glu\"\nnorm_position = \"post\"\nglu = { hidden = 48, activation = \"gelu\", bias = true }\n";
const char* kMosaicModel =
    "position = \"alibi\"\nembed_norm = true\nfinal_norm = false\nhead_transform = true\nhead_bias = true\n";

struct Result {
  double loss = 0;
  int64_t count = 0;
  std::map<std::string, at::Tensor> grads;
};

// MLM targets: about 30% of the positions scored, the rest -100.
at::Tensor mlm_targets(const at::Tensor& ids) {
  at::Tensor y = ids.clone();
  y.masked_fill_(at::rand(ids.sizes()) > 0.3, -100);
  y[0][0] = 5;  // at least one
  return y;
}

Result run(LanguageModel& m, const at::Tensor& ids, const at::Tensor& y, bool subset) {
  m.zero_grad();
  ForwardContext ctx;
  at::Tensor sum;
  int64_t n = 0;
  if (subset) {
    at::Tensor flat = y.reshape({-1});
    at::Tensor rows = (flat != -100).nonzero().squeeze(1);
    at::Tensor h = m.hidden_rows(ids, ctx, rows);
    EXPECT_EQ(h.size(0), rows.size(0));
    sum = m.loss_sum(h, flat.index_select(0, rows));
    n = rows.size(0);
  } else {
    std::tie(sum, n) = lm_loss_sum(m, m.hidden(ids, ctx), y);
  }
  for (const auto& [k, v] : ctx.aux_losses) sum = sum + v;
  (sum / static_cast<double>(n)).backward();
  Result r{sum.item<double>(), n, {}};
  for (const auto& p : m.named_parameters())
    if (p.value().grad().defined()) r.grads[p.key()] = p.value().grad().clone();
  return r;
}

void expect_same(const Result& full, const Result& sub, const std::string& what) {
  EXPECT_EQ(full.count, sub.count) << what;
  EXPECT_NEAR(sub.loss, full.loss, 1e-5 * std::abs(full.loss)) << what;
  ASSERT_EQ(full.grads.size(), sub.grads.size()) << what;
  for (const auto& [k, g] : full.grads) {
    const double scale = 1e-5 * (1.0 + g.abs().max().item<double>());
    EXPECT_LT((sub.grads.at(k) - g).abs().max().item<double>(), scale) << what << ": " << k;
  }
}

// The full forward and the subset forward of one model (training mode: dropout is 0, so it must not
// change what is computed) on the same batch.
void expect_subset_equals_full(const ModelConfig& c, int64_t B, int64_t L, const std::string& what) {
  LanguageModel m(c);
  m.train();
  at::Tensor ids = at::randint(V, {B, L});
  at::Tensor y = mlm_targets(ids);
  expect_same(run(m, ids, y, false), run(m, ids, y, true), what);
}

}  // namespace

TEST(MlmSubset, MosaicBertLastLayerOnMaskedRowsEqualsFullLossAndGradients) {
  at::manual_seed(1);
  expect_subset_equals_full(mosaic(kPostLn, kMosaicModel), 3, 24, "post-LN mosaic");
}

TEST(MlmSubset, PreLnAndAMixerWithoutItsOwnRowPath) {
  at::manual_seed(2);
  // Layers 0-1 attention, the last one linear attention (the default forward_rows: all rows, then gather).
  const std::string blocks = "ffn = \"mlp\"\nnorm_position = \"pre\"\n[[blocks]]\nrepeat = 2\n[[blocks]]\nrepeat = 1\n"
                             "mixer = \"linear_attention\"\n";
  expect_subset_equals_full(mosaic(blocks, "position = \"rope\"\nfinal_norm = true\n"), 2, 20, "pre-LN, linear attention last");
}

TEST(MlmSubset, CarriedLayerStateIsRefused) {
  at::manual_seed(3);
  LanguageModel m(mosaic("ffn = \"moe\"\nmoe = { n_experts = 2, top_k = 1, hidden = 8, momentum = \"heavy_ball\" }\n",
                         "position = \"alibi\"\n"));
  at::Tensor ids = at::randint(V, {1, 8});
  ForwardContext ctx;
  try {
    m.hidden_rows(ids, ctx, at::arange(3));
    FAIL() << "no error";
  } catch (const UserError& e) {
    EXPECT_NE(std::string(e.what()).find("data.mlm.last_layer_subset"), std::string::npos) << e.what();
  }
}

TEST(MlmSubset, ConfigRefusesALastLayerThatPoolsOverTokens) {
  test::TempDir d("mlmsub");
  const std::string base = "pretrain -c mosaicbert-tiny --set data.mlm.last_layer_subset=true --set data.train=" +
                           (d / "none.txt") + " --out " + (d / "r");
  auto r = test::run_lmforge(base + " --set model.block.norm=powernorm");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("needs a row-wise norm in the last layer"), std::string::npos) << r.output;
  r = test::run_lmforge(base + " --set model.block.ffn=moe");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("cannot be used with model.block.ffn = \"moe\""), std::string::npos) << r.output;
}
