// `lmforge bench-step`: times training steps on given weights and batches, the same work the
// PyTorch peer does in bench/peers/gpt_peer.py, and prints one JSON line (losses, ms per step).
// Used by bench/gpt_step.sh, which runs both in one go and prints the ratio.
#include <chrono>
#include <fstream>
#include <iostream>

#include <ATen/Parallel.h>
#include <torch/serialize.h>

#include "lmforge/cli/config_args.h"
#include "lmforge/cli/subcommand.h"
#include "lmforge/core/precision.h"
#include "lmforge/core/threads.h"
#include "lmforge/models/language_model.h"
#include "lmforge/train/checkpoint.h"
#include "lmforge/train/optimizer.h"
#include "lmforge/train/run_config.h"
#include "lmforge/train/step.h"
#include "lmforge/train/tasks/lm.h"

namespace lmforge {
namespace {

// The batches come from the peer's file: the task only scores them (next-token cross-entropy).
class GivenBatches : public Task {
 public:
  Batch train_batch(int64_t, int64_t, int, int) override { throw std::logic_error("bench-step: batches are given"); }
  std::vector<Batch> valid_batches(int64_t) override { return {}; }
  LossSum loss(torch::nn::Module& model, const Batch& b, ForwardContext& ctx) override {
    return token_loss(model, b, ctx, "bench-step");
  }
};

struct BenchStepArgs {
  ConfigArgs config;
  std::string dir;
  int64_t steps = 10, warmup = 2;
  int threads = 0;
};

std::map<std::string, at::Tensor> load_tensor_dict(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  LMF_REQUIRE(f, InputError, "cannot read '", path, "'");
  std::vector<char> bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  c10::IValue v = torch::pickle_load(bytes);
  LMF_REQUIRE(v.isGenericDict(), InputError, "'", path, "': expected a dict of tensors");
  std::map<std::string, at::Tensor> m;
  for (const auto& kv : v.toGenericDict()) m[kv.key().toStringRef()] = kv.value().toTensor();
  return m;
}

int run_bench_step(const BenchStepArgs& a) {
  set_threads(a.threads);
  RunConfig cfg = parse_run_config(a.config.load());
  const at::ScalarType dtype = parse_precision(cfg.train.precision, "train.precision");
  auto model = std::make_shared<LanguageModel>(cfg.model);
  load_weights(a.dir + "/init.pt", *model);
  auto batches = load_tensor_dict(a.dir + "/batches.pt");
  LMF_REQUIRE(batches.count("inputs") && batches.count("targets"), InputError, a.dir,
              "/batches.pt: expected keys 'inputs' and 'targets'");
  BuiltOptimizer opt = build_optimizer(cfg.train.optimizer, *model, cfg.train.lr, cfg.train.weight_decay);
  GivenBatches task;
  StepOptions so;
  so.dtype = dtype, so.grad_clip = cfg.train.grad_clip;
  Distributed local;
  model->train();
  std::vector<double> losses, times;
  const int64_t total = std::min<int64_t>(a.steps + a.warmup, batches["inputs"].size(0));
  for (int64_t s = 0; s < total; ++s) {
    auto t0 = std::chrono::steady_clock::now();
    so.step = s;
    StepResult r = train_step(*model, task, *opt.optimizer, {{batches["inputs"][s], batches["targets"][s]}}, so, local);
    double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    losses.push_back(r.loss);
    if (s >= a.warmup) times.push_back(ms);
  }
  std::sort(times.begin(), times.end());
  const double med = times.empty() ? 0 : times[times.size() / 2];
  const double tokens = static_cast<double>(batches["inputs"].size(1) * batches["inputs"].size(2));
  nlohmann::json j = {{"impl", "lmforge"}, {"precision", cfg.train.precision}, {"losses", losses},
                      {"ms_per_step", med}, {"tokens_per_s", med > 0 ? tokens / (med / 1000.0) : 0},
                      {"threads", at::get_num_threads()}};
  std::cout << j.dump() << std::endl;
  return 0;
}

const bool kRegistered = register_subcommand(
    "bench-step", "time training steps on given weights and batches (the PyTorch peer comparison)", [](CLI::App& app) {
      auto a = std::make_shared<BenchStepArgs>();
      a->config.add_to(app, "bench-gpt");
      app.add_option("--dir", a->dir, "folder with init.pt and batches.pt (written by bench/peers/gpt_peer.py --write)")
          ->required();
      app.add_option("--steps", a->steps, "timed steps");
      app.add_option("--warmup", a->warmup, "untimed steps first");
      app.add_option("--threads", a->threads, "intra-op threads (0 = all cores)");
      return [a] { return run_bench_step(*a); };
    });

}  // namespace
}  // namespace lmforge
