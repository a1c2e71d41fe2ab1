// DITTO: the pseudo-repetition rows of the spec's verified toy, the loss's zero and sign, the
// stop-gradient baseline, and the task: mix = 0 is plain LM bit for bit, mix = 1 trains on
// repetition rows, a bad option is refused by name.
#include <gtest/gtest.h>

#include "../test_util.h"
#include "lmforge/core/config.h"
#include "lmforge/train/tasks/ditto.h"
#include "lmforge/train/trainer.h"

using namespace lmforge;
using lmforge::test::TempDir;

TEST(Ditto, PseudoRepetitionOfTheSpecToy) {
  // Sentence ends (0) at 2, 6, 9, 12; pick bits 0 choose s = 1.
  std::vector<int64_t> x{5, 6, 0, 7, 8, 9, 0, 3, 4, 0, 1, 2, 0};
  auto r = pseudo_repetition(x, 0, 0);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->prefix, 3);
  EXPECT_EQ(r->unit, 3);
  EXPECT_EQ(r->input, (std::vector<int64_t>{7, 8, 9, 0, 3, 4, 0, 3, 4, 0, 3, 4, 0}));
  EXPECT_EQ(r->target, (std::vector<int64_t>{8, 9, 0, 3, 4, 0, 3, 4, 0, 3, 4, 0, 3}));
  // T - P = 10 = N L + K with N 3, K 1: L (N - 1) + K = 7 penalised targets = T - P - L.
  EXPECT_EQ(static_cast<int64_t>(x.size()) - r->prefix - r->unit, 7);
  // The largest pick chooses s = #ends - 2 = 2: prefix [3 4], unit [0 1 2].
  auto last = pseudo_repetition(x, 0, ~0ULL);
  EXPECT_EQ(last->prefix, 2);
  EXPECT_EQ(last->unit, 3);
  EXPECT_FALSE(pseudo_repetition({1, 0, 2, 0, 3}, 0, 0));  // two ends: no sentence with a prefix
}

TEST(Ditto, LossIsZeroAtTheTargetAndPushesDownAboveIt) {
  // One row, P = 1, L = 2, T = 6: scored t = 3, 4, 5 with baselines p_1, p_2, p_3.
  at::Tensor targets = at::tensor(std::vector<int64_t>{-100, -100, -100, 1, 2, 1}, at::kLong).view({1, 6});
  at::Tensor units = at::tensor(std::vector<int64_t>{2}, at::kLong);
  const double g = 0.5;
  at::Tensor at_target = at::tensor(std::vector<double>{0.9, 0.8, 0.6, 0.4, 0.3, 0.2}, at::kDouble).view({1, 6});
  at_target[0][3] = g * 0.8, at_target[0][4] = g * 0.6, at_target[0][5] = g * g * 0.8;
  for (const char* kind : {"nl", "nl_clip", "mse"})
    EXPECT_NEAR(ditto_loss_sum(at_target, targets, units, g, kind).item<double>(), 0.0, 1e-15) << kind;
  at::Tensor p = at::tensor(std::vector<double>{0.9, 0.8, 0.6, 0.7, 0.1, 0.2}, at::kDouble).view({1, 6}).requires_grad_();
  at::Tensor l = ditto_loss_sum(p, targets, units, g, "nl");
  // By hand: -log(1 - |0.7 - 0.4|) - log(1 - |0.1 - 0.3|) - log(1 - |0.2 - 0.35|).
  EXPECT_NEAR(l.item<double>(), -std::log(0.7) - std::log(0.8) - std::log(0.85), 1e-12);
  l.backward();
  at::Tensor grad = p.grad();
  EXPECT_GT(grad[0][3].item<double>(), 0);  // p above gamma b: gradient descent lowers it
  EXPECT_LT(grad[0][4].item<double>(), 0);  // below: raises it (nl is two-sided)
  // The baseline is a stop-gradient: unscored positions get no gradient, p_3 only its own term.
  EXPECT_EQ(grad[0][1].item<double>(), 0.0);
  EXPECT_EQ(grad[0][2].item<double>(), 0.0);
  EXPECT_NEAR(grad[0][3].item<double>(), 1.0 / 0.7, 1e-12);
  // nl_clip leaves probabilities below the target alone.
  at::Tensor q = p.detach().clone().requires_grad_();
  ditto_loss_sum(q, targets, units, g, "nl_clip").backward();
  EXPECT_EQ(q.grad()[0][4].item<double>(), 0.0);
}

namespace {

toml::table ditto_config(const std::string& train_file, const std::string& cache, double mix) {
  toml::table t = load_config("gpt-tiny");
  for (const std::string& o : std::vector<std::string>{"data.task=ditto", "data.train=" + train_file, "data.cache_dir=" + cache,
                               "data.tokenizer.kind=word", "data.tokenizer.vocab_size=0", "train.seq_len=24",
                               "train.steps=4", "train.log_every=1", "run.threads=1",
                               "data.ditto.mix=" + std::to_string(mix)})
    apply_override(t, o);
  return t;
}

}  // namespace

TEST(Ditto, TaskMixesRepetitionUpdatesIntoLm) {
  TempDir d("ditto");
  std::string text;
  // Rows of 24 tokens: many hold fewer than three sentence ends (the heading lines), so repetition
  // updates only happen because such rows borrow another row's sentences.
  for (int i = 0; i < 20; ++i) text += " = heading words here = \n the cat sat on the mat . a dog ran . the end came soon . \n";
  test::write_text(d / "train.txt", text);
  TrainOptions o;
  o.quiet = true;
  o.run_dir = d / "lm";
  toml::table lm = ditto_config(d / "train.txt", d / "cache", 0.0);
  apply_override(lm, "data.task=lm");
  train(lm, o);
  o.run_dir = d / "mix0";
  train(ditto_config(d / "train.txt", d / "cache", 0.0), o);
  EXPECT_EQ(test::train_losses(d / "lm"), test::train_losses(d / "mix0"));  // mix 0 is plain LM
  o.run_dir = d / "mix1";
  train(ditto_config(d / "train.txt", d / "cache", 1.0), o);
  std::vector<double> rep = test::train_losses(d / "mix1");
  ASSERT_EQ(rep.size(), 4u);
  EXPECT_NE(rep, test::train_losses(d / "lm"));
  // An untrained model's p_t ~ 1/V << 1, so each DITTO term -log(1 - |p - g b|) is near 0.
  EXPECT_LT(rep[0], 0.1);
  toml::table bad = ditto_config(d / "train.txt", d / "cache", 0.5);
  apply_override(bad, "data.ditto.loss=\"hinge\"");
  o.run_dir = d / "bad";
  EXPECT_NE(test::error_of<ConfigError>([&] { train(bad, o); }).find("data.ditto.loss: unknown loss 'hinge'"),
            std::string::npos);
}
