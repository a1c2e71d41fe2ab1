// Suite files: parsing, validation and expansion into the model matrix (bench/suite.h).
#include "lmforge/bench/suite.h"

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "lmforge/core/file_io.h"

namespace lmforge {

namespace {

std::vector<std::string> string_list(const toml::node& n, const std::string& where) {
  std::vector<std::string> out;
  const toml::array* a = n.as_array();
  if (!a) throw ConfigError(str("suite key '", where, "': expected an array of strings"));
  for (const auto& x : *a) {
    auto v = x.value_exact<std::string>();
    if (!v) throw ConfigError(str("suite key '", where, "': expected an array of strings"));
    out.push_back(*v);
  }
  return out;
}

struct SuiteTop {
  std::string description;
  std::string unavailable;
  std::vector<std::string> include;
  SuiteRequires requires_;
  SuiteBudget budget;
  SuiteDefaults defaults;
  SuiteEval eval;
  SuiteReport report;
  SuiteKernels kernels;
  template <class V>
  void visit(V& v) {
    v("description", description, "one line shown in the report");
    v("unavailable", unavailable, "skip the suite with this reason");
    v("include", include, "suites run before this one");
    v("requires", requires_);
    v("budget", budget);
    v("defaults", defaults);
    v("eval", eval);
    v("report", report);
    v("kernels", kernels);
  }
};

// [glue]: tasks, corpus, corpus_glue_train, the fine-tuning keys, and [glue.task.NAME] overrides.
SuiteGlue parse_glue(const toml::node& n) {
  const toml::table* t = n.as_table();
  LMF_REQUIRE(t, ConfigError, "suite key 'glue': expected a table");
  SuiteGlue g;
  toml::table rest = *t;  // the fine-tuning keys, read by the struct's own reader (unknown keys refused)
  for (const char* k : {"tasks", "corpus", "corpus_glue_train", "task"}) rest.erase(k);
  lmforge::bind(rest, g.finetune, "glue");
  if (const toml::node* x = t->get("tasks")) g.tasks = string_list(*x, "glue.tasks");
  if (const toml::node* x = t->get("corpus")) g.corpus = string_list(*x, "glue.corpus");
  if (const toml::node* x = t->get("corpus_glue_train")) {
    auto b = x->value_exact<bool>();
    LMF_REQUIRE(b, ConfigError, "suite key 'glue.corpus_glue_train': expected a boolean");
    g.corpus_glue_train = *b;
  }
  if (const toml::node* x = t->get("task")) {
    const toml::table* tt = x->as_table();
    LMF_REQUIRE(tt, ConfigError, "suite key 'glue.task': expected a table of [glue.task.NAME] tables");
    for (const auto& [k, v] : *tt) {
      const std::string name(k.str());
      LMF_REQUIRE(std::count(g.tasks.begin(), g.tasks.end(), name), ConfigError, "suite key 'glue.task.", name,
                  "': '", name, "' is not in glue.tasks");
      const toml::table* vt = v.as_table();
      LMF_REQUIRE(vt, ConfigError, "suite key 'glue.task.", name, "': expected a table");
      // The task's table is layered over the shared keys.
      toml::table merged = rest;
      for (const auto& [kk, vv] : *vt) merged.insert_or_assign(kk, vv);
      SuiteGlueFinetune f;
      lmforge::bind(merged, f, "glue.task." + name);
      g.per_task[name] = f;
    }
  }
  return g;
}

}  // namespace

Suite parse_suite(const std::string& text, const std::string& name, const std::string& source) {
  toml::table t = parse_toml_string(text, source);
  Suite s;
  s.name = name;
  s.source = source;
  s.text = text;
  SuiteTop top;
  ConfigReader r(&t, "");
  top.visit(r);
  r.allow("models");
  r.allow("mixers");
  r.allow("glue");
  r.finish();
  s.description = top.description;
  s.include = top.include;
  s.unavailable = top.unavailable;
  s.requires_ = top.requires_;
  s.budget = top.budget;
  s.defaults = top.defaults;
  s.eval = top.eval;
  s.report = top.report;
  s.kernels = top.kernels;

  if (const toml::node* m = t.get("models")) {
    const toml::array* a = m->as_array();
    LMF_REQUIRE(a, ConfigError, "suite key 'models': expected an array of tables ([[models]])");
    std::set<std::string> seen;
    for (size_t i = 0; i < a->size(); ++i) {
      const toml::table* mt = (*a)[i].as_table();
      LMF_REQUIRE(mt, ConfigError, "suite key 'models[", i, "]': expected a table");
      SuiteModel sm;
      lmforge::bind(*mt, sm, str("models[", i, "]"));  // qualified: ADL would find std::bind
      LMF_REQUIRE(!sm.name.empty(), ConfigError, "suite key 'models[", i, "].name' is missing");
      LMF_REQUIRE(seen.insert(sm.name).second, ConfigError, "suite: two models are named '", sm.name, "'");
      s.models.push_back(sm);
    }
  }
  if (const toml::node* m = t.get("mixers")) {
    const toml::table* mt = m->as_table();
    LMF_REQUIRE(mt, ConfigError, "suite key 'mixers': expected a table");
    for (const auto& [k, v] : *mt) {
      const std::string key(k.str());
      if (key == "all") {
        auto b = v.value_exact<bool>();
        LMF_REQUIRE(b, ConfigError, "suite key 'mixers.all': expected a boolean");
        s.mixers.all = *b;
      } else if (key == "exclude") {
        s.mixers.exclude = string_list(v, "mixers.exclude");
      } else if (key == "set") {
        const toml::table* st = v.as_table();
        LMF_REQUIRE(st, ConfigError, "suite key 'mixers.set': expected a table of mixer = [overrides]");
        for (const auto& [mk, mv] : *st) s.mixers.set[std::string(mk.str())] = string_list(mv, "mixers.set." + std::string(mk.str()));
      } else {
        const std::string near = detail::closest_key(key, {"all", "exclude", "set"});
        throw ConfigError(str("unknown suite key 'mixers.", key, "'", near.empty() ? "" : " (did you mean 'mixers." + near + "'?)",
                              "; valid keys in 'mixers': all, exclude, set"));
      }
    }
  }
  if (const toml::node* g = t.get("glue")) s.glue = parse_glue(*g);
  LMF_REQUIRE(s.budget.steps >= 0 && s.budget.tokens >= 0 && s.budget.minutes >= 0 && s.budget.max_minutes >= 0 &&
                  s.budget.suite_minutes >= 0,
              ConfigError, "suite [budget]: values must not be negative");
  LMF_REQUIRE((s.budget.steps > 0) + (s.budget.tokens > 0) <= 1, ConfigError,
              "suite [budget]: give steps or tokens, not both");
  return s;
}

Suite load_suite(const std::string& name_or_path) {
  namespace fs = std::filesystem;
  if (fs::is_regular_file(name_or_path))
    return parse_suite(read_file(name_or_path), fs::path(name_or_path).stem().string(), name_or_path);
  if (const char* text = suite_text(name_or_path)) return parse_suite(text, name_or_path, "suite " + name_or_path);
  std::string names;
  for (const auto& n : suite_names()) names += (names.empty() ? "" : ", ") + n;
  throw UserError(str("suite '", name_or_path, "': no such file and no such built-in suite (built-in: ", names, ")"));
}

std::vector<PlannedModel> plan_models(const Suite& s, const std::vector<std::string>& mixer_names,
                                      const std::vector<std::string>& only) {
  std::vector<PlannedModel> out;
  std::set<std::string> explicit_names;
  for (const auto& m : s.models) explicit_names.insert(m.name);
  auto base = [&](const std::string& name) {
    PlannedModel p;
    p.name = name;
    p.configs = s.defaults.configs;
    p.set = s.defaults.set;
    return p;
  };
  if (s.mixers.all) {
    for (const auto& mixer : mixer_names) {
      if (std::count(s.mixers.exclude.begin(), s.mixers.exclude.end(), mixer) || explicit_names.count(mixer)) continue;
      PlannedModel p = base(mixer);
      p.set.push_back("model.block.mixer=\"" + mixer + "\"");
      auto it = s.mixers.set.find(mixer);
      if (it != s.mixers.set.end()) p.set.insert(p.set.end(), it->second.begin(), it->second.end());
      out.push_back(p);
    }
  }
  for (const auto& m : s.models) {
    PlannedModel p = base(m.name);
    p.configs.insert(p.configs.end(), m.configs.begin(), m.configs.end());
    p.set.insert(p.set.end(), m.set.begin(), m.set.end());
    out.push_back(p);
  }
  if (!only.empty()) {
    std::vector<PlannedModel> kept;
    for (const auto& name : only) {
      auto it = std::find_if(out.begin(), out.end(), [&](const PlannedModel& p) { return p.name == name; });
      if (it == out.end()) {
        std::string names;
        for (const auto& p : out) names += (names.empty() ? "" : ", ") + p.name;
        throw UserError(str("--models: suite '", s.name, "' has no model '", name, "' (models: ", names, ")"));
      }
      kept.push_back(*it);
    }
    out = kept;
  }
  return out;
}

std::vector<std::string> budget_overrides(const SuiteBudget& b, const toml::table& layered, size_t n_models) {
  std::vector<std::string> out;
  if (b.steps > 0) out.push_back(str("train.steps=", b.steps));
  if (b.tokens > 0) {
    auto get = [&](const char* key, int64_t dflt) {
      return layered.at_path(std::string("train.") + key).value_or(dflt);
    };
    const int64_t per_step = std::max<int64_t>(1, get("batch_size", 16) * get("seq_len", 256) * get("grad_accum", 1));
    out.push_back(str("train.steps=", std::max<int64_t>(1, (b.tokens + per_step - 1) / per_step)));
  }
  double minutes = b.minutes;
  auto cap = [&](double c) {
    if (c > 0) minutes = minutes > 0 ? std::min(minutes, c) : c;
  };
  cap(b.max_minutes);
  if (b.suite_minutes > 0) cap(b.suite_minutes / static_cast<double>(std::max<size_t>(1, n_models)));
  if (minutes > 0) out.push_back(str("train.max_minutes=", minutes));
  return out;
}

std::string peers_env_python() {
  const char* env = std::getenv("LMFORGE_PEERS");
  const char* home = std::getenv("HOME");
  const std::filesystem::path py = std::filesystem::path(env && *env ? env : std::string(home && *home ? home : "/root") +
                                                                                "/.cache/lmforge/peers") / "bin/python";
  return std::filesystem::exists(py) ? py.string() : "";
}

}  // namespace lmforge
