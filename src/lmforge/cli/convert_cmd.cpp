// `lmforge convert --teacher RUN_DIR --out DIR [--feature-map hedgehog|elu|relu|performer|taylor]
//   [--distill-steps N --distill-lr LR --finetune-steps M] [--set k=v ...] [--json]`
// Hedgehog's pretrained conversion (Zhang et al. ICLR 2024, section 5): a trained softmax-attention
// model becomes a linear-attention one.
//   stage 1 (distill)   every attention layer becomes linear_attention with the teacher's q/k/v/out
//                       weights; only the feature maps train, with the attention-distillation loss
//                       (cross-entropy between the teacher's softmax weights and the linear ones,
//                       summed over layers; nn/linear_attention.h set_distill), all layers at once,
//                       the rest frozen and the stack run as the teacher. Adam, lr --distill-lr;
//                       a DistillTask (train/tasks/distill.h) on the training loop (train/loop.h).
//   stage 2 (finetune)  the converted model trains on the teacher's own LM objective and data
//                       (`train` with --init-weights; [train] of the teacher, steps = --finetune-steps,
//                       overridable with --set).
// Reports validation loss / perplexity of the teacher, of the converted model before fine-tuning
// and after it, on the teacher's validation batches. Output: DIR/distilled (a checkpoint that
// `lmforge eval-lm` / `generate` load), DIR/finetuned (a normal run), DIR/convert.json.
#include <cmath>
#include <filesystem>
#include <iostream>
#include <memory>

#include <torch/nn/module.h>

#include "lmforge/cli/subcommand.h"
#include "lmforge/core/config.h"
#include "lmforge/core/error.h"
#include "lmforge/core/file_io.h"
#include "lmforge/core/log.h"
#include "lmforge/core/threads.h"
#include "lmforge/models/language_model.h"
#include "lmforge/nn/linear_attention.h"
#include "lmforge/train/checkpoint.h"
#include "lmforge/train/load_run.h"
#include "lmforge/train/loop.h"
#include "lmforge/train/loss.h"
#include "lmforge/train/optimizer.h"
#include "lmforge/train/run_config.h"
#include "lmforge/train/task.h"
#include "lmforge/train/tasks/distill.h"
#include "lmforge/train/trainer.h"

namespace lmforge {
namespace {

namespace fs = std::filesystem;

struct ConvertArgs {
  std::string teacher, out, feature_map = "hedgehog";
  int64_t distill_steps = 300, finetune_steps = 300, eval_batches = 8, log_every = 50, chunk = 64;
  double distill_lr = 1e-2;
  std::vector<std::string> sets;
  int threads = 0;
  bool json = false;
};

toml::table& sub(toml::table& t, const char* key) {
  if (!t.contains(key)) t.insert(key, toml::table{});
  toml::table* s = t[key].as_table();
  LMF_REQUIRE(s, ConfigError, "config key '", key, "' is not a table");
  return *s;
}

int run_convert(const ConvertArgs& a) {
  set_threads(a.threads);
  LMF_REQUIRE(!a.out.empty(), UserError, "convert needs --out DIR");
  LMF_REQUIRE(!fs::exists(fs::path(a.out) / "convert.json"), UserError, "'", a.out, "' already holds a conversion");
  LoadedRun teacher = load_run(a.teacher, "");
  const std::string ckpt = checkpoint_dir(a.teacher);
  toml::table tcfg = load_checkpoint_config(ckpt);

  // --- the student's config: every block's mixer -> linear_attention with the teacher's heads ---
  toml::table scfg = tcfg;
  toml::table& model = sub(scfg, "model");
  const std::string position = model["position"].value_or(std::string("rope"));
  LMF_REQUIRE(position == "rope" || position == "learned" || position == "none", UserError,
              "convert: teacher position '", position, "' (alibi) has no linear-attention counterpart");
  // Converts one block spec ([model.block] or a [[model.blocks]] group), which builds the teacher's
  // layers first .. first + n - 1, in place: when the mixers built there can become linear
  // attention (MixerCapabilities::linear_conversion: softmax attention, no window, no ALiBi), with
  // their options; other blocks stay as they are.
  int64_t converted = 0;
  const ModelConfig& tm = teacher.config.model;
  auto convert_block = [&](toml::table& block, size_t first, size_t n) {
    for (size_t i = first; i < first + n; ++i)
      if (!teacher.model->mixer(i).capabilities().linear_conversion) {
        log_line(str("convert: layers ", first, "..", first + n - 1, " (", tm.layers[first].mixer,
                     ") stay as they are: that mixer cannot become linear attention"));
        return;
      }
    const BlockSpec& spec = tm.layers[first];
    const toml::node* given = spec.options.get(spec.mixer);
    toml::table att = MixerRegistry::at(spec.mixer, spec.path).resolve(given ? *given->as_table() : toml::table{}, spec.path);
    toml::table la;
    la.insert("n_heads", att["n_heads"].value_or(int64_t{4}));
    la.insert("head_dim", att["head_dim"].value_or(int64_t{0}));
    // q, k keep the teacher's width (taylor's own default would project to 16)
    const int64_t heads = att["n_heads"].value_or(int64_t{4});
    const int64_t dh = att["head_dim"].value_or(int64_t{0}) > 0 ? att["head_dim"].value_or(int64_t{0})
                                                                 : tm.d_model / heads;
    la.insert("qk_dim", dh);
    la.insert("qkv_bias", att["qkv_bias"].value_or(true));
    la.insert("out_bias", att["out_bias"].value_or(true));
    la.insert("feature_map", a.feature_map);
    la.insert("chunk", a.chunk);
    block.insert_or_assign("mixer", "linear_attention");
    block.erase(spec.mixer);
    block.insert_or_assign("linear_attention", la);
    ++converted;
  };
  // [[model.blocks]] groups build the layers in order (each merged over [model.block]); without
  // them [model.block] builds every layer.
  toml::array* groups = model["blocks"].as_array();
  if (groups && !groups->empty()) {
    size_t first = 0;
    for (auto& g : *groups) {
      toml::table* t = g.as_table();
      const size_t n = static_cast<size_t>((*t)["repeat"].value_or(int64_t{1}));
      convert_block(*t, first, n);
      first += n;
    }
  } else {
    convert_block(sub(model, "block"), 0, tm.layers.size());
  }
  LMF_REQUIRE(converted > 0, UserError, "convert: the teacher '", a.teacher,
              "' has no block that can become linear attention (softmax attention without a window or ALiBi)");
  toml::table& train_t = sub(scfg, "train");
  train_t.insert_or_assign("steps", a.finetune_steps);
  // The teacher's wall-clock cap described its own run; the fine-tune is bounded by its steps
  // (a cap is still available through --set train.max_minutes=N).
  train_t.insert_or_assign("max_minutes", 0.0);
  for (const std::string& s : a.sets) apply_override(scfg, s);
  RunConfig sc = parse_run_config(scfg);

  // --- the student, with the teacher's weights (everything but the feature maps) ---------------
  at::manual_seed(static_cast<uint64_t>(sc.run.seed));
  auto student = std::make_shared<LanguageModel>(sc.model);
  {
    at::NoGradGuard ng;
    auto tp = teacher.model->named_parameters();
    auto tb = teacher.model->named_buffers();
    int64_t copied = 0;
    for (auto& p : student->named_parameters()) {
      const at::Tensor* src = tp.find(p.key());
      if (!src) src = tb.find(p.key());
      if (!src) continue;
      LMF_REQUIRE(src->sizes() == p.value().sizes(), InputError, "convert: ", p.key(), " has shape ", src->sizes(),
                  " in the teacher but ", p.value().sizes(), " in the student");
      p.value().copy_(*src);
      ++copied;
    }
    LMF_REQUIRE(copied == static_cast<int64_t>(tp.size()), std::logic_error, "convert: copied ", copied, " of ",
                tp.size(), " teacher tensors");
  }
  std::vector<LinearAttentionMixer*> layers;
  for (auto& m : student->modules(/*include_self=*/false))
    if (auto* la_m = dynamic_cast<LinearAttentionMixer*>(m.get())) layers.push_back(la_m);
  std::vector<at::Tensor> phi_params;
  for (auto& p : student->named_parameters()) {
    const bool is_phi = p.key().find(".phi_q.") != std::string::npos || p.key().find(".phi_k.") != std::string::npos;
    p.value().set_requires_grad(is_phi);
    if (is_phi) phi_params.push_back(p.value());
  }

  std::shared_ptr<Task> task = make_task(teacher.config, fs::path(ckpt).parent_path().string());
  std::vector<Batch> valid = task->valid_batches(a.eval_batches);
  // Mean token cross-entropy over the validation batches (fp32, eval mode).
  auto valid_loss = [&](LanguageModel& m, const std::vector<Batch>& v) {
    return evaluate_batches(m, *task, v, at::kFloat, at::kCPU)["valid_loss"].get<double>();
  };
  const double teacher_loss = valid_loss(*teacher.model, valid);
  const double before_loss = valid_loss(*student, valid);
  log_line(str("convert: teacher valid loss ", teacher_loss, " (ppl ", std::exp(teacher_loss), "); converted (",
               a.feature_map, ", feature maps at init) ", before_loss, " (ppl ", std::exp(before_loss), ")"));

  // --- stage 1: attention distillation, feature maps only: a task on the training loop ---------
  double distill_first = 0, distill_last = 0;
  if (!phi_params.empty() && a.distill_steps > 0) {
    DistillOptions dop;
    dop.target = "attention";
    DistillTask dtask(task, dop);
    // Adam (AdamW without decay) on the feature maps: the only parameters that require grad.
    Choice adam{"adamw", {}};
    adam.options.insert("beta2", 0.999);
    BuiltOptimizer opt = build_optimizer(adam, *student, a.distill_lr, 0.0, "convert");
    LrSchedule constant(Choice{"constant", {}}, a.distill_lr, 0.0, 0, a.distill_steps);
    LoopOptions lo;
    lo.steps = a.distill_steps;
    lo.step.grad_clip = 0;  // the attention CE is bounded; Hedgehog does not clip
    lo.seed = static_cast<uint64_t>(sc.run.seed);
    lo.log_every = a.log_every, lo.eval_batches = 0;
    lo.label = str("convert: distill (attention CE summed over ", layers.size(), " layers) step");
    LoopState ls;
    Distributed single;
    for (auto* l : layers) l->set_distill(true);
    const LoopResult r = run_loop(*student, dtask, *opt.optimizer, opt.lr_scales, constant, lo, ls, single, nullptr, {});
    for (auto* l : layers) l->set_distill(false);
    distill_first = r.first_loss, distill_last = r.last_loss;
  }
  for (auto& p : student->parameters()) p.set_requires_grad(true);
  const double distilled_loss = valid_loss(*student, valid);
  log_line(str("convert: after distillation, before fine-tuning: valid loss ", distilled_loss, " (ppl ",
               std::exp(distilled_loss), ")"));
  const fs::path distilled = fs::path(a.out) / "distilled";
  fs::create_directories(distilled);
  save_checkpoint(distilled.string(), *student, nullptr, {{"step", 0}, {"tokens", 0}}, run_config_to_toml(sc));
  const fs::path tok = fs::path(checkpoint_dir(a.teacher)).parent_path() / "tokenizer";
  if (fs::exists(tok)) fs::copy(tok, distilled / "tokenizer", fs::copy_options::recursive);

  // --- stage 2: fine-tune on the LM objective --------------------------------------------------
  double finetuned_loss = distilled_loss;
  const fs::path finetuned = fs::path(a.out) / "finetuned";
  if (a.finetune_steps > 0) {
    fs::create_directories(finetuned);
    if (fs::exists(tok)) fs::copy(tok, finetuned / "tokenizer", fs::copy_options::recursive);
    TrainOptions o;
    o.run_dir = finetuned.string();
    o.init_weights = weights_path(checkpoint_dir(distilled.string()));
    train(scfg, o);
    LoadedRun ft = load_run(finetuned.string(), "");
    finetuned_loss = valid_loss(*ft.model, valid);
  }
  nlohmann::json r = {{"teacher", a.teacher},
                      {"feature_map", a.feature_map},
                      {"distill_steps", a.distill_steps},
                      {"finetune_steps", a.finetune_steps},
                      {"distill_loss_first", distill_first},
                      {"distill_loss_last", distill_last},
                      {"valid_batches", valid.size()},
                      {"teacher_loss", teacher_loss},
                      {"teacher_ppl", std::exp(teacher_loss)},
                      {"converted_init_loss", before_loss},
                      {"distilled_loss", distilled_loss},
                      {"distilled_ppl", std::exp(distilled_loss)},
                      {"finetuned_loss", finetuned_loss},
                      {"finetuned_ppl", std::exp(finetuned_loss)}};
  write_file_atomic((fs::path(a.out) / "convert.json").string(), r.dump(2) + "\n");
  if (a.json) std::cout << r.dump(2) << std::endl;
  else
    std::cout << "teacher ppl " << std::exp(teacher_loss) << ", converted before fine-tuning " << std::exp(distilled_loss)
              << ", after " << std::exp(finetuned_loss) << "  (" << (fs::path(a.out) / "convert.json").string() << ")"
              << std::endl;
  return 0;
}

const bool kRegistered = register_subcommand(
    "convert", "convert a trained softmax-attention model to linear attention (Hedgehog distillation + fine-tune)",
    [](CLI::App& app) {
      auto a = std::make_shared<ConvertArgs>();
      app.add_option("--teacher", a->teacher, "run directory (or checkpoint) of the softmax-attention model")->required();
      app.add_option("--out,-o", a->out, "output directory (distilled/, finetuned/, convert.json)")->required();
      app.add_option("--feature-map", a->feature_map, "hedgehog | elu | relu | performer | taylor")
          ->check(CLI::IsMember({"hedgehog", "elu", "relu", "performer", "taylor"}));
      app.add_option("--distill-steps", a->distill_steps, "stage 1 steps (feature maps only; 0 = skip)");
      app.add_option("--distill-lr", a->distill_lr, "stage 1 Adam learning rate");
      app.add_option("--finetune-steps", a->finetune_steps, "stage 2 steps on the LM objective (0 = skip)");
      app.add_option("--eval-batches", a->eval_batches, "validation batches for the reported losses");
      app.add_option("--chunk", a->chunk, "chunk length of the linear attention kernel");
      app.add_option("--log-every", a->log_every, "stage 1 log interval");
      app.add_option("--set", a->sets, "override a key of the converted run's config (key=value), e.g. train.lr=1e-4");
      app.add_option("--threads", a->threads, "threads (default: all cores)");
      app.add_flag("--json", a->json, "print the result as JSON");
      return [a] { return run_convert(*a); };
    });

}  // namespace
}  // namespace lmforge
