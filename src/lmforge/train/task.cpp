// Task helpers shared by every task; the tasks themselves live in train/tasks/.
#include "lmforge/train/task.h"

#include <cmath>
#include <cstdlib>
#include <filesystem>

#include "lmforge/core/precision.h"
#include "lmforge/models/language_model.h"

namespace lmforge {

namespace fs = std::filesystem;

int64_t Batch::tokens() const {
  if (key_padding.defined()) return key_padding.sum().item<int64_t>();
  return inputs.defined() ? inputs.numel() : 0;
}

int64_t Task::loss_count(const Batch& b) const {
  if (!b.targets.defined()) return 0;
  if (at::isIntegralType(b.targets.scalar_type(), false)) return (b.targets != -100).sum().item<int64_t>();
  return b.targets.size(0);
}

Batch Batch::to(const at::Device& dev) const {
  auto mv = [&](const at::Tensor& t) { return t.defined() ? t.to(dev) : t; };
  return {mv(inputs), mv(targets), mv(segments), mv(key_padding), mv(aux)};
}

std::string default_token_cache_dir(const DataConfig& d) {
  if (!d.cache_dir.empty()) return d.cache_dir;
  const char* xdg = std::getenv("XDG_CACHE_HOME");
  const char* home = std::getenv("HOME");
  fs::path base = xdg && *xdg ? fs::path(xdg) : fs::path(home && *home ? home : "/tmp") / ".cache";
  return (base / "lmforge" / "tokens").string();
}

LanguageModel& as_language_model(torch::nn::Module& model, const char* task) {
  auto* lm = dynamic_cast<LanguageModel*>(&model);
  LMF_REQUIRE(lm, UserError, "task '", task, "' trains a language model, got a ", model.name());
  return *lm;
}

std::shared_ptr<Task> make_task(const RunConfig& cfg, const std::string& run_dir) {
  TaskContext ctx{&cfg, run_dir};
  return TaskRegistry::at(cfg.data.task, "data.task").build(cfg.data.task_options, "data." + cfg.data.task, ctx);
}

nlohmann::json evaluate_batches(torch::nn::Module& model, Task& task, const std::vector<Batch>& batches,
                                at::ScalarType dtype, const at::Device& dev) {
  model.eval();
  torch::NoGradGuard ng;
  AutocastGuard ac(dtype, dev);
  double sum = 0;
  int64_t n = 0;
  std::vector<Batch> on_dev;
  for (const auto& b : batches) {
    on_dev.push_back(b.to(dev));
    ForwardContext ctx;
    LossSum l = task.loss(model, on_dev.back(), ctx);
    sum += l.sum.item<double>();
    n += l.count;
  }
  nlohmann::json r = task.extra_metrics(model, on_dev);
  if (!r.is_object()) r = nlohmann::json::object();
  const double mean = n ? sum / static_cast<double>(n) : 0.0;
  r["valid_loss"] = mean;
  if (task.reports_perplexity()) r["valid_ppl"] = std::exp(mean);
  if (task.reports_perplexity() && task.tokens_per_word() > 0) r["valid_word_ppl"] = std::exp(mean * task.tokens_per_word());
  r["valid_tokens"] = n;
  return r;
}

int64_t rank_batch_size(int64_t global_batch, int world) {
  LMF_REQUIRE(world >= 1 && global_batch % world == 0, ConfigError, "config key 'train.batch_size' (", global_batch,
              ") is the global micro-batch and must split evenly over the ", world,
              " processes; choose a multiple of ", world);
  return global_batch / world;
}

void check_world_fits(const RunConfig& cfg, int world) { rank_batch_size(cfg.train.batch_size, world); }

}  // namespace lmforge
