// Config layering, binding and its errors.
#include <gtest/gtest.h>

#include "lmforge/core/config.h"
#include "lmforge/train/run_config.h"

using namespace lmforge;

namespace {

template <class F>
std::string error_of(F f) {
  try {
    f();
  } catch (const UserError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(Config, OverridesParseTomlValuesAndBareWords) {
  toml::table t;
  apply_override(t, "train.lr=3e-4");
  apply_override(t, "train.steps=10");
  apply_override(t, "model.block.mixer=hyena");
  apply_override(t, "run.device=\"cpu\"");
  EXPECT_DOUBLE_EQ(*t["train"]["lr"].value<double>(), 3e-4);
  EXPECT_EQ(*t["train"]["steps"].value<int64_t>(), 10);
  EXPECT_EQ(*t["model"]["block"]["mixer"].value<std::string>(), "hyena");
  EXPECT_EQ(*t["run"]["device"].value<std::string>(), "cpu");
}

TEST(Config, LaterLayersWinAndTablesMerge) {
  toml::table base = parse_toml_string("[train]\nlr = 1.0\nsteps = 5\n[model]\nd_model = 64\n", "a");
  toml::table over = parse_toml_string("[train]\nlr = 2.0\n", "b");
  merge_into(base, over);
  EXPECT_DOUBLE_EQ(*base["train"]["lr"].value<double>(), 2.0);
  EXPECT_EQ(*base["train"]["steps"].value<int64_t>(), 5);
  EXPECT_EQ(*base["model"]["d_model"].value<int64_t>(), 64);
}

TEST(Config, UnknownKeyNamesItAndSuggests) {
  toml::table t = parse_toml_string("[train]\nlearning_rate = 1.0\nstesp = 3\n", "x");
  std::string e = error_of([&] { parse_run_config(t); });
  EXPECT_NE(e.find("unknown config key 'train."), std::string::npos) << e;
  toml::table t2 = parse_toml_string("[train]\nstesp = 3\n", "x");
  e = error_of([&] { parse_run_config(t2); });
  EXPECT_NE(e.find("did you mean 'train.steps'"), std::string::npos) << e;
}

TEST(Config, WrongTypeNamesKeyAndExpectation) {
  toml::table t = parse_toml_string("[train]\nsteps = \"many\"\n", "x");
  std::string e = error_of([&] { parse_run_config(t); });
  EXPECT_NE(e.find("'train.steps': expected an integer, got a string"), std::string::npos) << e;
}

TEST(Config, UnknownComponentListsRegistered) {
  toml::table t = parse_toml_string("[model.block]\nmixer = \"atention\"\n", "x");
  std::string e = error_of([&] { parse_run_config(t); });
  EXPECT_NE(e.find("unknown mixer 'atention'"), std::string::npos) << e;
  EXPECT_NE(e.find("attention"), std::string::npos) << e;
}

TEST(Config, ComponentOptionsAreValidated) {
  toml::table t = parse_toml_string("[model.block.attention]\nn_head = 4\n", "x");
  std::string e = error_of([&] { parse_run_config(t); });
  EXPECT_NE(e.find("'model.block.attention.n_head'"), std::string::npos) << e;
  EXPECT_NE(e.find("did you mean 'model.block.attention.n_heads'"), std::string::npos) << e;
}

TEST(Config, BlockRepeatsMustMatchLayers) {
  toml::table t = parse_toml_string(
      "[model]\nn_layers = 3\n[[model.blocks]]\nrepeat = 1\n[[model.blocks]]\nrepeat = 1\nnorm = \"rmsnorm\"\n", "x");
  std::string e = error_of([&] { parse_run_config(t); });
  EXPECT_NE(e.find("add up to 2 layers but model.n_layers is 3"), std::string::npos) << e;
}

TEST(Config, HeterogeneousStackResolvesAndRoundTrips) {
  toml::table t = parse_toml_string(
      "[model]\nn_layers = 3\n[model.block]\nattention = { n_heads = 2 }\n"
      "[[model.blocks]]\nrepeat = 2\n[[model.blocks]]\nrepeat = 1\nnorm = \"rmsnorm\"\nffn = \"glu\"\n", "x");
  RunConfig c = parse_run_config(t);
  ASSERT_EQ(c.model.layers.size(), 3u);
  EXPECT_EQ(c.model.layers[0].norm, "layernorm");
  EXPECT_EQ(c.model.layers[2].norm, "rmsnorm");
  EXPECT_EQ(c.model.layers[2].ffn, "glu");
  toml::table dumped = run_config_to_toml(c);
  // Every default is present in the dump, and the dump parses back to the same dump.
  EXPECT_EQ(*dumped["model"]["blocks"][0]["attention"]["n_heads"].value<int64_t>(), 2);
  EXPECT_TRUE(dumped["train"]["lr"].is_floating_point());
  RunConfig again = parse_run_config(dumped);
  EXPECT_EQ(to_toml_string(run_config_to_toml(again)), to_toml_string(dumped));
}

TEST(Config, InvalidTomlNamesFileLineAndColumn) {
  std::string e = error_of([] { parse_toml_string("[train]\nlr = = 3\n", "my.toml"); });
  EXPECT_NE(e.find("my.toml:2:"), std::string::npos) << e;
}

TEST(Config, MissingFileAndUnknownPreset) {
  std::string e = error_of([] { load_config("/nonexistent/x.toml"); });
  EXPECT_NE(e.find("/nonexistent/x.toml"), std::string::npos) << e;
  EXPECT_NE(e.find("no such file and no such preset"), std::string::npos) << e;
}

TEST(Config, EveryPresetParses) {
  for (const auto& name : preset_names()) {
    SCOPED_TRACE(name);
    EXPECT_NO_THROW(parse_run_config(load_config(name)));
  }
}
