// Bad input through the binary: one clear message naming what is wrong, a non-zero exit,
// no stack trace, and nothing already written is lost.
#include <gtest/gtest.h>

#include "../test_util.h"

using lmforge::test::run_lmforge;
using lmforge::test::TempDir;

namespace {

void expect_user_error(const lmforge::test::CommandResult& r, const std::string& needle) {
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("lmforge: error: "), std::string::npos) << r.output;
  EXPECT_NE(r.output.find(needle), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("Exception raised from"), std::string::npos) << "a stack trace leaked:\n" << r.output;
}

}  // namespace

TEST(CliErrors, UnknownConfigKey) {
  TempDir d("cli");
  expect_user_error(run_lmforge("train -c gpt-tiny --set train.stepz=3 --out " + d / "r"), "train.stepz");
}

TEST(CliErrors, WrongValueType) {
  TempDir d("cli");
  expect_user_error(run_lmforge("train -c gpt-tiny --set model.d_model=wide --out " + d / "r"),
                    "'model.d_model': expected an integer");
}

TEST(CliErrors, MissingConfigFile) {
  TempDir d("cli");
  expect_user_error(run_lmforge("train -c /no/such/file.toml --out " + d / "r"), "/no/such/file.toml");
}

TEST(CliErrors, MalformedConfigFileNamesLine) {
  TempDir d("cli");
  lmforge::test::write_text(d / "bad.toml", "[train]\nsteps = 3\nlr = [\n");
  expect_user_error(run_lmforge("train -c " + d / "bad.toml" + " --out " + d / "r"), "bad.toml:");
}

TEST(CliErrors, MissingTrainingFile) {
  TempDir d("cli");
  expect_user_error(run_lmforge("train -c gpt-tiny --set data.task=lm --set data.train=" + d / "nope.txt" +
                                " --out " + d / "r"),
                    "nope.txt");
}

TEST(CliErrors, MissingCheckpoint) {
  TempDir d("cli");
  expect_user_error(run_lmforge("eval-lm --checkpoint " + d / "none" + " --data x"), "no such directory");
}

TEST(CliErrors, OutputDirectoryOfAnotherRunIsNotOverwritten) {
  TempDir d("cli");
  auto r = run_lmforge("train -c gpt-tiny -q --set train.steps=2 --out " + d / "r");
  ASSERT_EQ(r.code, 0) << r.output;
  std::string before = lmforge::test::read_text(d / "r/log.jsonl");
  expect_user_error(run_lmforge("train -c gpt-tiny -q --set train.steps=2 --out " + d / "r"), "already holds a run");
  EXPECT_EQ(lmforge::test::read_text(d / "r/log.jsonl"), before);
}

TEST(CliErrors, WeightsOfAnotherArchitecture) {
  TempDir d("cli");
  auto r = run_lmforge("train -c gpt-tiny -q --set train.steps=1 --out " + d / "a");
  ASSERT_EQ(r.code, 0) << r.output;
  expect_user_error(run_lmforge("train -c gpt-tiny -q --set train.steps=1 --set model.d_model=32 --init-weights " +
                                d / "a/checkpoint/model.safetensors" + " --out " + d / "b"),
                    "has shape");
}

TEST(CliErrors, UnknownSubcommandOrFlagIsAUsageError) {
  auto r = run_lmforge("trian");
  EXPECT_NE(r.code, 0);
  r = run_lmforge("train --no-such-flag");
  EXPECT_NE(r.code, 0);
}

TEST(CliErrors, DumpConfigShowsEveryDefault) {
  auto r = run_lmforge("train -c gpt-tiny --set train.lr=0.5 --dump-config");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("lr = 0.5"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("n_heads = 4"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("grad_clip"), std::string::npos) << r.output;
  // each key with its help (visit()'s third argument) as a comment, e.g. the schedule's clock
  EXPECT_NE(r.output.find("schedule_clock = 'steps'    # what warmup and decay follow"), std::string::npos) << r.output;
}

TEST(CliErrors, UnknownSubcommandGetsASuggestion) {
  expect_user_error(run_lmforge("evall-lm --checkpoint x"), "unknown subcommand 'evall-lm' (did you mean 'eval-lm'?)");
  expect_user_error(run_lmforge("nosuch --help"), "unknown subcommand 'nosuch'");
}

TEST(CliErrors, VersionAndBashCompletion) {
  auto v = run_lmforge("--version");
  EXPECT_EQ(v.code, 0) << v.output;
  EXPECT_FALSE(v.output.empty());
  auto c = run_lmforge("completion bash");
  ASSERT_EQ(c.code, 0) << c.output;
  EXPECT_NE(c.output.find("complete -F _lmforge lmforge"), std::string::npos) << c.output;
  EXPECT_NE(c.output.find("eval-lm"), std::string::npos);
  EXPECT_NE(c.output.find("--checkpoint"), std::string::npos);
  // the script is valid bash
  lmforge::test::TempDir d("compl");
  lmforge::test::write_text(d / "c.sh", c.output);
  EXPECT_EQ(std::system(("bash -n " + d / "c.sh").c_str()), 0);
}
