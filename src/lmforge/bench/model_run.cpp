// bench/model_run.h: train one suite model and measure it.
#include "lmforge/bench/model_run.h"

#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>

#include "lmforge/core/file_io.h"
#include "lmforge/core/precision.h"
#include "lmforge/core/signals.h"
#include "lmforge/data/token_file.h"
#include "lmforge/data/glue.h"
#include "lmforge/eval/glue_finetune.h"
#include "lmforge/eval/perplexity.h"
#include "lmforge/models/language_model.h"
#include "lmforge/train/checkpoint.h"
#include "lmforge/train/load_run.h"
#include "lmforge/train/loss.h"
#include "lmforge/train/task.h"
#include "lmforge/train/trainer.h"

namespace lmforge {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

double peak_rss_mb() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;  // "VmHWM:  1234 kB"
  return 0;
}

namespace {

// Tokens per second of a no-grad forward (hidden + logits) on a (B, L) batch: best of the reps
// that fit in `seconds` (at least 1, after one warm-up).
double inference_tokens_per_s(LanguageModel& model, int64_t B, int64_t L, int64_t vocab, at::ScalarType dtype,
                              const at::Device& dev, double seconds) {
  model.eval();
  torch::NoGradGuard ng;
  AutocastGuard ac(dtype, dev);
  at::Tensor tokens = at::randint(0, vocab, {B, L}, at::kLong).to(dev);
  auto once = [&] {
    ForwardContext ctx;
    ctx.training = false;
    at::Tensor logits = model.logits(model.hidden(tokens, ctx));
    (void)logits.sum().item<double>();  // forces the work (and a device sync)
  };
  once();
  double best = 1e30;
  const auto t_end = Clock::now() + std::chrono::duration<double>(seconds);
  // At least one timed forward; more while the budget lasts (at most 50).
  for (int rep = 0; rep < 50 && (rep < 1 || Clock::now() < t_end); ++rep) {
    auto t0 = Clock::now();
    once();
    best = std::min(best, std::chrono::duration<double>(Clock::now() - t0).count());
  }
  return static_cast<double>(B * L) / std::max(best, 1e-9);
}

// The first n lines of `path` into `out` (all of it when n <= 0).
void copy_lines(const std::string& path, const std::string& out, int64_t n) {
  std::ifstream in(path, std::ios::binary);
  LMF_REQUIRE(in, InputError, "validation file '", path, "' cannot be read");
  AtomicFile o(out);
  std::string line;
  for (int64_t i = 0; (n <= 0 || i < n) && std::getline(in, line); ++i) {
    o.write(line);
    o.write("\n", 1);
  }
  o.commit();
}

// The trainer's validation on the final weights: mean loss over the fixed validation batches plus
// the task's own metrics (MQAR accuracy). Done here, not taken from the log, because a run the
// time cap stopped may not have evaluated at its last step.
nlohmann::json final_eval(LanguageModel& model, const RunConfig& cfg, const std::string& run_dir, at::ScalarType dtype,
                          const at::Device& dev) {
  std::shared_ptr<Task> task = make_task(cfg, run_dir);
  std::vector<Batch> batches = task->valid_batches(std::max<int64_t>(1, cfg.train.eval_batches));
  if (batches.empty()) return nlohmann::json::object();
  return evaluate_batches(model, *task, batches, dtype, dev);
}

// Fine-tunes the trained encoder in run_dir on each task whose train.tsv is present and scores the
// dev files. Tasks without data are listed under glue_skipped, not failed: a suite runs on what is there.
// `events_dir` ("" = none) receives their TensorBoard events, beside the pretraining's.
nlohmann::json glue_eval(const std::string& run_dir, const BenchGlueOptions& g, const std::string& precision,
                         const std::string& events_dir) {
  nlohmann::json out = {{"dev", nlohmann::json::object()}, {"task_score", nlohmann::json::object()},
                        {"seconds", nlohmann::json::object()}, {"skipped", nlohmann::json::array()}};
  std::map<std::string, eval::MetricList> results;
  for (const BenchGlueTask& t : g.tasks) {
    if (stop_requested()) break;
    const data::GlueTask& task = data::glue_task(t.name);
    if (!fs::exists(fs::path(g.data_dir) / task.dir / "train.tsv")) {
      out["skipped"].push_back(task.name);
      continue;
    }
    GlueFinetuneOptions o = t.finetune.options;
    o.precision = precision;
    o.quiet = true;
    o.events_dir = events_dir;
    const auto t0 = Clock::now();
    for (auto& [name, metrics] : finetune_glue(task, run_dir, g.data_dir, o, "", "")) {
      for (const auto& [k, v] : metrics) out["dev"][name][k] = v;
      results[name] = metrics;
    }
    out["seconds"][task.name] = std::chrono::duration<double>(Clock::now() - t0).count();
  }
  const eval::GlueSummary s = eval::summarize_glue(results);
  for (const auto& [n, v] : s.task_score) out["task_score"][n] = v;
  if (s.n_present > 0) out["mean_over_present"] = s.avg_present;
  out["n_present"] = s.n_present;
  if (s.avg8_complete) out["avg_8_without_wnli"] = s.avg8;
  if (s.glue_complete) out["glue_score_9"] = s.glue_score;
  return out;
}

}  // namespace

BenchGlueOptions parse_bench_glue(const toml::table& t) {
  BenchGlueOptions g;
  g.data_dir = t["data"].value_or(std::string());
  if (const toml::array* tasks = t["tasks"].as_array()) {
    for (size_t i = 0; i < tasks->size(); ++i) {
      const toml::table* tt = (*tasks)[i].as_table();
      LMF_REQUIRE(tt, ConfigError, "GLUE options: tasks[", i, "] is not a table");
      toml::table rest = *tt;
      BenchGlueTask x;
      x.name = rest["name"].value_or(std::string());
      rest.erase("name");
      lmforge::bind(rest, x.finetune, str("tasks[", i, "]"));
      g.tasks.push_back(x);
    }
  }
  return g;
}

toml::table to_toml(const BenchGlueOptions& g) {
  toml::array tasks;
  for (const auto& x : g.tasks) {
    toml::table t = unbind(x.finetune);
    t.insert("name", x.name);
    tasks.push_back(std::move(t));
  }
  return toml::table{{"data", g.data_dir}, {"tasks", std::move(tasks)}};
}

nlohmann::json run_bench_model(const toml::table& config, const BenchModelOptions& o) {
  TrainOptions to;
  to.run_dir = o.run_dir;
  to.quiet = o.quiet;
  nlohmann::json out;
  out["train"] = train(config, to);
  out["stopped"] = !out["train"].value("finished", false);

  LoadedRun run = load_run(o.run_dir, "");
  LanguageModel& model = *run.model;
  const RunConfig& cfg = run.config;
  const at::ScalarType dtype = parse_precision(cfg.train.precision, "train.precision");
  const at::Device dev = model.output_weight().device();
  out["parameters"] = model.num_parameters();
  out["train_flops_per_token"] = model.train_flops_per_token(cfg.train.seq_len);
  if (!stop_requested()) out["final_eval"] = final_eval(model, cfg, o.run_dir, dtype, dev);
  if (!stop_requested()) {
    out["infer_tokens_per_s"] = inference_tokens_per_s(model, cfg.train.batch_size, cfg.train.seq_len,
                                                       cfg.model.vocab_size, dtype, dev, o.infer_seconds);
    out["infer_batch"] = {cfg.train.batch_size, cfg.train.seq_len};
  }
  // Perplexity of the next word is a decoder's measure; an encoder (MLM) is scored by its task's
  // metrics (final_eval) and, in GLUE suites, by fine-tuning.
  if (run.tokenizer && !cfg.data.valid.empty() && cfg.model.kind != "encoder" && !stop_requested()) {
    // Word-level perplexity (tokenizer-independent) with the sliding-window protocol on a prefix
    // of the validation file, cut at a line end so its word count is exact.
    const std::string valid = resolve_data_path(cfg.data, cfg.data.valid);
    const std::string prefix = (fs::path(o.run_dir) / "eval-prefix.txt").string();
    copy_lines(valid, prefix, o.text_lines);
    data::TokenFile tf = data::TokenFile::open_or_build(*run.tokenizer, prefix, (fs::path(o.run_dir) / "eval-cache").string());
    PerplexityOptions po;
    po.context = cfg.eval.context > 0 ? cfg.eval.context : cfg.train.seq_len;
    po.stride = cfg.eval.stride > 0 ? cfg.eval.stride : std::max<int64_t>(1, po.context / 2);
    po.dtype = dtype;
    po.unk_id = run.tokenizer->unk_id();
    at::Tensor stream = at::cat({at::full({1}, run.tokenizer->eos_id(), at::kLong), tf.slice(0, tf.size())});
    PerplexityResult r = score_stream(model, stream, po);
    nlohmann::json rep = perplexity_report(r, tf.counts().words, tf.counts().bytes, 0);
    rep["lines"] = tf.counts().lines;
    rep["file"] = valid;
    rep["context"] = po.context;
    rep["stride"] = po.stride;
    out["text_eval"] = rep;
    out["word_ppl"] = rep["word_ppl"];
    std::error_code ec;
    fs::remove(prefix, ec);
    fs::remove_all(fs::path(o.run_dir) / "eval-cache", ec);
  }
  if (!o.glue.tasks.empty() && !stop_requested()) {
    LMF_REQUIRE(cfg.model.kind == "encoder", ConfigError, "the suite's [glue] part fine-tunes encoders; this model has "
                "model.kind = \"", cfg.model.kind, "\"");
    // Fine-tuning runs in fp32 whatever the pretraining precision: the small heads and the short
    // schedules are where bf16's rounding would show first.
    out["glue"] = glue_eval(o.run_dir, o.glue, "fp32", cfg.train.tensorboard ? o.run_dir : "");
    if (out["glue"].contains("mean_over_present")) out["glue_mean"] = out["glue"]["mean_over_present"];
  }
  out["peak_rss_mb"] = peak_rss_mb();
  write_file_atomic((fs::path(o.run_dir) / "bench.json").string(), out.dump(2) + "\n");
  return out;
}

}  // namespace lmforge
