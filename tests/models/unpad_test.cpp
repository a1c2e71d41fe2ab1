// Unpadding oracle (MosaicBERT spec): the unpadded classifier equals the padded one on the same
// batch (fp32, 1e-5), for ALiBi + GLU + post-LN and for learned positions + token types, and its
// gradients match too.
#include <gtest/gtest.h>
#include <toml++/toml.h>

#include "lmforge/models/model_config.h"
#include "lmforge/models/sequence_classifier.h"

namespace {
lmforge::ModelConfig config(const std::string& extra) {
  toml::table t = toml::parse(
      "kind = \"encoder\"\nvocab_size = 50\nd_model = 16\nn_layers = 2\nmax_seq_len = 32\ntype_vocab_size = 2\n"
      "embed_norm = true\nfinal_norm = false\n" + extra);
  return lmforge::parse_model_config(&t);
}
void check(const std::string& extra, bool training = false) {
  at::manual_seed(1);
  auto clf = std::make_shared<lmforge::SequenceClassifier>(std::make_shared<lmforge::LanguageModel>(config(extra)), 3, 0.0);
  clf->train(training);
  at::Tensor ids = at::randint(5, 50, {3, 9});
  at::Tensor seg = at::zeros({3, 9}, at::kLong);
  seg.narrow(1, 5, 4).fill_(1);
  at::Tensor keep = at::ones({3, 9}, at::kBool);
  keep[0].narrow(0, 4, 5).fill_(false);
  keep[2].narrow(0, 7, 2).fill_(false);
  // Stateful layers (PowerNorm's running statistics and step) must see the same state in both.
  std::vector<at::Tensor> state;
  for (const auto& b : clf->buffers()) state.push_back(b.clone());
  clf->set_unpad(false);
  at::Tensor a = clf->forward(ids, seg, keep);
  a.sum().backward();
  at::Tensor ga = clf->named_parameters()["backbone.layers.0.mixer.qkv.weight"].grad().clone();
  for (auto& p : clf->parameters()) p.mutable_grad() = at::Tensor();
  {
    torch::NoGradGuard ng;
    auto bufs = clf->buffers();
    for (size_t i = 0; i < bufs.size(); ++i) bufs[i].copy_(state[i]);
  }
  clf->set_unpad(true);
  ASSERT_TRUE(clf->unpad());
  at::Tensor b = clf->forward(ids, seg, keep);
  b.sum().backward();
  at::Tensor gb = clf->named_parameters()["backbone.layers.0.mixer.qkv.weight"].grad();
  EXPECT_LT((a - b).abs().max().item<double>(), 1e-5) << extra << (training ? " (training)" : " (eval)");
  EXPECT_LT((ga - gb).abs().max().item<double>(), 1e-5) << extra;
}
}  // namespace

TEST(Unpad, MatchesPaddedAlibiGlu) {
  check("position = \"alibi\"\n[block]\nnorm_position = \"post\"\nffn = \"glu\"\nattention = { n_heads = 4 }\n");
}

TEST(Unpad, MatchesPaddedLearnedPositions) {
  check("position = \"learned\"\n[block]\nnorm_position = \"post\"\nattention = { n_heads = 2 }\n");
}

// Layers that pool statistics over the tokens (MoE balance and capacity, PowerNorm's batch
// statistics) see the packed tokens as all real: they crashed on the (B, L) padding mask before.
TEST(Unpad, MatchesPaddedMoeAndPowerNorm) {
  const std::string moe = "position = \"learned\"\n[block]\nffn = \"moe\"\nattention = { n_heads = 2 }\n"
                          "moe = { n_experts = 4, top_k = 2, hidden = 8 }\n";
  const std::string pn = "position = \"learned\"\n[block]\nnorm = \"powernorm\"\nattention = { n_heads = 2 }\n";
  for (bool training : {false, true}) {
    check(moe, training);
    // In training PowerNorm normalises by the batch statistic of the real tokens; the embedding
    // norm (embed_norm = true) used to see the pads too in the padded path (7e-4 apart).
    check(pn, training);
    check(pn + "powernorm = { exact = true }\n", training);
  }
}
