// `lmforge bench-layer`: times one registered component (a mixer or a feed-forward) on random input,
// forward and forward+backward, and its resident-memory high-water; prints one JSON line. The PyTorch
// peers in bench/peers/ measure the same way, so bench/sparse_attention_moe.sh can print ratios.
#include <malloc.h>

#include <algorithm>
#include <sys/resource.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <iostream>

#include <nlohmann/json.hpp>
#include <torch/csrc/autograd/autograd.h>

#include "lmforge/cli/subcommand.h"
#include "lmforge/core/config.h"
#include "lmforge/core/precision.h"
#include "lmforge/core/threads.h"
#include "lmforge/nn/components.h"

namespace lmforge {
namespace {

struct BenchLayerArgs {
  std::string kind = "mixer", name = "attention", opts, precision = "fp32";
  int64_t d_model = 256, batch = 1, seq = 4096, reps = 5, warmup = 1;
  int threads = 0;
};

double status_kb(const char* key) {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind(key, 0) == 0) return std::atof(line.c_str() + std::strlen(key));
  return 0;
}

int run_bench_layer(const BenchLayerArgs& a) {
  set_threads(a.threads);
  LayerContext lc;
  lc.d_model = a.d_model, lc.max_seq_len = a.seq, lc.position = "none";
  toml::table t = parse_toml_string(a.opts, "--opts");
  std::shared_ptr<torch::nn::Module> module;
  std::function<at::Tensor(const at::Tensor&, ForwardContext&)> fwd;
  const std::string path = "bench." + a.name;
  if (a.kind == "mixer") {
    auto m = MixerRegistry::at(a.name, "--name").build(t, path, lc);
    module = m, fwd = [m](const at::Tensor& x, ForwardContext& c) { return m->forward(x, c); };
  } else if (a.kind == "ffn") {
    auto m = FfnRegistry::at(a.name, "--name").build(t, path, lc);
    module = m, fwd = [m](const at::Tensor& x, ForwardContext& c) { return m->forward(x, c); };
  } else {
    throw UserError(str("--kind must be mixer or ffn, got '", a.kind, "'"));
  }
  const at::ScalarType dtype = parse_precision(a.precision, "--precision");
  module->train();
  at::manual_seed(0);
  at::Tensor x = at::randn({a.batch, a.seq, a.d_model}).requires_grad_(true), g = at::randn({a.batch, a.seq, a.d_model});
  auto once = [&](bool backward) {
    AutocastGuard ac(dtype, at::kCPU);
    ForwardContext c;
    c.training = true;
    if (!backward) {
      torch::NoGradGuard ng;
      fwd(x, c);
      return;
    }
    at::Tensor loss = (fwd(x, c).to(at::kFloat) * g).sum();
    for (const auto& [k, v] : c.aux_losses) loss = loss + v;
    loss.backward();
  };
  // Process CPU time (all threads) beside the wall time: on a machine shared by several busy users
  // the wall time of a run mostly measures how long it waited for a core.
  auto cpu_ms = [] {
    rusage u{};
    getrusage(RUSAGE_SELF, &u);
    return (u.ru_utime.tv_sec + u.ru_stime.tv_sec) * 1e3 + (u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e3;
  };
  double best_cpu = 1e30;
  auto best_ms = [&](bool backward) {
    double best = 1e30;
    best_cpu = 1e30;
    for (int64_t i = 0; i < a.warmup + a.reps; ++i) {
      auto t0 = std::chrono::steady_clock::now();
      const double c0 = cpu_ms();
      once(backward);
      double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
      if (i >= a.warmup) best = std::min(best, ms), best_cpu = std::min(best_cpu, cpu_ms() - c0);
      for (auto& p : module->parameters()) p.mutable_grad() = at::Tensor();
      x.mutable_grad() = at::Tensor();
    }
    return best;
  };
  const double ms_f = best_ms(false), cpu_f = best_cpu, ms_fb = best_ms(true), cpu_fb = best_cpu;
  malloc_trim(0);
  { std::ofstream("/proc/self/clear_refs") << "5"; }
  const double rss0 = status_kb("VmRSS:");
  once(true);
  const double peak = std::max(0.0, status_kb("VmHWM:") - rss0) / 1024.0;
  int64_t params = 0;
  for (const auto& p : module->parameters()) params += p.numel();
  nlohmann::json j = {{"impl", "lmforge"}, {"kind", a.kind}, {"name", a.name}, {"opts", a.opts},
                      {"B", a.batch}, {"L", a.seq}, {"D", a.d_model}, {"precision", a.precision},
                      {"ms_fwd", ms_f}, {"ms_fwd_bwd", ms_fb}, {"cpu_ms_fwd", cpu_f}, {"cpu_ms_fwd_bwd", cpu_fb}, {"peak_mb", peak}, {"params", params},
                      {"threads", at::get_num_threads()}};
  std::cout << j.dump() << std::endl;
  return 0;
}

const bool kRegistered = register_subcommand(
    "bench-layer", "time one mixer or feed-forward (forward, forward+backward, peak memory)", [](CLI::App& app) {
      auto a = std::make_shared<BenchLayerArgs>();
      app.add_option("--kind", a->kind, "mixer | ffn");
      app.add_option("--name", a->name, "registered component name, e.g. routing, attention, moe, mlp");
      app.add_option("--opts", a->opts, "the component's options as TOML, e.g. 'n_heads = 8'");
      app.add_option("--d-model", a->d_model, "model width");
      app.add_option("--batch", a->batch, "batch size");
      app.add_option("--seq", a->seq, "sequence length");
      app.add_option("--reps", a->reps, "timed repetitions (best is reported)");
      app.add_option("--warmup", a->warmup, "untimed repetitions first");
      app.add_option("--threads", a->threads, "intra-op threads (0 = all cores)");
      app.add_option("--precision", a->precision, "fp32 | bf16 (autocast)");
      return [a] { return run_bench_layer(*a); };
    });

}  // namespace
}  // namespace lmforge
