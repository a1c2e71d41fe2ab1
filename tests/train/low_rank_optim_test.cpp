// GaLore and GradNormLoRP (train/optimizers/galore.cpp, gradnormlorp.cpp, low_rank.h) against
// their oracles: the projector keeps the top-r singular energy; at full rank GaLore reduces to
// its inner optimiser; the weight-norm gradients equal fp64 autograd's; state bytes follow the
// formula; bad options and targets are clear errors; training from a config resumes exactly.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <torch/optim/sgd.h>

#include "../test_util.h"
#include "lmforge/core/config.h"
#include "lmforge/core/error.h"
#include "lmforge/train/optimizer.h"
#include "lmforge/train/optimizers/adam_family.h"
#include "lmforge/train/optimizers/gradnormlorp.h"
#include "lmforge/train/optimizers/low_rank.h"
#include "lmforge/train/trainer.h"

using namespace lmforge;

namespace {

std::vector<ParamGroup> group_of(const at::Tensor& W, const std::string& name = "layers.0.ffn.fc1.weight") {
  ParamGroup g;
  g.tag = "decay", g.params = {W}, g.names = {name};
  return {g};
}

Choice galore(int64_t rank, int64_t gap, double scale) {
  Choice c{"galore", {}};
  c.options.insert("rank", rank);
  c.options.insert("update_gap", gap);
  c.options.insert("scale", scale);
  return c;
}

// Gradient of 0.5 |X W - Y|^2 / rows, fixed data.
at::Tensor lsq_grad(const at::Tensor& W, int64_t seed) {
  at::manual_seed(seed);
  at::Tensor X = at::randn({32, W.size(0)}), Y = at::randn({32, W.size(1)});
  return at::matmul(X.t(), at::matmul(X, W.detach()) - Y) / 32;
}

}  // namespace

TEST(GaLore, ProjectionKeepsTheTopSingularEnergy) {
  at::manual_seed(0);
  for (auto shape : {std::vector<int64_t>{40, 24}, std::vector<int64_t>{24, 40}}) {
    at::Tensor G = at::randn(shape);
    LowRankProjector p(shape, 6, 10);
    at::Tensor R = p.project(G, 1);
    EXPECT_EQ(R.sizes().vec(), p.low_rank_shape());
    EXPECT_EQ(std::max(R.size(0), R.size(1)), 40) << "R keeps the long side";
    at::Tensor S = at::linalg_svdvals(G);
    const double want = S.slice(0, 0, 6).pow(2).sum().item<double>();
    EXPECT_NEAR(R.pow(2).sum().item<double>(), want, 1e-5 * want);
    // Projecting back gives the best rank-6 approximation: its error is the rest of the energy.
    const double rest = S.slice(0, 6).pow(2).sum().item<double>();
    EXPECT_NEAR((G - p.project_back(R)).pow(2).sum().item<double>(), rest, 1e-4 * want);
    // Between refreshes the basis is fixed; at step 11 (gap 10) it is recomputed from the new G.
    at::Tensor P1 = p.basis().clone();
    p.project(at::randn(shape), 5);
    EXPECT_TRUE(at::equal(P1, p.basis()));
    p.project(at::randn(shape), 11);
    EXPECT_FALSE(at::equal(P1, p.basis()));
  }
}

TEST(GaLore, MatchesTheAuthorsPackage) {
  // Trajectories of the authors' GaLoreAdamW (PyPI galore-torch 1.0) on fixed gradients, written
  // by bench/peers/galore_reference.py: right (16 x 10) and left (10 x 16) projectors, a square
  // 12 x 12, projector refreshes inside the run. Same SVD (LAPACK through ATen) on both sides; the
  // remaining differences are fp32 rounding and the package's eps placement (~1e-8 relative).
  const auto ref = nlohmann::json::parse(test::read_text(std::string(LMFORGE_TEST_DATA_DIR) + "/galore_reference.json"));
  ASSERT_EQ(ref["cases"].size(), 3u);
  for (const auto& c : ref["cases"]) {
    const auto shape = c["shape"].get<std::vector<int64_t>>();
    auto tensor = [&](const nlohmann::json& v) { return at::tensor(v.get<std::vector<float>>()).view(shape); };
    at::Tensor W = tensor(c["w0"]).requires_grad_(true);
    Choice ch = galore(c["rank"].get<int64_t>(), c["update_gap"].get<int64_t>(), c["scale"].get<double>());
    ch.options.insert("beta1", c["beta1"].get<double>());
    ch.options.insert("beta2", c["beta2"].get<double>());
    ch.options.insert("eps", c["eps"].get<double>());
    auto opt = build_optimizer(ch, group_of(W), c["lr"].get<double>()).optimizer;  // weight decay 0
    const auto& grads = c["grads"];
    for (size_t t = 0; t < grads.size(); ++t) {
      W.mutable_grad() = tensor(grads[t]);
      opt->step();
      const at::Tensor want = tensor(c["after_step"][t]);
      const double moved = (want - tensor(c["w0"])).abs().max().item<double>();
      const double err = (W.detach() - want).abs().max().item<double>();
      EXPECT_LT(err, 1e-4 * moved + 1e-6) << "shape " << shape[0] << "x" << shape[1] << " step " << t + 1
                                          << ": max |lmforge - package| " << err << " of a move of " << moved;
    }
  }
}

TEST(GaLore, FullRankFixedBasisWithMomentumIsSgdWithMomentum) {
  // r = min(m, n) and P never refreshed: P^T P = I, so the projected heavy ball equals the plain one.
  at::manual_seed(1);
  at::Tensor W0 = at::randn({12, 20}) * 0.1;
  at::Tensor Wg = W0.clone().requires_grad_(true), Ws = W0.clone().requires_grad_(true);
  Choice c = galore(12, 1000000, 1.0);
  c.options.insert("inner", "sgd");
  c.options.insert("momentum", 0.9);
  auto g = build_optimizer(c, group_of(Wg), 0.05).optimizer;
  torch::optim::SGD s({Ws}, torch::optim::SGDOptions(0.05).momentum(0.9));
  for (int t = 0; t < 15; ++t) {
    Wg.mutable_grad() = lsq_grad(Wg, 100 + t);
    Ws.mutable_grad() = lsq_grad(Ws, 100 + t);
    g->step(), s.step();
  }
  EXPECT_LT((Wg - Ws).abs().max().item<double>(), 1e-5);
  EXPECT_GT((Wg - W0).abs().max().item<double>(), 1e-2);
}

TEST(GaLore, FullRankRefreshedEveryStepWithoutMomentumIsSgd) {
  at::manual_seed(2);
  at::Tensor W0 = at::randn({20, 12}) * 0.1;
  at::Tensor Wg = W0.clone().requires_grad_(true), Ws = W0.clone().requires_grad_(true);
  Choice c = galore(12, 1, 1.0);
  c.options.insert("inner", "sgd");
  c.options.insert("momentum", 0.0);
  auto g = build_optimizer(c, group_of(Wg), 0.1).optimizer;
  torch::optim::SGD s({Ws}, torch::optim::SGDOptions(0.1));
  for (int t = 0; t < 10; ++t) {
    Wg.mutable_grad() = lsq_grad(Wg, 200 + t);
    Ws.mutable_grad() = lsq_grad(Ws, 200 + t);
    g->step(), s.step();
  }
  EXPECT_LT((Wg - Ws).abs().max().item<double>(), 1e-5);
}

TEST(GaLore, StateBytesFollowTheFormulaAndOnlyTargetsAreProjected) {
  // One 64 x 512 target at rank 8 (m < n: P is 64 x 8, R and its moments 8 x 512) and one
  // untargeted 64 x 64 matrix (plain Adam: two 64 x 64 fp32 moments).
  at::Tensor T = at::zeros({64, 512}, at::requires_grad()), U = at::zeros({64, 64}, at::requires_grad());
  ParamGroup g;
  g.tag = "decay", g.params = {T, U}, g.names = {"layers.0.ffn.fc1.weight", "embed.weight"};
  auto opt = build_optimizer(galore(8, 10, 0.25), {g}, 1e-3).optimizer;
  at::manual_seed(4);
  const at::Tensor GU = at::randn({64, 64});
  T.mutable_grad() = at::randn({64, 512}), U.mutable_grad() = GU;
  opt->step();
  EXPECT_EQ(optimizer_state_bytes(*opt), (2 * 8 * 512 + 64 * 8) * 4 + 2 * 64 * 64 * 4);
  // U is untargeted: its update is plain AdamW's, in the first step -lr g / (|g| + eps).
  EXPECT_TRUE(at::allclose(U.detach(), -1e-3 * GU / (GU.abs() + 1e-8), 1e-5, 1e-10));
  EXPECT_NEAR(U.abs().max().item<double>(), 1e-3, 1e-6);
  // 8-bit: R's 4096 entries and U's 4096 are quantised (1 byte each + 4 per block of 2048);
  // the basis stays fp32.
  Choice eight = galore(8, 10, 0.25);
  eight.options.insert("bits", 8);
  auto q = build_optimizer(eight, {g}, 1e-3).optimizer;
  EXPECT_EQ(optimizer_state_bytes(*q), 2 * (4096 + 2 * 4) + 2 * (4096 + 2 * 4));  // P not yet made
  q->step();
  EXPECT_EQ(optimizer_state_bytes(*q), 2 * (4096 + 2 * 4) + 64 * 8 * 4 + 2 * (4096 + 2 * 4));
}

TEST(GaLore, BadTargetsAndOptionsAreClearErrors) {
  at::Tensor W = at::zeros({16, 16}, at::requires_grad());
  Choice c = galore(4, 10, 0.25);
  toml::array none;
  none.push_back("*attention.nothing*");
  c.options.insert("targets", none);
  const std::string msg = test::error_of<ConfigError>([&] { build_optimizer(c, group_of(W), 1e-3); });
  EXPECT_NE(msg.find("train.optimizer.targets"), std::string::npos) << msg;
  EXPECT_NE(msg.find("layers.0.ffn.fc1.weight"), std::string::npos) << "names the model's matrices: " << msg;
  EXPECT_THROW(build_optimizer(galore(0, 10, 0.25), group_of(W), 1e-3), ConfigError);
  EXPECT_THROW(build_optimizer(galore(4, 0, 0.25), group_of(W), 1e-3), ConfigError);
  Choice bad = galore(4, 10, 0.25);
  bad.options.insert("rnak", 4);
  const std::string typo = test::error_of<ConfigError>([&] { build_optimizer(bad, group_of(W), 1e-3); });
  EXPECT_NE(typo.find("rank"), std::string::npos) << "did you mean: " << typo;
}

TEST(GradNormLoRP, WeightNormGradientsEqualAutogradInFp64) {
  at::manual_seed(3);
  at::Tensor v = at::randn({7, 11}, at::kDouble).requires_grad_(true);
  at::Tensor g = (at::rand({7}, at::kDouble) + 0.5).requires_grad_(true);
  at::Tensor X = at::randn({5, 7}, at::kDouble);
  at::Tensor W = g.unsqueeze(1) * v / v.norm(2, {1}, true);
  at::Tensor Wd = W.detach().requires_grad_(true);
  auto loss = [&](const at::Tensor& w) { return at::matmul(X, w).sin().sum(); };
  loss(W).backward();
  loss(Wd).backward();
  auto [dv, dg] = weight_norm_grads(Wd.grad(), v.detach(), g.detach(), true);
  EXPECT_LT((dv - v.grad()).abs().max().item<double>(), 1e-10);
  EXPECT_LT((dg - g.grad()).abs().max().item<double>(), 1e-10);
  // The reference code's variant omits the tangent projection: G g / |v|.
  auto [dv_ref, dg_ref] = weight_norm_grads(Wd.grad(), v.detach(), g.detach(), false);
  at::Tensor want = Wd.grad() * (g.detach().unsqueeze(1) / v.detach().norm(2, {1}, true));
  EXPECT_LT((dv_ref - want).abs().max().item<double>(), 1e-12);
  EXPECT_GT((dv_ref - dv).abs().max().item<double>(), 1e-3) << "the two variants differ";
}

TEST(GradNormLoRP, StartsFromTheWeightAndDescends) {
  at::manual_seed(4);
  at::Tensor W0 = at::randn({24, 32}) * 0.2;
  at::Tensor W = W0.clone().requires_grad_(true);
  Choice c{"gradnormlorp", {}};
  c.options.insert("rank", 8);
  c.options.insert("update_gap", 5);
  c.options.insert("scale", 1.0);
  auto opt = build_optimizer(c, group_of(W), 0.0).optimizer;
  W.mutable_grad() = lsq_grad(W, 1);
  opt->step();  // lr 0: the decomposition g v / |v| must give the weight back
  EXPECT_LT((W - W0).abs().max().item<double>(), 1e-6);
  at::manual_seed(9);
  at::Tensor X = at::randn({64, 24}), Y = at::matmul(X, at::randn({24, 32}) * 0.2);
  set_learning_rate(*opt, 0.02);
  double first = 0, last = 0;
  for (int t = 0; t < 150; ++t) {
    opt->zero_grad();
    at::Tensor l = (at::matmul(X, W) - Y).pow(2).mean();
    l.backward();
    (t == 0 ? first : last) = l.item<double>();
    opt->step();
  }
  EXPECT_LT(last, 0.3 * first);
  // State: v (full copy) + g + projector + low-rank moments + g's moments.
  EXPECT_EQ(optimizer_state_bytes(*opt), (24 * 32 + 24 + 24 * 8 + 2 * 8 * 32 + 2 * 24) * 4);
}

TEST(LowRankOptim, TrainsFromConfigAndResumesExactly) {
  test::TempDir d("galore");
  for (const std::string name : {"galore", "gradnormlorp"}) {
    auto cfg = [&](int64_t steps) {
      toml::table t = load_config("gpt-tiny");
      apply_override(t, "train.steps=" + std::to_string(steps));
      apply_override(t, "train.log_every=1");
      apply_override(t, "run.threads=1");
      apply_override(t, "train.optimizer=\"" + name + "\"");
      apply_override(t, "train.optimizer.rank=4");
      apply_override(t, "train.optimizer.update_gap=3");
      apply_override(t, "train.optimizer.bits=8");
      apply_override(t, "train.lr=0.01");
      return t;
    };
    TrainOptions full;
    full.run_dir = d / (name + "-full");
    full.quiet = true;
    nlohmann::json m = train(cfg(8), full);
    EXPECT_GT(m["optimizer_state_bytes"].get<int64_t>(), 0);
    TrainOptions part = full;
    part.run_dir = d / (name + "-part");
    part.stop_after = 4;
    train(cfg(8), part);
    TrainOptions again;
    again.run_dir = part.run_dir, again.resume = true, again.quiet = true;
    train({}, again);
    std::vector<double> a = test::train_losses(full.run_dir), b = test::train_losses(part.run_dir);
    ASSERT_EQ(a.size(), 8u) << name;
    ASSERT_EQ(b.size(), 8u) << name;
    for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i], b[i]) << name << " step " << i + 1;
    EXPECT_LT(a.back(), a.front()) << name;
  }
}
