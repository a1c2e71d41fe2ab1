// `lmforge bench --suite NAME|FILE [--out DIR] [--data DIR] [--set k=v] [--models a,b] [--list]`:
// trains a matrix of models on the same work with the same budget and writes a self-contained
// HTML report (bench/runner.h, report/html_report.h). `lmforge bench-one` (hidden) is the child
// process that trains and measures one model of the matrix (bench/model_run.h).
#include <iostream>
#include <memory>

#include "lmforge/bench/model_run.h"
#include "lmforge/bench/runner.h"
#include "lmforge/bench/suite.h"
#include "lmforge/cli/subcommand.h"
#include "lmforge/core/config.h"
#include "lmforge/core/error.h"
#include "lmforge/nn/components.h"

namespace lmforge {
namespace {

struct BenchArgs {
  BenchOptions o;
  bool list = false, no_progress = false;
};

int run_list() {
  for (const auto& name : suite_names()) {
    Suite s = load_suite(name);
    std::cout << name << ": " << s.description << "\n";
    std::string models;
    for (const auto& m : plan_models(s, MixerRegistry::names())) models += (models.empty() ? "" : ", ") + m.name;
    if (!models.empty()) std::cout << "    models: " << models << "\n";
    if (!s.include.empty()) {
      std::string inc;
      for (const auto& i : s.include) inc += (inc.empty() ? "" : ", ") + i;
      std::cout << "    includes: " << inc << "\n";
    }
    if (s.kernels.enabled) std::cout << "    operator timings: lmforge ops perf\n";
  }
  return 0;
}

// The command as the user could type it again (for the report).
std::string command_line(const BenchOptions& o) {
  auto q = [](const std::string& s) {
    if (!s.empty() && s.find_first_of(" '\"$`\\;&|<>()*?!#~") == std::string::npos) return s;
    std::string r = "'";
    for (char c : s) r += c == '\'' ? std::string("'\\''") : std::string(1, c);
    return r + "'";
  };
  std::string c = "lmforge bench --suite " + q(o.suite);
  if (!o.out.empty()) c += " --out " + q(o.out);
  if (!o.data_dir.empty()) c += " --data " + q(o.data_dir);
  for (const auto& s : o.set) c += " --set " + q(s);
  if (!o.models.empty()) {
    std::string m;
    for (const auto& x : o.models) m += (m.empty() ? "" : ",") + x;
    c += " --models " + q(m);
  }
  return c;
}

int run_bench_cmd(BenchArgs& a) {
  if (a.list) return run_list();
  a.o.progress = !a.no_progress;
  a.o.command = command_line(a.o);
  for (const auto& sc : subcommands()) a.o.subcommands.push_back(sc.name);
  BenchOutcome r = run_bench(a.o);
  std::cerr << "bench: " << r.ok << " ok, " << r.failed << " failed";
  if (r.interrupted) std::cerr << ", " << r.interrupted << " interrupted";
  if (r.not_run) std::cerr << ", " << r.not_run << " not run";
  std::cerr << (r.stopped ? " (stopped by the user; the report holds what finished)" : "") << "\n";
  std::cout << "results: " << r.results_json << "\n"
            << "report: " << r.report << std::endl;
  return r.stopped ? 130 : 0;
}

const bool kBench = register_subcommand(
    "bench", "benchmark suite: train a matrix of models on the same work, write an HTML report", [](CLI::App& app) {
      auto a = std::make_shared<BenchArgs>();
      app.add_option("--suite", a->o.suite, "built-in suite (quick, wikitext, glue, kernels, all) or a suite TOML file")
          ->capture_default_str();
      app.add_option("--out,-o", a->o.out, "output folder (default: runs/bench-SUITE-DATE-TIME)");
      app.add_option("--data", a->o.data_dir, "folder holding the data files (default: ../shared/data when present)");
      app.add_option("--set,-s", a->o.set, "override for every model, after the suite's: --set train.steps=50");
      app.add_option("--models", a->o.models, "run only these models (comma-separated names)")->delimiter(',');
      app.add_flag("--dry-run", a->o.dry_run, "plan and write the report skeleton without training");
      app.add_flag("--no-progress", a->no_progress, "no progress bar");
      app.add_flag("--list", a->list, "list the built-in suites and their models");
      return [a] { return run_bench_cmd(*a); };
    });

struct BenchOneArgs {
  std::string config, out, glue;
  BenchModelOptions o;
  bool verbose = false;
};

const bool kBenchOne = register_subcommand(
    "bench-one", "(internal) train and measure one model of a benchmark suite", [](CLI::App& app) {
      auto a = std::make_shared<BenchOneArgs>();
      app.group("");  // hidden from --help: started by `lmforge bench`
      app.add_option("--config", a->config, "the model's config (layered, budget applied)")->required();
      app.add_option("--out", a->out, "run directory")->required();
      app.add_option("--text-lines", a->o.text_lines, "text tasks: word_ppl on the first N validation lines (0 = all)");
      app.add_option("--infer-seconds", a->o.infer_seconds, "timing budget of the inference measurement");
      app.add_option("--glue", a->glue, "TOML file of the GLUE fine-tuning part (bench/model_run.h)");
      app.add_flag("--verbose", a->verbose, "per-step console lines");
      return [a] {
        a->o.run_dir = a->out;
        if (!a->glue.empty()) a->o.glue = parse_bench_glue(load_config(a->glue));
        nlohmann::json j = run_bench_model(load_config(a->config), a->o);
        std::cout << j.dump(2) << std::endl;
        return 0;
      };
    });

}  // namespace
}  // namespace lmforge
