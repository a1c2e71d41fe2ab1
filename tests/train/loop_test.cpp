// The one training loop: the bugs of the three separate loops it replaced (GLUE fine-tuning without
// step hooks, without auxiliary losses, without parameter groups, with a fixed clip), the
// registered optimizers / schedules / tasks chosen from config, and non-finite handling.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>
#include <torch/optim/sgd.h>

#include "lmforge/core/config.h"
#include "lmforge/core/error.h"
#include "lmforge/eval/glue_finetune.h"
#include "lmforge/models/language_model.h"
#include "lmforge/models/sequence_classifier.h"
#include "lmforge/nn/sparse_ift.h"
#include "lmforge/train/checkpoint.h"
#include "lmforge/train/loop.h"
#include "lmforge/train/optimizer.h"
#include "lmforge/train/run_config.h"
#include "lmforge/train/tasks/classification.h"
#include "lmforge/train/trainer.h"
#include "../test_util.h"

using namespace lmforge;
using lmforge::test::run_lmforge;
using lmforge::test::TempDir;
using lmforge::test::write_text;

namespace {

ModelConfig encoder(const std::string& block) {
  toml::table t = parse_toml_string(
      "kind = \"encoder\"\nvocab_size = 30\nd_model = 16\nn_layers = 2\nmax_seq_len = 32\nposition = \"learned\"\n"
      "[block]\nattention = { n_heads = 2 }\n" + block, "test");
  return parse_model_config(&t, "model");
}

// Sentence "x y ... [SEP]"-like examples: class = whether token 5 appears.
std::vector<EncodedExample> examples(int n, uint64_t seed) {
  std::vector<EncodedExample> xs;
  at::manual_seed(seed);
  for (int i = 0; i < n; ++i) {
    EncodedExample x;
    const int64_t len = 4 + i % 5;
    at::Tensor ids = at::randint(6, 30, {len}, at::kLong);
    x.label = i % 2;
    if (x.label) ids[len / 2] = 5;
    x.ids.assign(ids.data_ptr<int64_t>(), ids.data_ptr<int64_t>() + len);
    x.ids.insert(x.ids.begin(), 2);
    x.segments.assign(x.ids.size(), 0);
    xs.push_back(x);
  }
  return xs;
}

LoopOptions quiet_loop(int64_t steps) {
  LoopOptions lo;
  lo.steps = steps;
  lo.quiet = true;
  lo.eval_batches = 0;
  return lo;
}

}  // namespace

// Sparse-IFT masks are re-applied by the step hooks; the GLUE loop never called them, so a sparse
// encoder fine-tuned on GLUE became dense.
TEST(Loop, ClassificationFineTuningKeepsSparseIftWeightsSparse) {
  at::manual_seed(1);
  auto backbone = std::make_shared<LanguageModel>(
      encoder("ffn = \"sparse_mlp\"\nsparse_mlp = { transform = \"wide\", sparsity = 0.5 }\n"));
  auto clf = std::make_shared<SequenceClassifier>(backbone, 2, 0.0);
  ClassificationTask task(examples(24, 2), false, 8, 3, 0);
  BuiltOptimizer opt = build_optimizer(Choice{"adamw", {}}, *clf, 1e-2, 0.01);
  LrSchedule sched(Choice{"constant", {}}, 1e-2, 0.0, 0, 6);
  LoopState st;
  Distributed single;
  run_loop(*clf, task, *opt.optimizer, opt.lr_scales, sched, quiet_loop(6), st, single, nullptr, {});
  int layers = 0;
  for (const auto& m : clf->modules(false))
    if (auto* s = dynamic_cast<SparseIftLinear*>(m.get()); s && s->mask.defined()) {
      ++layers;
      EXPECT_EQ((s->weight * (1 - s->mask)).abs().max().item<double>(), 0.0) << "masked weights moved";
      EXPECT_GT((s->weight * s->mask).abs().max().item<double>(), 0.0);
    }
  EXPECT_GT(layers, 0);
}

// The classifier's forward discarded its ForwardContext, so MoE balance losses never reached the
// objective; the loop adds every auxiliary loss of every task.
TEST(Loop, ClassificationStepAddsTheAuxiliaryLosses) {
  at::manual_seed(2);
  auto backbone = std::make_shared<LanguageModel>(
      encoder("ffn = \"moe\"\nmoe = { n_experts = 4, top_k = 2, hidden = 8, balance_weight = 0.5 }\n"));
  auto clf = std::make_shared<SequenceClassifier>(backbone, 2, 0.0);
  ClassificationTask task(examples(8, 3), false, 8, 3, 0);
  Batch b = task.train_batch(0, 0, 0, 1);
  clf->train();
  ForwardContext ctx;
  ctx.training = true;
  LossSum l = task.loss(*clf, b, ctx);
  ASSERT_FALSE(ctx.aux_losses.empty()) << "the classifier must keep the backbone's auxiliary losses";
  double expect = l.sum.item<double>() / static_cast<double>(l.count);
  for (const auto& [k, v] : ctx.aux_losses) expect += v.item<double>();
  // lr 0: the step measures the loss without moving anything.
  auto sgd = build_optimizer(Choice{"sgd", {}}, *clf, 0.0, 0.0);
  Distributed single;
  StepOptions so;
  StepResult r = train_step(*clf, task, *sgd.optimizer, {b}, so, single);
  EXPECT_NEAR(r.loss, expect, 1e-6);
  EXPECT_GT(r.loss, l.sum.item<double>() / static_cast<double>(l.count) + 1e-4);
}

// build_optimizer, which every loop uses now, honours the hints of any module in the model.
TEST(Loop, ParameterGroupHintsReachTheOptimizerOfAClassifier) {
  struct Hinted : torch::nn::Module, ParamGroupProvider {
    std::shared_ptr<SequenceClassifier> clf;
    explicit Hinted(std::shared_ptr<SequenceClassifier> c) : clf(register_module("clf", c)) {}
    std::vector<ParamGroupHint> param_group_hints() const override {
      ParamGroupHint h;
      h.tag = "head";
      for (const auto& p : clf->named_parameters())
        if (p.key().rfind("head.", 0) == 0) h.params.push_back(p.value());
      h.lr_scale = 0.1;
      return {h};
    }
  };
  auto clf = std::make_shared<SequenceClassifier>(std::make_shared<LanguageModel>(encoder("")), 2, 0.0);
  Hinted m(clf);
  BuiltOptimizer b = build_optimizer(Choice{"adamw", {}}, m, 1e-3, 0.01);
  ASSERT_EQ(b.optimizer->param_groups().size(), 3u);
  EXPECT_EQ(b.optimizer->param_groups()[2].params().size(), 2u);  // head.weight, head.bias
  EXPECT_DOUBLE_EQ(b.optimizer->param_groups()[2].options().get_lr(), 1e-4);
}

// The clip is the caller's (GLUE's --grad-clip, train.grad_clip), not a fixed 1.0: with plain SGD
// at lr 1 the update is exactly the clipped gradient.
TEST(Loop, GradientClipIsHonoured) {
  at::manual_seed(3);
  auto clf = std::make_shared<SequenceClassifier>(std::make_shared<LanguageModel>(encoder("")), 2, 0.0);
  ClassificationTask task(examples(8, 4), false, 8, 3, 0);
  Batch b = task.train_batch(0, 0, 0, 1);
  Choice sgd{"sgd", {}};
  sgd.options.insert("momentum", 0.0);
  for (double clip : {1e-3, 0.0}) {
    std::vector<at::Tensor> before;
    for (auto& p : clf->parameters()) before.push_back(p.detach().clone());
    auto opt = build_optimizer(sgd, make_param_groups(named_parameters_of(*clf), {}, 0.0), 1.0);
    Distributed single;
    StepOptions so;
    so.grad_clip = clip;
    StepResult r = train_step(*clf, task, *opt.optimizer, {b}, so, single);
    double moved = 0;
    auto ps = clf->parameters();
    for (size_t i = 0; i < ps.size(); ++i) moved += (ps[i].detach() - before[i]).pow(2).sum().item<double>();
    // clip_grad_norm_ scales by clip / (norm + 1e-6) in fp32: a relative error of ~1e-6 / norm.
    if (clip > 0) EXPECT_NEAR(std::sqrt(moved), clip, 1e-3 * clip);
    else EXPECT_NEAR(std::sqrt(moved), r.grad_norm, 1e-4 * r.grad_norm);
    torch::NoGradGuard ng;
    for (size_t i = 0; i < ps.size(); ++i) ps[i].copy_(before[i]);
  }
}

// Batches of the classification task are a pure function of (seed, step): resuming sees the same.
TEST(Loop, ClassificationBatchesArePureFunctionsOfTheStep) {
  ClassificationTask a(examples(20, 5), false, 6, 9, 0), b(examples(20, 5), false, 6, 9, 0);
  for (int64_t s : {0, 3, 4, 7, 2}) {  // crosses epochs (4 steps each) in and out of order
    EXPECT_TRUE(at::equal(a.train_batch(s, 0, 0, 1).inputs, b.train_batch(s, 0, 0, 1).inputs)) << s;
    at::Tensor r0 = a.train_batch(s, 0, 0, 2).inputs, r1 = a.train_batch(s, 0, 1, 2).inputs;
    EXPECT_EQ(r0.size(0) + r1.size(0), a.train_batch(s, 0, 0, 1).inputs.size(0)) << s;
  }
  EXPECT_FALSE(at::equal(a.train_batch(0, 0, 0, 1).inputs, a.train_batch(4, 0, 0, 1).inputs));
}

// --- configs: registered optimizers, schedules, tasks ------------------------------------------

TEST(LoopConfig, OptimizerChosenByNameWithItsOwnOptions) {
  toml::table t = parse_toml_string("[train.optimizer]\nname = \"sgd\"\nmomentum = 0.5\nnesterov = true\n", "t");
  RunConfig c = parse_run_config(t);
  EXPECT_EQ(c.train.optimizer.name, "sgd");
  LanguageModel m(encoder(""));
  auto b = build_optimizer(c.train.optimizer, m, 0.1, 0.0);
  auto* sgd = dynamic_cast<torch::optim::SGD*>(b.optimizer.get());
  ASSERT_NE(sgd, nullptr);
  const auto& o = static_cast<const torch::optim::SGDOptions&>(sgd->param_groups()[0].options());
  EXPECT_DOUBLE_EQ(o.momentum(), 0.5);
  EXPECT_TRUE(o.nesterov());
  // every option, defaults included, is in the resolved config
  toml::table dumped = run_config_to_toml(c);
  EXPECT_EQ(dumped["train"]["optimizer"]["dampening"].value_or(-1.0), 0.0);
  EXPECT_EQ(dumped["train"]["optimizer"]["name"].value_or(std::string()), "sgd");
  // the dumped config parses back to the same
  EXPECT_EQ(to_toml_string(run_config_to_toml(parse_run_config(dumped))), to_toml_string(dumped));
}

TEST(LoopConfig, ShorthandNameAndLayeredOptions) {
  toml::table t = parse_toml_string("[train]\noptimizer = \"adamw\"\n", "t");
  apply_override(t, "train.optimizer.beta2=0.98");
  RunConfig c = parse_run_config(t);
  EXPECT_EQ(c.train.optimizer.name, "adamw");
  EXPECT_EQ(c.train.optimizer.options["beta2"].value_or(0.0), 0.98);
}

TEST(LoopConfig, UnknownNamesAndKeysAreRefusedWithASuggestion) {
  auto message = [](const std::string& text) {
    try {
      parse_run_config(parse_toml_string(text, "t"));
    } catch (const ConfigError& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  EXPECT_NE(message("[train]\noptimizer = \"adamm\"\n").find("did you mean 'adamw'"), std::string::npos);
  EXPECT_NE(message("[train.optimizer]\nname = \"sgd\"\nbeta2 = 0.9\n").find("train.optimizer.beta2"), std::string::npos);
  EXPECT_NE(message("[train]\nschedule = \"cosin\"\n").find("did you mean 'cosine'"), std::string::npos);
  EXPECT_NE(message("[data]\ntask = \"mqr\"\n").find("did you mean 'mqar'"), std::string::npos);
  EXPECT_NE(message("[data.mqar]\nvocab_sise = 3\n").find("data.mqar.vocab_sise"), std::string::npos);
  EXPECT_NE(message("[train]\non_nonfinite = \"ignore\"\n").find("train.on_nonfinite"), std::string::npos);
}

TEST(LoopConfig, LegacyAdamKeysMoveToTheOptimizerTable) {
  RunConfig c = parse_run_config(parse_toml_string("[train]\nbeta2 = 0.999\neps = 1e-6\n", "t"));
  EXPECT_EQ(c.train.optimizer.name, "adamw");
  EXPECT_EQ(c.train.optimizer.options["beta2"].value_or(0.0), 0.999);
  EXPECT_EQ(c.train.optimizer.options["eps"].value_or(0.0), 1e-6);
}

// --- non-finite losses: stop keeps the last checkpoint; skip drops the update ------------------

namespace {
std::string diverging(const TempDir& d, const std::string& policy) {
  return "train -c mqar --set train.steps=4 --set train.save_every=1 --set train.lr=1e30 --set train.warmup_steps=0"
         " --set train.schedule=constant --set train.grad_clip=0 --set train.precision=fp32 --set train.eval_every=0"
         " --set data.mqar.vocab_size=32 --set data.mqar.seq_len=16 --set train.seq_len=16 --set model.max_seq_len=16"
         " --set data.mqar.num_kv_pairs=2 --set train.batch_size=2 --set model.d_model=16 --set model.n_layers=1"
         " --set run.threads=1 --set train.on_nonfinite=" + policy + " --out " + (d / "run");
}
}  // namespace

TEST(Loop, NonFiniteStopsNamingTheStepAndKeepsTheLastCheckpoint) {
  TempDir d("nonfinite");
  auto r = run_lmforge(diverging(d, "stop"));
  EXPECT_NE(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("non-finite training at step"), std::string::npos) << r.output;
  const int64_t step = load_state(checkpoint_dir(d / "run"))["step"].get<int64_t>();
  EXPECT_GE(step, 1);
  EXPECT_NE(r.output.find("at step " + std::to_string(step + 1)), std::string::npos) << r.output;
  EXPECT_FALSE(std::filesystem::exists(d / "run/metrics.json"));
}

TEST(Loop, NonFiniteSkipDropsTheUpdateAndCountsIt) {
  TempDir d("nonfinite-skip");
  auto r = run_lmforge(diverging(d, "skip"));
  ASSERT_EQ(r.code, 0) << r.output;
  auto m = nlohmann::json::parse(lmforge::test::read_text(d / "run/metrics.json"));
  EXPECT_GE(m["skipped_steps"].get<int64_t>(), 1) << m.dump();
  EXPECT_NE(r.output.find("update skipped"), std::string::npos) << r.output;
}

// --- a task defined in this file alone: what adding one takes (one file, one registration) -------

namespace {
// Counting: the token after x is (x + 1) mod vocab. Options in [data.test_count].
struct CountOptions {
  int64_t vocab = 16;
  template <class V>
  void visit(V& v) {
    v("vocab", vocab, "token ids 0 .. vocab-1");
  }
};
class CountTask : public Task {
 public:
  CountTask(const CountOptions& o, const RunConfig& c) : o_(o), c_(c) {}
  int64_t vocab_size() const override { return o_.vocab; }
  Batch train_batch(int64_t step, int64_t micro, int rank, int world) override {
    at::Tensor start = at::arange(c_.train.batch_size, at::kLong).add_(step * 7 + micro + rank).remainder_(o_.vocab);
    at::Tensor seq = (start.unsqueeze(1) + at::arange(c_.train.seq_len + 1, at::kLong)).remainder_(o_.vocab);
    return {seq.narrow(1, 0, c_.train.seq_len), seq.narrow(1, 1, c_.train.seq_len)};
  }
  std::vector<Batch> valid_batches(int64_t n) override {
    std::vector<Batch> v;
    for (int64_t i = 0; i < n; ++i) v.push_back(train_batch(1000 + i, 0, 0, 1));
    return v;
  }
  LossSum loss(torch::nn::Module& model, const Batch& b, ForwardContext& ctx) override {
    LanguageModel& lm = as_language_model(model, "test_count");
    at::Tensor logits = lm.logits(lm.hidden(b.inputs, ctx)).to(at::kFloat);
    return {at::cross_entropy_loss(logits.reshape({-1, logits.size(-1)}), b.targets.reshape({-1}), {},
                                   at::Reduction::Sum),
            b.targets.numel()};
  }

 private:
  CountOptions o_;
  RunConfig c_;
};
const bool kCountTask = TaskRegistry::add<CountOptions>(
    "test_count", "test: count modulo vocab",
    [](const CountOptions& o, const TaskContext& c) { return std::make_shared<CountTask>(o, *c.cfg); });
}  // namespace

TEST(LoopConfig, ARegisteredTaskTrainsFromConfig) {
  TempDir d("task");
  toml::table cfg = parse_toml_string(
      "[run]\nthreads = 1\n[data]\ntask = \"test_count\"\n[data.test_count]\nvocab = 12\n"
      "[model]\nd_model = 16\nn_layers = 1\nmax_seq_len = 8\nposition = \"learned\"\n[model.block]\nattention = { n_heads = 2 }\n"
      "[train]\nsteps = 40\nbatch_size = 8\nseq_len = 8\nlr = 1e-2\nwarmup_steps = 0\nprecision = \"fp32\"\n"
      "eval_every = 0\neval_batches = 2\nlog_every = 40\n", "t");
  TrainOptions o;
  o.run_dir = d / "run";
  o.quiet = true;
  nlohmann::json m = train(cfg, o);
  EXPECT_TRUE(m["finished"].get<bool>());
  EXPECT_LT(m["valid_loss"].get<double>(), 0.5 * std::log(12.0)) << m.dump();  // learned, far below chance
  // the task's options are part of the stored, resolved config
  RunConfig stored = parse_run_config(load_checkpoint_config(checkpoint_dir(d / "run")));
  EXPECT_EQ(stored.data.task_options["vocab"].value_or(int64_t{0}), 12);
}

// --- the schedule clock in the loop, on a fake clock (nothing sleeps, no timing is asserted) -----

namespace {

// Every step advances a fake clock by seconds(step) (when the loop fetches its first micro-batch)
// and every evaluation batch by eval_seconds: the loop measures exactly these durations.
class FakeTimedTask : public Task {
 public:
  FakeTimedTask(Task& inner, double& now, std::function<double(int64_t)> seconds, double eval_seconds = 0)
      : inner_(inner), now_(now), seconds_(std::move(seconds)), eval_seconds_(eval_seconds) {}
  Batch train_batch(int64_t step, int64_t micro, int rank, int world) override {
    if (micro == 0) now_ += seconds_(step);
    return inner_.train_batch(step, micro, rank, world);
  }
  std::vector<Batch> valid_batches(int64_t n) override {
    return n > 0 ? std::vector<Batch>{inner_.train_batch(999, 0, 0, 1)} : std::vector<Batch>{};
  }
  LossSum loss(torch::nn::Module& model, const Batch& b, ForwardContext& ctx) override {
    if (!model.is_training()) now_ += eval_seconds_;
    return inner_.loss(model, b, ctx);
  }
  int64_t loss_count(const Batch& b) const override { return inner_.loss_count(b); }
  bool reports_perplexity() const override { return inner_.reports_perplexity(); }

 private:
  Task& inner_;
  double& now_;
  std::function<double(int64_t)> seconds_;
  double eval_seconds_;
};

struct ClockRun {
  std::vector<nlohmann::json> train, eval;  // log.jsonl records
  LoopResult result;
};

// One run_loop call of a tiny classifier on the fake clock `now`, logging every step.
ClockRun run_on_fake_clock(LoopOptions lo, const LrSchedule& sched, double& now, std::function<double(int64_t)> seconds,
                           LoopState& state, const std::string& log_path, double eval_seconds = 0) {
  at::manual_seed(7);
  auto clf = std::make_shared<SequenceClassifier>(std::make_shared<LanguageModel>(encoder("")), 2, 0.0);
  ClassificationTask inner(examples(16, 6), false, 4, 5, 0);
  FakeTimedTask task(inner, now, std::move(seconds), eval_seconds);
  BuiltOptimizer opt = build_optimizer(Choice{"adamw", {}}, *clf, sched.peak(), 0.0);
  lo.quiet = true;
  lo.log_every = 1;
  lo.clock = [&now] { return now; };
  Distributed single;
  ClockRun r;
  {
    JsonlLog log(log_path);
    r.result = run_loop(*clf, task, *opt.optimizer, opt.lr_scales, sched, lo, state, single, &log, {});
  }
  std::ifstream f(log_path);
  for (std::string line; std::getline(f, line);) {
    auto j = nlohmann::json::parse(line);
    (j["type"] == "train" ? r.train : r.eval).push_back(j);
  }
  std::filesystem::remove(log_path);
  return r;
}

LoopOptions clocked(ScheduleClockMode mode, int64_t steps, double max_minutes) {
  LoopOptions lo;
  lo.steps = steps;
  lo.eval_batches = 0;
  lo.max_minutes = max_minutes;
  lo.schedule_clock = mode;
  return lo;
}

}  // namespace

// Budget 15 s, steps of 1.5 s: 10 steps fit. Step k reads the schedule at budget share k / 9, which
// is the step clock's lr at step 900 k / 9 = 100 k (warmup included), and the last step reads the
// end of the decay: the capped run anneals and ends there, finished.
TEST(LoopClock, TimeClockFollowsTheBudgetAndEndsAtTheFinalLr) {
  TempDir d("clock");
  LrSchedule sched(Choice{"cosine", {}}, 1e-2, 0.1, 150, 900);
  double now = 1000;
  LoopState st;
  ClockRun r = run_on_fake_clock(clocked(ScheduleClockMode::kTime, 900, 0.25), sched, now, [](int64_t) { return 1.5; },
                                 st, d / "log.jsonl");
  ASSERT_EQ(r.train.size(), 10u);
  for (int k = 0; k < 10; ++k) {
    EXPECT_NEAR(r.train[k]["progress"].get<double>(), k / 9.0, 1e-12) << k;
    EXPECT_NEAR(r.train[k]["lr"].get<double>(), sched.at(100 * k), 1e-15) << k;
    EXPECT_NEAR(r.train[k]["budget_used"].get<double>(), (k + 1) * 1.5 / 15.0, 1e-12) << k;
  }
  EXPECT_NEAR(r.train.back()["lr"].get<double>(), 1e-3, 1e-15);  // the floor: peak * min_lr_ratio
  EXPECT_EQ(r.train.back()["schedule_clock"], "time");
  EXPECT_TRUE(r.result.finished);
  EXPECT_TRUE(st.budget_done);
  EXPECT_EQ(st.step, 10);
  EXPECT_EQ(st.train_seconds, 15.0);
}

// The step clock with the same cap: today's behaviour, bit for bit: lr at(step), and the cap stops
// the run mid-decay (stopped, not finished).
TEST(LoopClock, StepClockIsUnchangedAndStopsMidDecay) {
  TempDir d("clock-steps");
  LrSchedule sched(Choice{"cosine", {}}, 1e-2, 0.1, 150, 900);
  double now = 0;
  LoopState st;
  ClockRun r = run_on_fake_clock(clocked(ScheduleClockMode::kSteps, 900, 0.25), sched, now, [](int64_t) { return 1.5; },
                                 st, d / "log.jsonl");
  ASSERT_EQ(r.train.size(), 10u);
  for (int k = 0; k < 10; ++k) {
    EXPECT_EQ(r.train[k]["lr"].get<double>(), sched.at(k)) << k;
    EXPECT_NEAR(r.train[k]["progress"].get<double>(), k / 900.0, 1e-15) << k;
    EXPECT_FALSE(r.train[k].contains("budget_used"));
  }
  EXPECT_FALSE(r.result.finished);
  EXPECT_FALSE(st.budget_done);
}

// Slow first steps (allocation, caches) only use budget: the last step still reads the end of the
// decay, the run stays within its budget, and the lr never goes back up.
TEST(LoopClock, SlowFirstStepsDoNotMoveTheEnd) {
  TempDir d("clock-slow");
  LrSchedule sched(Choice{"linear", {}}, 1e-2, 0.0, 10, 500);
  double now = 0;
  LoopState st;
  ClockRun r = run_on_fake_clock(clocked(ScheduleClockMode::kTime, 500, 0.25), sched, now,
                                 [](int64_t s) { return s == 0 ? 3.0 : s == 1 ? 1.0 : 0.5; }, st, d / "log.jsonl");
  ASSERT_GE(r.train.size(), 20u);
  EXPECT_EQ(r.train.back()["lr"].get<double>(), 0.0);
  EXPECT_EQ(r.train.back()["progress"].get<double>(), 1.0);
  EXPECT_LE(st.train_seconds, 15.0);
  EXPECT_GT(st.train_seconds, 15.0 - 0.5 - 1e-9);  // no whole step of budget left unused
  for (size_t k = 1; k < r.train.size(); ++k)
    EXPECT_GE(r.train[k]["progress"].get<double>(), r.train[k - 1]["progress"].get<double>()) << k;
}

// Stopped after 4 steps (SIGINT, --stop-after) and resumed from the saved state: the same clock goes
// on (training seconds and step time come from the checkpoint), so the lr of every step and the
// end are those of the uninterrupted run; resuming a run its budget finished does nothing.
TEST(LoopClock, ResumeContinuesTheClock) {
  TempDir d("clock-resume");
  LrSchedule sched(Choice{"cosine", {}}, 1e-2, 0.1, 150, 900);
  const auto step_time = [](int64_t) { return 1.5; };
  double now = 0;
  LoopState full;
  ClockRun a = run_on_fake_clock(clocked(ScheduleClockMode::kTime, 900, 0.25), sched, now, step_time, full, d / "a.jsonl");

  LoopOptions first = clocked(ScheduleClockMode::kTime, 900, 0.25);
  first.stop_after = 4;
  double now2 = 5000;
  LoopState part;
  ClockRun b1 = run_on_fake_clock(first, sched, now2, step_time, part, d / "b.jsonl");
  EXPECT_FALSE(b1.result.finished);
  now2 += 3600;  // the run sat on disk for an hour: not training time
  LoopState resumed = LoopState::from_json(part.to_json());
  EXPECT_EQ(resumed.train_seconds, 6.0);
  ClockRun b2 = run_on_fake_clock(clocked(ScheduleClockMode::kTime, 900, 0.25), sched, now2, step_time, resumed, d / "b.jsonl");
  ASSERT_EQ(b1.train.size() + b2.train.size(), a.train.size());
  for (size_t k = 0; k < a.train.size(); ++k) {
    const auto& rec = k < 4 ? b1.train[k] : b2.train[k - 4];
    EXPECT_EQ(rec["lr"].get<double>(), a.train[k]["lr"].get<double>()) << k;
  }
  EXPECT_TRUE(b2.result.finished);
  LoopState done = LoopState::from_json(resumed.to_json());
  ClockRun c = run_on_fake_clock(clocked(ScheduleClockMode::kTime, 900, 0.25), sched, now2, step_time, done, d / "c.jsonl");
  EXPECT_TRUE(c.train.empty());
  EXPECT_TRUE(c.result.finished);
  EXPECT_EQ(done.step, 10);
}

// auto: where the steps fit in the budget it is the step clock, bit for bit; where they do not,
// it switches to the time clock after a few measured steps and anneals by the end of the budget.
TEST(LoopClock, AutoIsStepsWhenTheyFitAndTimeWhenTheBudgetBinds) {
  TempDir d("clock-auto");
  LrSchedule sched(Choice{"cosine", {}}, 1e-2, 0.1, 4, 40);
  double now = 0;
  LoopState fast;
  ClockRun f = run_on_fake_clock(clocked(ScheduleClockMode::kAuto, 40, 0.5), sched, now, [](int64_t) { return 0.5; }, fast,
                                 d / "f.jsonl");
  ASSERT_EQ(f.train.size(), 40u);
  for (int k = 0; k < 40; ++k) EXPECT_EQ(f.train[k]["lr"].get<double>(), sched.at(k)) << k;
  EXPECT_FALSE(fast.time_clock);
  EXPECT_FALSE(fast.budget_done);
  EXPECT_TRUE(f.result.finished);

  LoopState slow;
  ClockRun s = run_on_fake_clock(clocked(ScheduleClockMode::kAuto, 40, 0.5), sched, now, [](int64_t) { return 1.5; }, slow,
                                 d / "s.jsonl");
  EXPECT_EQ(s.train.size(), 20u);  // 30 s of 1.5 s steps
  EXPECT_EQ(s.train.front()["schedule_clock"], "steps");
  EXPECT_EQ(s.train.back()["schedule_clock"], "time");
  EXPECT_NEAR(s.train.back()["lr"].get<double>(), 1e-3, 1e-15);
  EXPECT_TRUE(slow.time_clock);
  EXPECT_TRUE(slow.budget_done);
  EXPECT_TRUE(s.result.finished);
}

// Evaluations keep their step cadence, run once more at the end of the budget, and their time is
// not training time: 100 s per evaluation, and the budget still holds its 10 steps.
TEST(LoopClock, EvaluationsKeepTheirCadenceAndAreNotBudgetTime) {
  TempDir d("clock-eval");
  LrSchedule sched(Choice{"cosine", {}}, 1e-2, 0.1, 150, 900);
  LoopOptions lo = clocked(ScheduleClockMode::kTime, 900, 0.25);
  lo.eval_every = 4;
  lo.eval_batches = 1;
  double now = 0;
  LoopState st;
  ClockRun r = run_on_fake_clock(lo, sched, now, [](int64_t) { return 1.5; }, st, d / "log.jsonl", /*eval_seconds=*/100);
  ASSERT_EQ(r.train.size(), 10u);
  std::vector<int64_t> at;
  for (const auto& e : r.eval) at.push_back(e["step"].get<int64_t>());
  EXPECT_EQ(at, (std::vector<int64_t>{4, 8, 10}));
  EXPECT_EQ(st.train_seconds, 15.0);
  EXPECT_NEAR(r.train.back()["lr"].get<double>(), 1e-3, 1e-15);
}

// Through the trainer, on the real clock (no timing asserted): the clock's state is in every
// checkpoint, a resumed time-clock run goes on from it, and the metrics say which clock ended it.
TEST(LoopClock, TrainerStoresTheClockInTheCheckpoint) {
  TempDir d("clock-trainer");
  toml::table cfg = load_config("gpt-tiny");
  apply_override(cfg, "run.threads=1");
  apply_override(cfg, "train.log_every=1");
  apply_override(cfg, "train.schedule_clock=\"time\"");
  apply_override(cfg, "train.max_minutes=30");  // far more than 20 tiny steps take: the steps lead
  TrainOptions o;
  o.run_dir = d / "run";
  o.quiet = true;
  o.stop_after = 5;
  nlohmann::json m = train(cfg, o);
  EXPECT_FALSE(m["finished"].get<bool>());
  const nlohmann::json s1 = load_state(checkpoint_dir(o.run_dir));
  EXPECT_GT(s1["train_seconds"].get<double>(), 0.0) << s1.dump();
  EXPECT_GT(s1["step_seconds"].get<double>(), 0.0) << s1.dump();
  TrainOptions again;
  again.run_dir = o.run_dir;
  again.resume = true;
  again.quiet = true;
  m = train({}, again);
  EXPECT_TRUE(m["finished"].get<bool>());
  EXPECT_EQ(m["step"].get<int64_t>(), 20);
  EXPECT_EQ(m["schedule_clock"], "time");
  const nlohmann::json s2 = load_state(checkpoint_dir(o.run_dir));
  EXPECT_GT(s2["train_seconds"].get<double>(), s1["train_seconds"].get<double>());
  EXPECT_NEAR(m["budget_used"].get<double>(), s2["train_seconds"].get<double>() / 1800.0, 1e-12);
  // every train record carries the schedule's progress, and the steps led to the end
  std::vector<double> progress;
  std::ifstream f(o.run_dir + "/log.jsonl");
  for (std::string line; std::getline(f, line);) {
    auto j = nlohmann::json::parse(line);
    if (j["type"] == "train") progress.push_back(j["progress"].get<double>());
  }
  ASSERT_EQ(progress.size(), 20u);
  EXPECT_NEAR(progress.back(), 19.0 / 20.0, 1e-12);
}
