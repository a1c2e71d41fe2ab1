// HMT against its oracles (../shared/specs/architectures.md section 9): no memory, no sensory
// tokens and one segment is the backbone itself; a cache of one memory recalls exactly it; the
// segment loop equals a hand-written loop calling the backbone; gradients reach m0 through the
// segments (BPTT); outputs never depend on later tokens (query = "previous"); a document streamed
// in pieces with the state equals one call; bad configs are refused by name.
#include <gtest/gtest.h>
#include <toml++/toml.h>

#include "../test_util.h"
#include "lmforge/core/error.h"
#include "lmforge/eval/perplexity.h"
#include "lmforge/models/language_model.h"

using namespace lmforge;

namespace {

constexpr int64_t V = 11, Lseg = 4;

std::shared_ptr<LanguageModel> hmt_model(const std::string& hmt, const std::string& mixer = "attention") {
  std::string text = str("[model]\nkind = \"decoder\"\nvocab_size = ", V,
                         "\nd_model = 16\nn_layers = 2\nmax_seq_len = 16\n"
                         "[model.block]\nmixer = \"", mixer, "\"\nnorm = \"layernorm\"\nffn = \"mlp\"\n",
                         "[model.hmt]\nenabled = true\nsegment_len = ", Lseg, "\nrecall_dim = 8\n", hmt);
  toml::table t = toml::parse(text);
  at::manual_seed(4);
  auto m = std::make_shared<LanguageModel>(parse_model_config(t["model"].as_table(), "model"));
  m->eval();
  return m;
}

at::Tensor tokens(int64_t T, uint64_t seed = 1) {
  at::manual_seed(seed);
  return at::randint(V, {2, T}, at::kLong);
}

at::Tensor run(LanguageModel& m, const at::Tensor& x) {
  ForwardContext ctx;
  return m.hidden(x, ctx);
}

}  // namespace

TEST(Hmt, WithoutMemoryOneSegmentIsTheBackbone) {
  for (const char* mixer : {"attention", "hyena"}) {
    auto m = hmt_model("memory = false\nsensory = 0\n", mixer);
    at::Tensor x = tokens(Lseg);
    ForwardContext ctx;
    at::Tensor ref = m->hidden_from_embeddings(m->token_embeddings(x), ctx);
    EXPECT_TRUE(run(*m, x).equal(ref)) << mixer;
  }
}

TEST(Hmt, ACacheOfOneRecallsExactlyThatMemory) {
  auto recall = hmt_model("cache = 1\nsensory = 2\n");
  auto rmt = hmt_model("cache = 1\nsensory = 2\nrecall = false\n");  // same seed: same weights
  at::Tensor x = tokens(3 * Lseg);
  EXPECT_TRUE(at::allclose(run(*recall, x), run(*rmt, x), 0, 1e-6));
}

TEST(Hmt, SegmentLoopEqualsAHandWrittenLoop) {
  // recall = false, sensory 2: segment n reads [M_{n-1} or m0, last 2 tokens of segment n-1, H_n, same].
  auto m = hmt_model("sensory = 2\nrecall = false\n");
  at::Tensor x = tokens(3 * Lseg);
  at::Tensor E = m->token_embeddings(x);
  at::Tensor P = m->named_parameters()["hmt.memory"].expand({2, -1});
  std::vector<at::Tensor> outs;
  for (int n = 0; n < 3; ++n) {
    std::vector<at::Tensor> parts{P.unsqueeze(1)};
    if (n > 0) parts.push_back(E.narrow(1, n * Lseg - 2, 2));
    parts.push_back(E.narrow(1, n * Lseg, Lseg));
    parts.push_back(P.unsqueeze(1));
    ForwardContext ctx;
    at::Tensor h = m->hidden_from_embeddings(at::cat(parts, 1), ctx);
    outs.push_back(h.narrow(1, n > 0 ? 3 : 1, Lseg));
    P = h.select(1, h.size(1) - 1);
  }
  EXPECT_TRUE(run(*m, x).equal(at::cat(outs, 1)));
}

TEST(Hmt, GradientsReachTheFirstMemoryThroughTheSegments) {
  for (const char* mode : {"sensory = 2\nrecall = true\n", "sensory = 2\nrecall = false\n"}) {
    auto m = hmt_model(mode);
    m->train();
    at::Tensor h = run(*m, tokens(3 * Lseg));
    h.narrow(1, 2 * Lseg, Lseg).pow(2).sum().backward();  // a loss on the last segment only
    at::Tensor g = m->named_parameters()["hmt.memory"].grad();
    ASSERT_TRUE(g.defined()) << mode;
    EXPECT_GT(g.abs().sum().item<double>(), 0) << mode;
  }
}

TEST(Hmt, OutputsNeverDependOnLaterTokens) {
  auto m = hmt_model("sensory = 2\ncache = 3\n");  // query = previous
  at::Tensor x = tokens(4 * Lseg);
  at::Tensor base = run(*m, x);
  for (int64_t t : {int64_t{1}, Lseg + 2, 3 * Lseg}) {
    at::Tensor y = x.clone();
    y.select(1, t).add_(1).remainder_(V);
    at::Tensor h = run(*m, y);
    EXPECT_TRUE(h.narrow(1, 0, t).equal(base.narrow(1, 0, t))) << "changed token " << t;
    EXPECT_FALSE(h.narrow(1, t, 1).equal(base.narrow(1, t, 1)));
  }
  // The paper's query (the start of the current segment) lets a segment's first tokens see later ones.
  auto paper = hmt_model("sensory = 2\ncache = 3\nquery = \"segment\"\n");
  at::Tensor a = run(*paper, x);
  at::Tensor y = x.clone();
  // (In segment 2, where two memories are cached: with one, the recall weight is 1 whatever the query.)
  y.select(1, 2 * Lseg + 1).add_(1).remainder_(V);
  EXPECT_FALSE(run(*paper, y).narrow(1, 2 * Lseg, 1).equal(a.narrow(1, 2 * Lseg, 1)));
}

TEST(Hmt, StreamingWithTheStateEqualsOneCall) {
  auto m = hmt_model("sensory = 2\ncache = 2\n");
  at::Tensor x = tokens(5 * Lseg);
  HmtState st;
  ForwardContext c1, c2;
  at::Tensor a = m->hmt()->forward(*m, x.narrow(1, 0, 2 * Lseg), c1, &st);
  at::Tensor b = m->hmt()->forward(*m, x.narrow(1, 2 * Lseg, 3 * Lseg), c2, &st);
  EXPECT_TRUE(at::cat({a, b}, 1).equal(run(*m, x)));
}

TEST(Hmt, BadConfigsAreRefused) {
  auto msg = [](const std::string& hmt) {
    return test::error_of<ConfigError>([&] { hmt_model(hmt); });
  };
  EXPECT_NE(msg("sensory = 12\n").find("model.hmt.sensory' (12) is longer than a segment (4)"), std::string::npos);
  EXPECT_NE(msg("sensory = 2\nquery = \"future\"\n").find("model.hmt.query"), std::string::npos);
  EXPECT_NE(msg("sensory = 2\ncolour = 1\n").find("colour"), std::string::npos);
}

TEST(Hmt, PerplexityReadsTheStreamOnceWithMemory) {
  auto m = hmt_model("sensory = 2\ncache = 4\n");
  // 150 targets: more than one chunk of 16 segments (64 tokens), a partial last segment.
  at::manual_seed(3);
  at::Tensor stream = at::randint(V, {151}, at::kLong);
  PerplexityOptions o;
  PerplexityResult r = score_stream(*m, stream, o);
  EXPECT_EQ(r.tokens, 150);
  at::Tensor h = run(*m, stream.narrow(0, 0, 150).view({1, -1}));
  const double nll = -m->logits(h[0]).to(at::kDouble).log_softmax(-1).gather(1, stream.narrow(0, 1, 150).view({-1, 1})).sum().item<double>();
  EXPECT_NEAR(r.nll, nll, 1e-4 * nll);
}
