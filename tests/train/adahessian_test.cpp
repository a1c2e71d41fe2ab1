// AdaHessian and the Hessian-vector product it rests on (spec: training-and-evaluation.md, 1).
// Oracles: H z == A z on a quadratic; H v == central differences of gradients on an MLP; the
// Hutchinson mean of z * Hz within 4 sigma of diag(H); one Newton step to the minimum of a diagonal
// quadratic; block averaging; refresh every N steps; training and bit-exact resume from a config;
// a clear error for a model that cannot be differentiated twice; the reference-path fallback.
#include <gtest/gtest.h>

#include <torch/autograd.h>
#include <torch/nn/modules/linear.h>

#include "../test_util.h"
#include "lmforge/core/config.h"
#include "lmforge/ops/linear_xent/op.h"
#include "lmforge/ops/second_order.h"
#include "lmforge/train/hessian.h"
#include "lmforge/train/optimizers/adahessian.h"
#include "lmforge/train/trainer.h"

namespace lmforge {
namespace {

const auto kF64 = at::TensorOptions().dtype(at::kDouble);

at::Tensor grad_with_graph(const at::Tensor& loss, const at::Tensor& x) {
  return torch::autograd::grad({loss}, {x}, {}, true, true)[0];
}

TEST(AdaHessian, HvpOfQuadraticIsAz) {
  at::manual_seed(1);
  at::Tensor m = at::randn({6, 6}, kF64);
  at::Tensor A = m + m.t(), b = at::randn({6}, kF64);
  at::Tensor x = at::randn({6}, kF64).requires_grad_();
  at::Tensor f = 0.5 * x.dot(A.mv(x)) + b.dot(x);
  at::Tensor z = rademacher_probes({x}, 7, 0)[0];
  at::Tensor h = hessian_vector_product({grad_with_graph(f, x)}, {x}, {z})[0];
  EXPECT_LT((h - A.mv(z)).abs().max().item<double>(), 1e-12);
}

TEST(AdaHessian, HvpMatchesFiniteDifferencesOfGradients) {
  at::manual_seed(2);
  torch::nn::Linear l1(4, 6), l2(6, 3);
  l1->to(at::kDouble);
  l2->to(at::kDouble);
  std::vector<at::Tensor> params = {l1->weight, l1->bias, l2->weight, l2->bias};
  at::Tensor x = at::randn({5, 4}, kF64), y = at::randint(0, 3, {5}, at::kLong);
  auto loss = [&] { return at::cross_entropy_loss(l2(at::tanh(l1(x))), y); };
  std::vector<at::Tensor> v;
  for (const auto& p : params) v.push_back(at::randn(p.sizes(), kF64));
  std::vector<at::Tensor> g = torch::autograd::grad({loss()}, params, {}, true, true);
  std::vector<at::Tensor> h = hessian_vector_product(g, params, v);
  // (g(theta + eps v) - g(theta - eps v)) / 2 eps: error O(eps^2) ~ 1e-10 plus rounding ~1e-16/eps.
  const double eps = 1e-5;
  auto grads_at = [&](double s) {
    torch::NoGradGuard ng;
    for (size_t i = 0; i < params.size(); ++i) params[i].add_(v[i], s);
    std::vector<at::Tensor> out;
    {
      at::AutoGradMode on(true);
      out = torch::autograd::grad({loss()}, params);
    }
    for (size_t i = 0; i < params.size(); ++i) params[i].sub_(v[i], s);
    return out;
  };
  std::vector<at::Tensor> gp = grads_at(eps), gm = grads_at(-eps);
  for (size_t i = 0; i < params.size(); ++i) {
    at::Tensor fd = (gp[i] - gm[i]) / (2 * eps);
    EXPECT_LT((h[i] - fd).abs().max().item<double>(), 1e-7 * std::max(1.0, fd.abs().max().item<double>()))
        << "parameter " << i;
  }
}

// f(x) = 1/2 x^T A x + sum(sin x): H = A - diag(sin x). 20,000 independent copies of x (rows of X)
// make H block diagonal, so one product gives 20,000 probes' z * Hz at once.
TEST(AdaHessian, HutchinsonMeanConvergesToDiagonal) {
  at::manual_seed(3);
  const int64_t n = 4, N = 20000;
  at::Tensor m = at::randn({n, n}, kF64), A = (m + m.t()) / 2, x0 = at::randn({n}, kF64);
  at::Tensor X = x0.expand({N, n}).clone().requires_grad_();
  at::Tensor f = 0.5 * (X.mm(A) * X).sum() + at::sin(X).sum();
  at::Tensor z = rademacher_probes({X}, 11, 0)[0];
  at::Tensor est = (z * hessian_vector_product({grad_with_graph(f, X)}, {X}, {z})[0]).mean(0);
  at::Tensor H = A - at::diag(at::sin(x0));
  // z_i (Hz)_i = H_ii + sum_{j != i} H_ij z_i z_j: variance sum_{j != i} H_ij^2 per probe.
  at::Tensor sigma = ((H * H).sum(1) - H.diag() * H.diag()).sqrt() / std::sqrt(static_cast<double>(N));
  for (int64_t i = 0; i < n; ++i)
    EXPECT_LT(std::abs(est[i].item<double>() - H[i][i].item<double>()), 4 * sigma[i].item<double>() + 1e-12)
        << "entry " << i << ": estimate " << est[i].item<double>() << " vs diag(H) " << H[i][i].item<double>();
  // The probes are +-1 and a pure function of (seed, step).
  EXPECT_TRUE(at::equal(z.abs(), at::ones_like(z)));
  EXPECT_TRUE(at::equal(z, rademacher_probes({X}, 11, 0)[0]));
  EXPECT_FALSE(at::equal(z, rademacher_probes({X}, 11, 1)[0]));
}

AdaHessianOptions newton_options() {
  AdaHessianOptions o(1.0);
  o.eps(0).hessian_power(1).weight_decay(0);
  return o;
}

// One optimiser step on f(x) = sum a_i x_i^2 / 2, with H z from the real product.
void step_on_quadratic(AdaHessian& opt, const at::Tensor& x, const at::Tensor& a, bool with_hessian) {
  at::Tensor f = 0.5 * (a * x * x).sum();
  at::Tensor g = grad_with_graph(f, x);
  x.mutable_grad() = g.detach();
  if (with_hessian) {
    at::Tensor z = rademacher_probes({x}, 5, 0)[0];
    opt.set_hessian_vector_products(hessian_vector_product({g}, {x}, {z}), {z});
  }
  opt.step();
}

TEST(AdaHessian, NewtonStepReachesMinimumOfDiagonalQuadratic) {
  at::Tensor a = at::tensor({3.0, 0.5, 10.0}, kF64);
  at::Tensor x = at::tensor({1.0, -2.0, 0.3}, kF64).requires_grad_();
  AdaHessian opt({torch::optim::OptimizerParamGroup({x})}, newton_options());
  step_on_quadratic(opt, x, a, true);
  EXPECT_LT(x.abs().max().item<double>(), 1e-15) << x;
}

TEST(AdaHessian, BlockAveragingIsConstantBlockMeans) {
  at::manual_seed(4);
  at::Tensor d = at::rand({3, 40}, kF64);  // 120 entries: 3 blocks of 32 and a tail of 24
  at::Tensor b = block_average(d, 32), flat = d.reshape({-1}), bf = b.reshape({-1});
  for (int64_t s : {0, 32, 64, 96}) {
    const int64_t len = std::min<int64_t>(32, 120 - s);
    at::Tensor blk = bf.narrow(0, s, len);
    EXPECT_NEAR(blk.max().item<double>(), blk.min().item<double>(), 1e-15) << "block at " << s;
    EXPECT_NEAR(blk[0].item<double>(), flat.narrow(0, s, len).mean().item<double>(), 1e-14) << "block at " << s;
  }
  EXPECT_TRUE(at::allclose(block_average(d, 0), d.mean(1, true).expand_as(d)));  // whole rows
  at::Tensor v = at::rand({7}, kF64);
  EXPECT_TRUE(at::equal(block_average(v, 32), v));  // biases and norms: not averaged
  at::Tensor c = at::rand({2, 3, 5}, kF64);
  EXPECT_TRUE(at::allclose(block_average(c, 32), c.mean(-1, true).expand_as(c)));  // conv1d kernels
}

TEST(AdaHessian, RefreshEveryNReusesTheEstimate) {
  at::Tensor a = at::tensor({3.0, 0.5}, kF64);
  at::Tensor x = at::tensor({1.0, -2.0}, kF64).requires_grad_();
  AdaHessianOptions o = newton_options();
  o.lr(0.1).update_every(3);
  AdaHessian opt({torch::optim::OptimizerParamGroup({x})}, o);
  EXPECT_TRUE(opt.wants_hessian(0));
  step_on_quadratic(opt, x, a, true);
  EXPECT_FALSE(opt.wants_hessian(1));
  step_on_quadratic(opt, x, a, false);
  EXPECT_FALSE(opt.wants_hessian(2));
  EXPECT_TRUE(opt.wants_hessian(3));
  // The second step fed the stored D = |a| (1-D: no averaging) into the EMA again.
  const auto& st = static_cast<const AdaHessianParamState&>(*opt.state().begin()->second);
  const double b2 = o.beta2();
  at::Tensor expected = (b2 * (1 - b2) + (1 - b2)) * a * a;
  EXPECT_TRUE(at::allclose(st.exp_hessian_diag_sq(), expected, 0, 1e-15)) << st.exp_hessian_diag_sq();
  EXPECT_EQ(st.step(), 2);
  // Without a refresh schedule nothing is kept between steps.
  AdaHessian every({torch::optim::OptimizerParamGroup({x})}, newton_options());
  step_on_quadratic(every, x, a, true);
  EXPECT_FALSE(static_cast<const AdaHessianParamState&>(*every.state().begin()->second).hessian().defined());
  EXPECT_TRUE(every.wants_hessian(1));
}

toml::table tiny_adahessian(int64_t steps, const std::string& extra = "") {
  toml::table t = load_config("gpt-tiny");
  apply_override(t, "train.steps=" + std::to_string(steps));
  apply_override(t, "train.log_every=1");
  apply_override(t, "train.eval_every=0");
  apply_override(t, "run.threads=1");
  apply_override(t, "train.lr=0.05");
  apply_override(t, "train.optimizer.name=\"adahessian\"");
  if (!extra.empty()) apply_override(t, extra);
  return t;
}

TEST(AdaHessian, TrainsFromConfigAndResumesBitExactly) {
  test::TempDir d("adahessian");
  TrainOptions full;
  full.run_dir = d / "full";
  full.quiet = true;
  train(tiny_adahessian(8, "train.optimizer.update_every=2"), full);
  std::vector<double> a = test::train_losses(full.run_dir);
  ASSERT_EQ(a.size(), 8u);
  EXPECT_LT(a.back(), a.front()) << "the loss should fall";

  // Stopped after 3 steps (an odd step: the next one reuses the stored estimate), then resumed.
  TrainOptions part;
  part.run_dir = d / "part";
  part.quiet = true;
  part.stop_after = 3;
  train(tiny_adahessian(8, "train.optimizer.update_every=2"), part);
  TrainOptions again;
  again.run_dir = part.run_dir;
  again.resume = true;
  again.quiet = true;
  train({}, again);
  std::vector<double> b = test::train_losses(part.run_dir);
  ASSERT_EQ(b.size(), 8u);
  for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i], b[i]) << "step " << i + 1;
}

// `lmforge train -c gpt-tiny` with AdaHessian, one thread, and `extra` arguments.
test::CommandResult train_cli(const std::string& run_dir, const std::string& extra) {
  return test::run_lmforge("train -c gpt-tiny --out '" + run_dir +
                           "' --set run.threads=1 --set train.optimizer.name=adahessian " + extra);
}

TEST(AdaHessian, FusedOperatorsFallBackToReferenceOnceLogged) {
  if (active_isa() == Isa::ref) GTEST_SKIP() << "LMFORGE_ISA=ref: nothing falls back";
  test::TempDir d("adahessian-fb");
  test::CommandResult r = train_cli(d / "run", "--set train.steps=3 --set train.eval_every=0 --set train.lr=0.05");
  ASSERT_EQ(r.code, 0) << r.output;
  const std::string line = "operator 'linear_xent' uses its reference path";
  const size_t first = r.output.find(line);
  ASSERT_NE(first, std::string::npos) << r.output;
  EXPECT_EQ(r.output.find(line, first + 1), std::string::npos) << "logged more than once:\n" << r.output;
}

TEST(AdaHessian, FastBackwardRefusesSecondDifferentiation) {
  // Outside a SecondOrderScope the fused linear cross-entropy keeps its fast path, whose backward
  // has no graph: create_graph through it must be an error, not a silently missing Hessian term.
  at::Tensor h = at::randn({4, 8}).requires_grad_(), w = at::randn({16, 8}).requires_grad_();
  at::Tensor y = at::randint(0, 16, {4}, at::kLong);
  at::Tensor loss = linear_cross_entropy_sum(h, w, y);
  std::string msg = test::error_of<UserError>([&] { torch::autograd::grad({loss}, {h, w}, {}, true, true); });
  EXPECT_NE(msg.find("cannot differentiate twice through linear_xent"), std::string::npos) << msg;
  // Inside one it takes the reference path, and the product exists.
  SecondOrderScope scope;
  at::Tensor l2 = linear_cross_entropy_sum(h, w, y);
  std::vector<at::Tensor> g = torch::autograd::grad({l2}, {h, w}, {}, true, true);
  EXPECT_TRUE(g[0].requires_grad() && g[1].requires_grad());
}

TEST(AdaHessian, ModelThatCannotDoubleBackwardIsAClearError) {
  test::TempDir d("adahessian-pn");
  test::CommandResult r = train_cli(d / "run", "--set train.steps=2 --set model.block.norm=powernorm");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("cannot differentiate twice through PowerNorm"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("internal error"), std::string::npos) << r.output;
}

TEST(AdaHessian, BadOptionsAreConfigErrors) {
  test::TempDir d("adahessian-bad");
  for (const auto& [set, key] : std::vector<std::pair<std::string, std::string>>{
           {"train.optimizer.hessian_power=0", "train.optimizer.hessian_power"},
           {"train.optimizer.block=-1", "train.optimizer.block"},
           {"train.optimizer.update_every=0", "train.optimizer.update_every"}}) {
    test::CommandResult r = train_cli(d / "run", "--set " + set);
    EXPECT_EQ(r.code, 2) << set << ": " << r.output;
    EXPECT_NE(r.output.find(key), std::string::npos) << set << ": " << r.output;
  }
}

}  // namespace
}  // namespace lmforge
