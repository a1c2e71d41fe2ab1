// Canned benchmark results for the report tests: one suite of three models (one failed, with a
// partial loss curve and an error), a skipped suite, and operator timings at three lengths.
#pragma once
#include <nlohmann/json.hpp>

namespace lmforge::test {

inline nlohmann::json canned_results() {
  using nlohmann::json;
  auto curve = [](double start, double rate, int n) {
    json c = {{"step", json::array()}, {"loss", json::array()}};
    for (int i = 1; i <= n; ++i) {
      c["step"].push_back(10 * i);
      c["loss"].push_back(start * std::exp(-rate * i) + 0.1);
    }
    return c;
  };
  json runs = json::array();
  runs.push_back({{"suite", "quick"}, {"name", "attention"}, {"status", "ok"}, {"error", ""},
                  {"command", "lmforge train -c mqar --set model.block.mixer=\"attention\" --out runs/a"},
                  {"config", "[model]\nd_model = 64\n[model.block]\nmixer = \"attention\"\n"},
                  {"run_dir", "runs/a"}, {"task", "mqar"},
                  {"metrics", {{"quality", 0.97}, {"quality_metric", "accuracy"}, {"higher_is_better", true},
                               {"accuracy", 0.97}, {"valid_loss", 0.4}, {"parameters", 120000},
                               {"train_flops_per_token", 9.1e5}, {"train_tokens_per_s", 45000.0},
                               {"infer_tokens_per_s", 260000.0}, {"peak_rss_mb", 310.0}, {"steps", 300},
                               {"planned_steps", 300}, {"train_seconds", 31.5}}},
                  {"curve", curve(5.5, 0.15, 30)}});
  runs.push_back({{"suite", "quick"}, {"name", "hyena"}, {"status", "ok"}, {"error", ""}, {"note", "time cap reached"},
                  {"command", "lmforge train -c mqar --set model.block.mixer=\"hyena\" --out runs/h"},
                  {"config", "[model.block]\nmixer = \"hyena\"\n"}, {"run_dir", "runs/h"}, {"task", "mqar"},
                  {"metrics", {{"quality", 0.41}, {"quality_metric", "accuracy"}, {"higher_is_better", true},
                               {"accuracy", 0.41}, {"parameters", 150000}, {"train_flops_per_token", 8.0e5},
                               {"train_tokens_per_s", 60000.0}, {"infer_tokens_per_s", 300000.0},
                               {"peak_rss_mb", 290.0}, {"steps", 250}, {"planned_steps", 300}}},
                  {"curve", curve(5.5, 0.08, 25)}});
  runs.push_back({{"suite", "quick"}, {"name", "broken<mixer>"}, {"status", "failed"},
                  {"error", "training diverged at step 12: loss nan, grad norm nan (lower train.lr)"},
                  {"output_tail", "step 10/300 loss 9.1\nlmforge: error: training diverged at step 12"},
                  {"command", "lmforge train -c mqar --set train.lr=100 --out runs/b"},
                  {"config", "[train]\nlr = 100.0\n"}, {"run_dir", "runs/b"}, {"task", "mqar"},
                  {"metrics", {{"quality_metric", "accuracy"}, {"higher_is_better", true}, {"planned_steps", 300},
                               {"peak_rss_mb", 200.0}}},
                  {"curve", curve(5.5, -0.05, 1)}});
  json kres = json::array();
  for (int64_t L : {1024, 4096, 16384}) {
    for (const char* dt : {"float", "bfloat16"}) {
      const double ms = 0.001 * L, ref = ms * (2.0 + L / 4096.0);
      kres.push_back({{"op", "fftconv"}, {"shape", "B4_H768_L" + std::to_string(L)}, {"dtype", dt}, {"isa", "avx512"},
                      {"seq_len", L}, {"ms", ms}, {"ref_ms", ref}, {"speedup", ref / ms}, {"ms_fb", 3 * ms},
                      {"ref_ms_fb", 3.5 * ref}, {"speedup_fb", 3.5 * ref / (3 * ms)}, {"gflops", 50.0}});
    }
  }
  return {{"format", "lmforge-bench-results/1"},
          {"title", "lmforge bench: test"},
          {"status", "complete"},
          {"command", "lmforge bench --suite all --out runs/x"},
          {"started", "2026-01-01T00:00:00Z"},
          {"updated", "2026-01-01T00:10:00Z"},
          {"host", {{"cpu", "test cpu"}, {"threads", 2}, {"version", "0.1.0"}, {"torch", "1.13.1"}}},
          {"suites", json::array({{{"name", "quick"}, {"description", "MQAR"}, {"status", "ran"}, {"budget", "300 steps"},
                                   {"text", "[budget]\nsteps = 300\n"}},
                                  {{"name", "glue"}, {"description", "GLUE"}, {"status", "skipped"},
                                   {"reason", "the `lmforge glue` subcommand is not built yet"}},
                                  {{"name", "kernels"}, {"description", "ops"}, {"status", "ran"}}})},
          {"runs", runs},
          {"kernels", json::array({{{"suite", "kernels"}, {"status", "ok"}, {"command", "lmforge ops perf --json"},
                                    {"results", kres}}})}};
}

}  // namespace lmforge::test
