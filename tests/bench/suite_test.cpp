// Suite files: parsing (unknown keys refused), every built-in suite parses, the matrix expansion
// (mixer sweep + explicit models, per-mixer options, --models), and the budget as overrides.
#include <algorithm>

#include <gtest/gtest.h>

#include "lmforge/bench/suite.h"
#include "lmforge/core/config.h"
#include "lmforge/nn/components.h"

namespace lmforge {
namespace {

TEST(BenchSuite, BuiltInSuitesParse) {
  std::vector<std::string> names = suite_names();
  for (const char* want : {"quick", "wikitext", "glue", "kernels", "all", "start", "wikitext-quick"})
    EXPECT_NE(std::find(names.begin(), names.end(), want), names.end()) << want;
  for (const auto& n : names) {
    Suite s = load_suite(n);
    EXPECT_FALSE(s.description.empty()) << n;
    // Every model of every suite resolves to a valid config.
    for (const auto& m : plan_models(s, MixerRegistry::names())) {
      toml::table t = load_layered(m.configs, m.set);
      EXPECT_NO_THROW(budget_overrides(s.budget, t, 3)) << n << "/" << m.name;
    }
  }
}

TEST(BenchSuite, QuickSweepsEveryRegisteredMixer) {
  Suite s = load_suite("quick");
  std::vector<PlannedModel> p = plan_models(s, MixerRegistry::names());
  for (const auto& mixer : MixerRegistry::names())
    EXPECT_TRUE(std::any_of(p.begin(), p.end(), [&](const PlannedModel& m) { return m.name == mixer; })) << mixer;
  EXPECT_GT(s.budget.steps, 0);
  EXPECT_GT(s.budget.suite_minutes, 0);
}

TEST(BenchSuite, GluePartParsesWithPerTaskOverrides) {
  Suite s = parse_suite(R"(
[glue]
tasks = ["SST-2", "RTE"]
corpus = ["a.txt"]
corpus_glue_train = false
epochs = 2
lr = 1e-4
[glue.task.SST-2]
epochs = 1
max_train = 100
)", "x", "x.toml");
  ASSERT_TRUE(s.glue.enabled());
  EXPECT_EQ(s.glue.tasks, (std::vector<std::string>{"SST-2", "RTE"}));
  EXPECT_FALSE(s.glue.corpus_glue_train);
  EXPECT_EQ(s.glue.finetune.options.epochs, 2);
  ASSERT_EQ(s.glue.per_task.count("SST-2"), 1u);
  EXPECT_EQ(s.glue.per_task["SST-2"].options.epochs, 1);
  EXPECT_EQ(s.glue.per_task["SST-2"].options.max_train, 100);
  EXPECT_DOUBLE_EQ(s.glue.per_task["SST-2"].options.lr, 1e-4);  // the shared keys under the task's own
  EXPECT_FALSE(load_suite("glue").glue.tasks.empty());
  // Unknown keys, a per-task table for a task not listed, a wrong type.
  EXPECT_THROW(parse_suite("[glue]\ntasks = [\"RTE\"]\nepoch = 2\n", "x", "x.toml"), ConfigError);
  EXPECT_THROW(parse_suite("[glue]\ntasks = [\"RTE\"]\n[glue.task.SST-2]\nepochs = 1\n", "x", "x.toml"), ConfigError);
  EXPECT_THROW(parse_suite("[glue]\ntasks = [\"RTE\"]\n[glue.task.RTE]\nepoch = 1\n", "x", "x.toml"), ConfigError);
  EXPECT_THROW(parse_suite("[glue]\ntasks = \"RTE\"\n", "x", "x.toml"), ConfigError);
}

TEST(BenchSuite, UnknownKeysAreRefused) {
  EXPECT_THROW(parse_suite("[budget]\nstep = 3\n", "x", "x.toml"), ConfigError);
  EXPECT_THROW(parse_suite("descriptio = \"a\"\n", "x", "x.toml"), ConfigError);
  EXPECT_THROW(parse_suite("[mixers]\nexclud = []\n", "x", "x.toml"), ConfigError);
  EXPECT_THROW(parse_suite("[[models]]\nname = \"a\"\nsets = []\n", "x", "x.toml"), ConfigError);
  EXPECT_THROW(parse_suite("[[models]]\nname = \"a\"\n[[models]]\nname = \"a\"\n", "x", "x.toml"), ConfigError);
  EXPECT_THROW(parse_suite("[budget]\nsteps = 3\ntokens = 4\n", "x", "x.toml"), ConfigError);
  try {
    parse_suite("[budget]\nstep = 3\n", "x", "x.toml");
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("did you mean 'budget.steps'"), std::string::npos) << e.what();
  }
  EXPECT_THROW(load_suite("no-such-suite"), UserError);
}

TEST(BenchSuite, PlanExpandsMixersAndModels) {
  Suite s = parse_suite(R"(
[defaults]
configs = ["mqar"]
set = ["train.log_every=5"]
[mixers]
all = true
exclude = ["m3"]
set = { m1 = ["model.block.m1.k=1"] }
[[models]]
name = "m2"
set = ["model.d_model=32"]
[[models]]
name = "extra"
configs = ["gpt-tiny"]
)",
                        "t", "t.toml");
  std::vector<PlannedModel> p = plan_models(s, {"m1", "m2", "m3"});
  ASSERT_EQ(p.size(), 3u);  // m1 (sweep), m2 (explicit replaces the sweep's), extra; m3 excluded
  EXPECT_EQ(p[0].name, "m1");
  EXPECT_EQ(p[0].set, (std::vector<std::string>{"train.log_every=5", "model.block.mixer=\"m1\"", "model.block.m1.k=1"}));
  EXPECT_EQ(p[1].name, "m2");
  EXPECT_EQ(p[1].set, (std::vector<std::string>{"train.log_every=5", "model.d_model=32"}));
  EXPECT_EQ(p[2].configs, (std::vector<std::string>{"mqar", "gpt-tiny"}));
  EXPECT_EQ(plan_models(s, {"m1", "m2"}, {"extra"}).size(), 1u);
  EXPECT_THROW(plan_models(s, {"m1"}, {"nope"}), UserError);
}

TEST(BenchSuite, BudgetBecomesOverrides) {
  toml::table t = parse_toml_string("[train]\nbatch_size = 8\nseq_len = 64\ngrad_accum = 2\n", "t");
  SuiteBudget b;
  b.tokens = 10000;  // 1024 tokens per step -> 10 steps (rounded up)
  EXPECT_EQ(budget_overrides(b, t), (std::vector<std::string>{"train.steps=10"}));
  b = SuiteBudget{};
  b.steps = 300;
  b.max_minutes = 2;
  b.suite_minutes = 3;  // 3 models share it: 1 minute each, below the per-model cap
  EXPECT_EQ(budget_overrides(b, t, 3), (std::vector<std::string>{"train.steps=300", "train.max_minutes=1"}));
  EXPECT_EQ(budget_overrides(b, t, 1), (std::vector<std::string>{"train.steps=300", "train.max_minutes=2"}));
}

}  // namespace
}  // namespace lmforge
