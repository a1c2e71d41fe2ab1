// Generation: batched decoding equals one prompt at a time (greedy and sampled, rows stopping at
// different steps), beam search with one beam is greedy, and a wide beam finds the exhaustive
// optimum on a small vocabulary; for an attention, a linear-attention and a Hyena (history state) model.
#include <algorithm>
#include <cmath>

#include <gtest/gtest.h>
#include <toml++/toml.h>

#include "lmforge/core/error.h"
#include "lmforge/eval/generate.h"
#include "lmforge/models/language_model.h"

using namespace lmforge;

namespace {

constexpr int64_t V = 7;

std::shared_ptr<LanguageModel> tiny(const std::string& mixer, uint64_t seed) {
  std::string text = str("[model]\nkind = \"decoder\"\nvocab_size = ", V,
                         "\nd_model = 16\nn_layers = 2\nmax_seq_len = 32\nposition = \"learned\"\n"
                         "[model.block]\nmixer = \"", mixer, "\"\nnorm = \"layernorm\"\nffn = \"mlp\"\n");
  toml::table t = toml::parse(text);
  at::manual_seed(seed);
  auto m = std::make_shared<LanguageModel>(parse_model_config(t["model"].as_table(), "model"));
  torch::NoGradGuard ng;
  for (auto& p : m->parameters()) p.add_(at::randn_like(p) * 0.5);
  m->eval();
  return m;
}

const char* kMixers[] = {"attention", "linear_attention", "hyena"};

}  // namespace

TEST(Generate, BatchedEqualsOnePromptAtATime) {
  for (const char* mixer : kMixers) {
    SCOPED_TRACE(mixer);
    auto m = tiny(mixer, 3);
    std::vector<std::vector<int64_t>> prompts{{1, 2, 3}, {4, 5, 6}, {2}, {6, 6, 1}, {3, 3}};
    for (double temperature : {0.0, 1.0}) {
      SamplingOptions o;
      o.temperature = temperature;
      o.seed = 11;
      // A stop token that row 0 emits early, so rows leave the batch at different steps.
      o.stop_id = generate(*m, prompts[0], 8, o)[2];
      auto batch = generate_batch(*m, prompts, 8, o, /*max_batch=*/2);
      ASSERT_EQ(batch.size(), prompts.size());
      bool someone_stopped = false;
      for (size_t i = 0; i < prompts.size(); ++i) {
        SamplingOptions oi = o;
        oi.seed = o.seed + i;  // row i samples with seed + i
        EXPECT_EQ(batch[i], generate(*m, prompts[i], 8, oi)) << "prompt " << i << " T " << temperature;
        EXPECT_EQ(batch[i], generate(*m, prompts[i], 8, oi, /*use_cache=*/false));
        someone_stopped = someone_stopped || batch[i].size() < 8;
      }
      EXPECT_TRUE(someone_stopped);
    }
  }
}

TEST(Generate, OneBeamIsGreedy) {
  for (const char* mixer : kMixers) {
    auto m = tiny(mixer, 5);
    SamplingOptions one;
    one.beams = 1;  // through the beam-search entry point itself
    EXPECT_EQ(beam_search(*m, {1, 2}, 6, one), generate(*m, {1, 2}, 6, SamplingOptions{})) << mixer;
  }
}

TEST(Generate, WideBeamFindsTheExhaustiveOptimum) {
  for (const char* mixer : kMixers) {
    SCOPED_TRACE(mixer);
    auto m = tiny(mixer, 9);
    const std::vector<int64_t> prompt{3, 1};
    // Score every continuation of 3 tokens by one full forward pass.
    double best = -INFINITY;
    std::vector<int64_t> arg;
    torch::NoGradGuard ng;
    for (int64_t a = 0; a < V; ++a)
      for (int64_t b = 0; b < V; ++b)
        for (int64_t c = 0; c < V; ++c) {
          std::vector<int64_t> seq{3, 1, a, b, c};
          ForwardContext ctx;
          at::Tensor lp = m->logits(m->hidden(at::tensor(seq, at::kLong).view({1, -1}), ctx)).to(at::kDouble).log_softmax(-1);
          double s = lp[0][1][a].item<double>() + lp[0][2][b].item<double>() + lp[0][3][c].item<double>();
          if (s > best) best = s, arg = {a, b, c};
        }
    SamplingOptions o;
    o.beams = V * V;  // keeps every 2-token prefix: exact for 3 tokens
    EXPECT_EQ(beam_search(*m, prompt, 3, o), arg);
  }
}

TEST(Generate, BeamSearchStopsAndRanksFinishedHypotheses) {
  auto m = tiny("attention", 4);
  SamplingOptions o;
  o.beams = 3;
  o.stop_id = generate(*m, {2, 2}, 5, SamplingOptions{})[1];  // greedy's 2nd token ends hypotheses
  std::vector<int64_t> out = beam_search(*m, {2, 2}, 12, o);
  ASSERT_FALSE(out.empty());
  // A stop token can only be the last token of the result.
  for (size_t i = 0; i + 1 < out.size(); ++i) EXPECT_NE(out[i], o.stop_id);
  EXPECT_LE(out.size(), 12u);
}

TEST(Generate, BadRequestsAreRefused) {
  auto m = tiny("attention", 1);
  SamplingOptions o;
  EXPECT_THROW(generate_batch(*m, {{1}, {}}, 3, o), UserError);
  o.beams = 0;
  EXPECT_THROW(generate(*m, {1}, 3, o), UserError);
  o.beams = 1;
  o.top_p = 0;
  EXPECT_THROW(generate(*m, {1}, 3, o), UserError);
}
