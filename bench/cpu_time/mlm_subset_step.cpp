// MosaicBERT's last-layer subset trick (data.mlm.last_layer_subset) on the mosaicbert-tiny model:
// one MLM training step's forward + backward (bf16 autocast, 30% of the rows scored, batch 32 x
// 128, BERT's 30,522-token vocabulary), the full last layer vs the last layer on the masked rows,
// alternating, best of N wall ms AND process CPU ms (getrusage; on the shared 2-core machine the
// wall time mostly measures waiting for a core, CPU time does not). Threads 1. Not part of the
// CMake build; build against the engine's objects:
//   bench/cpu_time/build.sh bench/cpu_time/mlm_subset_step.cpp /tmp/mlm_subset_step
// Usage: /tmp/mlm_subset_step [reps=8]
#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <sys/resource.h>

#include <chrono>
#include <cstdio>
#include <string>

#include "lmforge/core/config.h"
#include "lmforge/core/precision.h"
#include "lmforge/models/language_model.h"
#include "lmforge/train/loss.h"

using namespace lmforge;
using namespace std::chrono;

namespace {
double cpu_ms() {
  rusage u;
  getrusage(RUSAGE_SELF, &u);
  return (u.ru_utime.tv_sec + u.ru_stime.tv_sec) * 1e3 + (u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e3;
}
}  // namespace

int main(int argc, char** argv) {
  at::set_num_threads(1);
  const int reps = argc > 1 ? std::stoi(argv[1]) : 8;
  // The [model] of configs/mosaicbert-tiny.toml, with BERT's vocabulary size.
  toml::table root = toml::parse(preset_text("mosaicbert-tiny"));
  toml::table& model = *root["model"].as_table();
  model.insert_or_assign("vocab_size", 30522);
  at::manual_seed(17);
  LanguageModel m(parse_model_config(&model, "model"));
  m.train();
  const int64_t B = 32, L = 128;
  at::Tensor ids = at::randint(30522, {B, L});
  at::Tensor y = ids.clone().masked_fill_(at::rand({B, L}) > 0.3, -100);
  at::Tensor flat = y.reshape({-1});
  at::Tensor rows = (flat != -100).nonzero().squeeze(1), y_rows = flat.index_select(0, rows);
  auto step = [&](bool subset) {
    m.zero_grad();
    AutocastGuard ac(at::kBFloat16, at::Device(at::kCPU));
    ForwardContext ctx;
    at::Tensor sum = subset ? m.loss_sum(m.hidden_rows(ids, ctx, rows), y_rows) : lm_loss_sum(m, m.hidden(ids, ctx), y).first;
    (sum / static_cast<double>(rows.size(0))).backward();
    return sum.item<double>();
  };
  std::printf("masked rows %lld of %lld; loss full %.6f subset %.6f\n", static_cast<long long>(rows.size(0)),
              static_cast<long long>(B * L), step(false), step(true));
  double best[2] = {1e18, 1e18}, best_cpu[2] = {1e18, 1e18};
  for (int i = 0; i < reps; ++i)
    for (int s = 0; s < 2; ++s) {
      const double c0 = cpu_ms();
      const auto t0 = steady_clock::now();
      step(s == 1);
      best[s] = std::min(best[s], duration<double, std::milli>(steady_clock::now() - t0).count());
      best_cpu[s] = std::min(best_cpu[s], cpu_ms() - c0);
    }
  std::printf("fwd+bwd ms (best of %d): full %.1f (cpu %.1f)  subset %.1f (cpu %.1f)  speedup %.3fx (cpu %.3fx)\n", reps,
              best[0], best_cpu[0], best[1], best_cpu[1], best[0] / best[1], best_cpu[0] / best_cpu[1]);
}
