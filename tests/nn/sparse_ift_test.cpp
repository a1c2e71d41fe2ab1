// Sparse-IFT oracles (specs/architectures.md section 5): each transformation's non-zero FLOPs are
// within 1% of the dense mlp's; sparsity 0 equals dense (wide, parallel, doped); the RigL update
// drops by |w| and grows by |grad| (hand-made case); under training steps with AdamW and weight
// decay the non-zero count stays constant and masked weights stay exactly zero; static masks never
// move; the trainer's hook runs (end-to-end train).
#include <gtest/gtest.h>

#include <torch/optim/adamw.h>

#include "../test_util.h"
#include "lmforge/core/config.h"
#include "lmforge/nn/components.h"
#include "lmforge/nn/sparse_ift.h"
#include "lmforge/nn/step_hooks.h"
#include "lmforge/train/trainer.h"

using namespace lmforge;

namespace {

std::shared_ptr<FeedForward> make_ffn(const std::string& name, toml::table opts, int64_t d = 128) {
  LayerContext c;
  c.d_model = d;
  c.n_layers = 2;
  return FfnRegistry::at(name, "t").build(opts, "t." + name, c);
}

toml::table sparse_opts(const std::string& transform, double s, const std::string& mask = "static") {
  toml::table t;
  t.insert_or_assign("transform", transform);
  t.insert_or_assign("sparsity", s);
  t.insert_or_assign("mask", mask);
  if (mask == "rigl") {
    t.insert_or_assign("rigl_every", 2);
    t.insert_or_assign("rigl_end_step", 30);
    t.insert_or_assign("rigl_fraction", 0.3);
  }
  return t;
}

std::vector<std::shared_ptr<SparseIftLinear>> sparse_layers(torch::nn::Module& m) {
  std::vector<std::shared_ptr<SparseIftLinear>> v;
  for (const auto& c : m.modules())
    if (auto s = std::dynamic_pointer_cast<SparseIftLinear>(c)) v.push_back(s);
  return v;
}

const char* kTransforms[] = {"wide", "parallel", "factorized", "doped"};

}  // namespace

TEST(SparseIft, FlopsWithinOnePercentOfDense) {
  const double dense = make_ffn("mlp", {})->flops_per_token();
  for (const char* t : kTransforms) {
    for (double s : {0.5, 0.75, 0.9}) {
      const double f = make_ffn("sparse_mlp", sparse_opts(t, s))->flops_per_token();
      EXPECT_LT(std::abs(f - dense) / dense, 0.01) << t << " s=" << s << ": " << f << " vs " << dense;
    }
  }
}

TEST(SparseIft, SparsityZeroEqualsDense) {
  for (const char* t : {"wide", "parallel", "doped"}) {
    at::manual_seed(7);
    auto dense = make_ffn("mlp", {}, 32);
    auto sparse = make_ffn("sparse_mlp", sparse_opts(t, 0.0), 32);
    auto dp = dense->named_parameters();
    auto sp = sparse->named_parameters();
    ASSERT_EQ(dp.size(), sp.size()) << t;
    ASSERT_EQ(sparse->named_buffers().size(), 0u) << t;
    {
      torch::NoGradGuard g;
      for (const auto& p : sp) {
        ASSERT_TRUE(dp.contains(p.key())) << t << " " << p.key();
        p.value().copy_(dp[p.key()]);
      }
    }
    ForwardContext ctx;
    at::Tensor x = at::randn({2, 5, 32});
    EXPECT_TRUE(at::equal(dense->forward(x, ctx), sparse->forward(x, ctx))) << t;
    EXPECT_DOUBLE_EQ(dense->flops_per_token(), sparse->flops_per_token()) << t;
  }
}

TEST(SparseIft, MasksHaveTheChosenDensity) {
  at::manual_seed(8);
  auto f = make_ffn("sparse_mlp", sparse_opts("wide", 0.75));
  for (const auto& l : sparse_layers(*f)) {
    EXPECT_EQ(l->mask.sum().item<int64_t>(), l->nnz());
    EXPECT_NEAR(static_cast<double>(l->nnz()) / l->weight.numel(), 0.25, 1e-3);
    EXPECT_EQ((l->weight * (1 - l->mask)).abs().max().item<double>(), 0.0);
  }
}

TEST(SparseIft, RiglUpdateDropsByMagnitudeGrowsByGradient) {
  //                         0     1     2    3    4    5
  at::Tensor w = at::tensor({0.5, -0.1, 0.0, 0.3, 0.0, 0.0});
  at::Tensor m = at::tensor({1.0, 1.0, 0.0, 1.0, 0.0, 0.0});
  at::Tensor g = at::tensor({9.0, 0.01, 0.2, 9.0, -0.9, 0.05});
  // k = 1: drop 1 (smallest active |w|), grow 4 (largest inactive |g|).
  EXPECT_TRUE(at::equal(rigl_update_mask(w, g, m, 1), at::tensor({1.0, 0.0, 0.0, 1.0, 1.0, 0.0})));
  // k = 2: drop 1 and 3, grow 3 and 4 (3 has |g| 9: just dropped, regrown, restarts at zero).
  EXPECT_TRUE(at::equal(rigl_update_mask(w, g, m, 2), at::tensor({1.0, 0.0, 0.0, 1.0, 1.0, 0.0})));
  EXPECT_TRUE(at::equal(rigl_update_mask(w, g, m, 0), m));
  RiglOptions o;
  o.end_step = 100;
  EXPECT_DOUBLE_EQ(rigl_drop_fraction(o, 0), 0.3);
  EXPECT_NEAR(rigl_drop_fraction(o, 50), 0.15, 1e-12);
  EXPECT_EQ(rigl_drop_fraction(o, 100), 0.0);
}

TEST(SparseIft, RiglKeepsNonZeroCountAndMaskedWeightsZero) {
  for (const char* t : kTransforms) {
    for (const std::string mode : {"rigl", "static"}) {
      at::manual_seed(9);
      auto f = make_ffn("sparse_mlp", sparse_opts(t, 0.75, mode), 32);
      auto layers = sparse_layers(*f);
      std::vector<at::Tensor> masks0;
      for (const auto& l : layers) masks0.push_back(l->mask.clone());
      torch::optim::AdamW opt(f->parameters(), torch::optim::AdamWOptions(1e-2).weight_decay(0.1));
      ForwardContext ctx;
      for (int step = 0; step < 12; ++step) {
        at::Tensor x = at::randn({4, 8, 32});
        f->forward(x, ctx).sin().pow(2).mean().backward();
        run_before_optimizer_step(*f, opt);
        opt.step();
        run_after_optimizer_step(*f);
        opt.zero_grad();
        for (const auto& l : layers) {
          ASSERT_EQ(l->mask.sum().item<int64_t>(), l->nnz()) << t << " " << mode << " step " << step;
          ASSERT_EQ((l->weight * (1 - l->mask)).abs().max().item<double>(), 0.0) << t << " " << mode;
        }
      }
      bool moved = false;
      for (size_t i = 0; i < layers.size(); ++i) moved |= !at::equal(masks0[i], layers[i]->mask);
      EXPECT_EQ(moved, mode == "rigl") << t << " " << mode;
    }
  }
}

TEST(SparseIft, RiglNeedsAnEndStep) {
  toml::table o = sparse_opts("wide", 0.5);
  o.insert_or_assign("mask", "rigl");
  EXPECT_THROW(make_ffn("sparse_mlp", o), ConfigError);
  o = sparse_opts("sideways", 0.5);
  EXPECT_THROW(make_ffn("sparse_mlp", o), ConfigError);
}

TEST(SparseIft, TrainsEndToEndWithRigl) {
  test::TempDir d("sparse");
  toml::table t = load_config("gpt-tiny");
  for (const char* kv : {"train.steps=6", "run.threads=1", "train.eval_every=0", "model.block.ffn=\"sparse_mlp\"",
                         "model.block.sparse_mlp.sparsity=0.5", "model.block.sparse_mlp.mask=\"rigl\"",
                         "model.block.sparse_mlp.rigl_every=2", "model.block.sparse_mlp.rigl_end_step=5"})
    apply_override(t, kv);
  TrainOptions o;
  o.run_dir = d / "run";
  o.quiet = true;
  nlohmann::json m = train(t, o);
  EXPECT_TRUE(std::filesystem::exists(d / "run/checkpoint/model.safetensors"));
}
