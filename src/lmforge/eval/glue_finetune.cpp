// GLUE fine-tuning loop, evaluation and submission files; see glue_finetune.h.
#include "lmforge/eval/glue_finetune.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <numeric>
#include <random>
#include <set>


#include "lmforge/core/config.h"
#include "lmforge/core/error.h"
#include "lmforge/core/file_io.h"
#include "lmforge/core/log.h"
#include "lmforge/core/precision.h"
#include "lmforge/core/safetensors.h"
#include "lmforge/core/tensorboard.h"
#include "lmforge/data/tokenizer.h"
#include "lmforge/data/wordpiece.h"
#include "lmforge/models/peft.h"
#include "lmforge/train/checkpoint.h"
#include "lmforge/train/load_run.h"
#include "lmforge/train/loop.h"
#include "lmforge/train/optimizer.h"
#include "lmforge/train/optimizers/adam_family.h"
#include "lmforge/train/peft_checkpoint.h"
#include "lmforge/train/schedule.h"
#include "lmforge/train/tasks/classification.h"

namespace lmforge {

namespace fs = std::filesystem;

namespace {

// --optimizer NAME with --optimizer-option KEY=VALUE; the Adam family starts from BERT's
// fine-tuning AdamW (0.9, 0.999), eps 1e-6.
Choice glue_optimizer_choice(const GlueFinetuneOptions& o) {
  Choice c{o.optimizer, {}};
  for (const char* adam : {"adamw", "adamw8bit", "galore", "gradnormlorp"})
    if (o.optimizer == adam) {
      c.options.insert("beta1", 0.9);
      c.options.insert("beta2", 0.999);
      c.options.insert("eps", 1e-6);
    }
  toml::table set;  // KEY=VALUE as --set reads it (core/config.h)
  for (const auto& kv : o.optimizer_options) apply_override(set, kv, "--optimizer-option");
  for (auto&& [k, v] : set) c.options.insert_or_assign(k, v);
  return c;
}

// Sorted by length so that each evaluation batch pads little; results returned in input order.
at::Tensor predict_raw(SequenceClassifier& m, const std::vector<EncodedExample>& xs, int64_t batch_size) {
  std::vector<size_t> idx(xs.size());
  std::iota(idx.begin(), idx.end(), 0);
  std::stable_sort(idx.begin(), idx.end(), [&](size_t a, size_t b) { return xs[a].ids.size() < xs[b].ids.size(); });
  const bool was_training = m.is_training();
  m.eval();
  torch::NoGradGuard ng;
  const at::Device dev = m.backbone().output_weight().device();
  at::Tensor out = at::empty({static_cast<int64_t>(xs.size()), m.num_outputs()}, at::kFloat);
  const int64_t pad = 0;
  for (size_t b = 0; b < idx.size(); b += static_cast<size_t>(batch_size)) {
    const size_t e = std::min(idx.size(), b + static_cast<size_t>(batch_size));
    GlueTensors t = glue_batch(xs, idx, b, e, pad);
    at::Tensor y = m.forward(t.ids.to(dev), t.segments.to(dev), t.key_padding.to(dev)).to(at::kFloat).cpu();
    for (size_t i = b; i < e; ++i) out[static_cast<int64_t>(idx[i])] = y[static_cast<int64_t>(i - b)];
  }
  if (was_training) m.train();
  return out;
}

// A PEFT checkpoint's tensors: those that train (adapters, pooler, head).
WeightFilter trained_only(const torch::nn::Module& m) {
  const std::vector<std::string> names = trainable_parameter_names(m);
  return [set = std::set<std::string>(names.begin(), names.end())](const std::string& n) { return set.count(n) > 0; };
}

}  // namespace

std::vector<int64_t> predict_classes(SequenceClassifier& m, const std::vector<EncodedExample>& xs, int64_t batch_size) {
  at::Tensor y = predict_raw(m, xs, batch_size).argmax(-1).contiguous();
  return std::vector<int64_t>(y.data_ptr<int64_t>(), y.data_ptr<int64_t>() + y.numel());
}

std::vector<double> predict_scores(SequenceClassifier& m, const std::vector<EncodedExample>& xs, int64_t batch_size) {
  at::Tensor y = predict_raw(m, xs, batch_size).select(1, 0).to(at::kDouble).contiguous();
  return std::vector<double>(y.data_ptr<double>(), y.data_ptr<double>() + y.numel());
}

void write_glue_submission(const data::GlueTask& task, const std::string& path, const std::vector<EncodedExample>& xs,
                           const std::vector<int64_t>& classes, const std::vector<double>& scores) {
  std::string s = "index\tprediction\n";
  char buf[64];
  for (size_t i = 0; i < xs.size(); ++i) {
    std::string idx = xs[i].index.empty() ? std::to_string(i) : xs[i].index;
    if (task.regression) {
      std::snprintf(buf, sizeof buf, "%.3f", std::min(5.0, std::max(0.0, scores[i])));
      s += idx + "\t" + buf + "\n";
    } else {
      s += idx + "\t" + task.labels[static_cast<size_t>(classes[i])] + "\n";
    }
  }
  write_file_atomic(path, s);
}

std::map<std::string, eval::MetricList> finetune_glue(const data::GlueTask& task, const std::string& checkpoint,
                                                      const std::string& data_dir, const GlueFinetuneOptions& o,
                                                      const std::string& out_dir, const std::string& predict_dir,
                                                      GlueTrainStats* stats) {
  const fs::path tdir = fs::path(data_dir) / task.dir;
  LoadedRun run = load_run(checkpoint, o.device);
  LMF_REQUIRE(run.tokenizer, InputError, "checkpoint '", checkpoint, "': no tokenizer/ folder beside it");
  const data::Tokenizer& tok = *run.tokenizer;
  std::map<std::string, eval::MetricList> results;
  at::manual_seed(static_cast<uint64_t>(o.seed));
  // PEFT: adapters on the loaded pretrained weights, the rest frozen; pooler and head (built next)
  // train. The run's config records [model.peft] so that load_glue_model rebuilds the adapters.
  run.config.model.peft = o.peft;
  const PeftSummary peft = apply_peft(*run.model, o.peft);
  if (o.peft.kind != "none" && !o.quiet)
    log_line(str("glue ", task.name, ": peft ", o.peft.kind, " on ", peft.adapted.size(), " layers, ", peft.trainable,
                 " adapter parameters trained, ", peft.frozen, " frozen"));
  auto clf = std::make_shared<SequenceClassifier>(run.model, task.num_outputs(), o.dropout);
  clf->set_unpad(o.unpad && !o.peft.is_meft());
  // An imported BERT brings its pretrained pooler (lmforge import-hf writes pooler.safetensors).
  for (fs::path p : {fs::path(checkpoint) / "pooler.safetensors", fs::path(run.checkpoint).parent_path() / "pooler.safetensors"}) {
    if (!fs::exists(p)) continue;
    std::map<std::string, at::Tensor> pw = read_safetensors(p.string());
    torch::NoGradGuard ng;
    for (auto& q : clf->named_parameters())
      if (q.key() == "pooler.weight" && pw.count("weight")) q.value().copy_(pw["weight"]);
      else if (q.key() == "pooler.bias" && pw.count("bias")) q.value().copy_(pw["bias"]);
    break;
  }
  clf->to(at::Device(o.device));
  const at::ScalarType dtype = parse_precision(o.precision, "--precision");
  const at::Device dev(o.device);
  std::unique_ptr<TensorBoardWriter> events;  // AX has no training and no dev labels: no events
  if (!o.events_dir.empty() && task.name != "AX") events = std::make_unique<TensorBoardWriter>(o.events_dir);
  int64_t trained_steps = 0;

  if (task.name != "AX") {
    const std::string train_path = (tdir / "train.tsv").string();
    LMF_REQUIRE(fs::exists(train_path), InputError, "GLUE task ", task.name, ": training file ", train_path, " is missing");
    std::vector<data::GlueExample> train_ex = data::read_glue_file(task, train_path, data::GlueSplit::kLabeled);
    std::mt19937_64 rng(static_cast<uint64_t>(o.seed));
    if (o.max_train > 0 && static_cast<int64_t>(train_ex.size()) > o.max_train) {
      std::shuffle(train_ex.begin(), train_ex.end(), rng);
      train_ex.resize(static_cast<size_t>(o.max_train));
    }
    std::vector<EncodedExample> train = encode_glue_examples(tok, train_ex, task.pair, o.max_len);
    const size_t n_train = train.size();
    // The classification task on the one training loop (train/loop.h): step hooks (Sparse-IFT
    // masks), auxiliary losses (MoE, routing) and the modules' parameter groups as in pretraining.
    ClassificationTask ctask(std::move(train), task.regression, o.batch_size, static_cast<uint64_t>(o.seed),
                             tok.pad_id());
    const int64_t per_epoch = ctask.steps_per_epoch();
    const int64_t total = per_epoch * o.epochs;
    Choice opt_choice = glue_optimizer_choice(o);
    BuiltOptimizer built = build_optimizer(opt_choice, *clf, o.lr, o.weight_decay, "--optimizer");
    LrSchedule sched(Choice{"linear", {}}, o.lr, 0.0, static_cast<int64_t>(o.warmup * static_cast<double>(total)), total);
    if (!o.quiet)
      log_line(str("glue ", task.name, ": ", n_train, " training examples, ", o.epochs, " epochs of ", per_epoch,
                   " steps, lr ", o.lr, ", batch ", o.batch_size, clf->unpad() ? ", unpadded" : ", padded"));
    LoopOptions lo;
    lo.steps = total;
    lo.step.dtype = dtype, lo.step.device = dev, lo.step.grad_clip = o.grad_clip;
    lo.seed = static_cast<uint64_t>(o.seed);
    lo.log_every = 50, lo.eval_every = 0, lo.eval_batches = 0;
    lo.quiet = o.quiet;
    lo.label = "  glue " + task.name + " step";
    lo.events = events.get(), lo.events_prefix = task.name + "/";
    LoopState ls;
    Distributed single;
    const LoopResult lr = run_loop(*clf, ctask, *built.optimizer, built.lr_scales, sched, lo, ls, single, nullptr, {});
    trained_steps = ls.step;
    if (stats) {
      for (const auto& p : clf->parameters()) stats->trainable_parameters += p.requires_grad() ? p.numel() : 0;
      stats->optimizer_state_bytes = optimizer_state_bytes(*built.optimizer);
      stats->tokens = ls.tokens;
      stats->seconds = lr.seconds;
    }
  }

  // Dev evaluation.
  for (size_t k = 0; k < task.dev_files.size(); ++k) {
    const std::string path = (tdir / task.dev_files[k]).string();
    LMF_REQUIRE(fs::exists(path), InputError, "GLUE task ", task.name, ": dev file ", path, " is missing");
    std::vector<data::GlueExample> dev_ex = data::read_glue_file(task, path, data::GlueSplit::kLabeled);
    if (o.max_eval > 0 && static_cast<int64_t>(dev_ex.size()) > o.max_eval) dev_ex.resize(static_cast<size_t>(o.max_eval));
    std::vector<EncodedExample> xs = encode_glue_examples(tok, dev_ex, task.pair, o.max_len);
    const std::string name = task.name == "MNLI" ? (k == 0 ? "MNLI-m" : "MNLI-mm") : task.name;
    if (task.regression) {
      std::vector<double> gold;
      for (const auto& x : xs) gold.push_back(x.score);
      results[name] = eval::glue_regression_metrics(predict_scores(*clf, xs, 64), gold);
    } else {
      std::vector<int64_t> gold;
      for (const auto& x : xs) gold.push_back(x.label);
      results[name] = eval::glue_classification_metrics(task.name, predict_classes(*clf, xs, 64), gold);
    }
    if (events) {
      std::vector<std::pair<std::string, double>> sc;
      for (const auto& [metric, v] : results[name]) sc.emplace_back(name + "/dev/" + metric, v);
      events->add_scalars(trained_steps, sc);
      events->flush();
    }
  }

  if (!out_dir.empty()) {
    nlohmann::json state = {{"glue_task", task.name}, {"num_outputs", task.num_outputs()}, {"max_len", o.max_len}};
    nlohmann::json res;
    for (const auto& [n, m] : results)
      for (const auto& [k, v] : m) res[n][k] = v;
    state["dev"] = res;
    WeightFilter only;
    if (o.peft.kind != "none") {  // adapters + head only, and where their base is
      state["peft_base"] = peft_base_pointer(checkpoint);
      only = trained_only(*clf);
    }
    save_checkpoint(out_dir, *clf, nullptr, state, run_config_to_toml(run.config), only);
    tok.save((fs::path(out_dir) / "tokenizer").string());
  }
  if (!predict_dir.empty()) {
    fs::create_directories(predict_dir);
    for (size_t k = 0; k < task.test_files.size(); ++k) {
      const std::string path = (tdir / task.test_files[k]).string();
      if (!fs::exists(path)) {
        log_line(str("glue ", task.name, ": no test file ", path, ", no predictions written"));
        continue;
      }
      std::vector<EncodedExample> xs =
          encode_glue_examples(tok, data::read_glue_file(task, path, data::GlueSplit::kTest), task.pair, o.max_len);
      std::vector<int64_t> cls;
      std::vector<double> sc;
      if (task.regression) sc = predict_scores(*clf, xs, 64);
      else cls = predict_classes(*clf, xs, 64);
      write_glue_submission(task, (fs::path(predict_dir) / task.submission[k]).string(), xs, cls, sc);
    }
    // The diagnostic set (AX) is scored with the MNLI model.
    const data::GlueTask& ax = data::glue_task("AX");
    const fs::path ax_path = fs::path(data_dir) / ax.dir / ax.test_files[0];
    if (task.name == "MNLI" && fs::exists(ax_path)) {
      std::vector<EncodedExample> xs =
          encode_glue_examples(tok, data::read_glue_file(ax, ax_path.string(), data::GlueSplit::kTest), true, o.max_len);
      write_glue_submission(ax, (fs::path(predict_dir) / ax.submission[0]).string(), xs,
                            predict_classes(*clf, xs, 64), {});
    }
  }
  return results;
}

GlueModel load_glue_model(const std::string& dir, const std::string& device) {
  GlueModel g;
  const std::string ckpt = checkpoint_dir(dir);
  RunConfig cfg = parse_run_config(load_checkpoint_config(ckpt));
  nlohmann::json state = load_state(ckpt);
  LMF_REQUIRE(state.contains("glue_task") && state.contains("num_outputs"), InputError, "checkpoint '", ckpt,
              "': not a GLUE fine-tuned model (state.json has no glue_task; fine-tune with lmforge glue --out)");
  g.task = state["glue_task"].get<std::string>();
  g.max_len = state.value("max_len", 128);
  std::shared_ptr<LanguageModel> backbone;
  std::string base;
  if (state.contains("peft_base")) {  // adapters + head: the base's weights first, then these
    base = check_peft_base(state["peft_base"], ckpt);
    backbone = load_run(base, "cpu").model;
    apply_peft(*backbone, cfg.model.peft);
  } else {
    backbone = std::make_shared<LanguageModel>(cfg.model);
  }
  g.model = std::make_shared<SequenceClassifier>(backbone, state["num_outputs"].get<int64_t>(), 0.0);
  WeightFilter only;
  if (!base.empty()) {
    only = trained_only(*g.model);
  }
  load_weights(weights_path(ckpt), *g.model, only);
  g.model->to(at::Device(device.empty() ? "cpu" : device));
  g.model->eval();
  for (fs::path p : {fs::path(ckpt) / "tokenizer", fs::path(ckpt).parent_path() / "tokenizer"})
    if (fs::exists(p / "tokenizer.json")) g.tokenizer = data::load_tokenizer(p.string());
  LMF_REQUIRE(g.tokenizer, InputError, "model '", dir, "': no tokenizer/ folder beside the checkpoint");
  return g;
}

}  // namespace lmforge
