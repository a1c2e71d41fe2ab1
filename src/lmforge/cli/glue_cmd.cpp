// `lmforge glue --task NAME|--all --checkpoint RUN_DIR --data GLUE_DIR [--out DIR] [--predict DIR]`:
// fine-tunes an encoder on GLUE tasks, scores the dev sets and prints the table (GLUE score and the
// 8-task average labelled); --predict writes the leaderboard files (CoLA.tsv, MNLI-m.tsv, AX.tsv, ...).
#include <filesystem>
#include <iostream>
#include <memory>

#include <nlohmann/json.hpp>

#include "lmforge/cli/subcommand.h"
#include "lmforge/core/config.h"
#include "lmforge/core/error.h"
#include "lmforge/core/threads.h"
#include "lmforge/eval/glue_finetune.h"
#include "lmforge/train/run_config.h"

namespace lmforge {
namespace {

namespace fs = std::filesystem;

struct GlueArgs {
  std::vector<std::string> tasks;
  bool all = false, json = false;
  std::string checkpoint, data, out, predict, peft;
  std::vector<std::string> sets;  // model.peft.* only
  int threads = 0;
  bool tensorboard = true;
  GlueFinetuneOptions o;
};

// --peft KIND and --set model.peft.KEY=VALUE -> the [model.peft] table, checked like a config file.
PeftConfig parse_peft_args(const GlueArgs& a) {
  toml::table t;
  if (!a.peft.empty()) apply_override(t, "model.peft.kind=" + a.peft);
  for (const auto& s : a.sets) {
    LMF_REQUIRE(s.rfind("model.peft.", 0) == 0, UserError, "glue --set '", s,
                "': only model.peft.* keys can be set here (the model itself comes from --checkpoint)");
    apply_override(t, s);
  }
  PeftConfig p;
  if (const toml::table* pt = t["model"]["peft"].as_table()) lmforge::bind(*pt, p, "model.peft");
  validate_peft_config(p, "model.peft");
  return p;
}

int run_glue(GlueArgs a) {
  set_threads(a.threads);
  a.o.peft = parse_peft_args(a);
  LMF_REQUIRE(!a.checkpoint.empty(), UserError, "glue needs --checkpoint RUN_DIR (an encoder run of lmforge pretrain)");
  std::string data = a.data;
  if (data.empty()) data = resolve_data_path(DataConfig{}, "glue");
  LMF_REQUIRE(fs::is_directory(data), InputError, "GLUE data folder '", data, "' does not exist (give --data DIR)");
  std::vector<const data::GlueTask*> tasks;
  if (a.all) {
    for (const auto& t : data::glue_tasks())
      if (t.name != "AX" && fs::exists(fs::path(data) / t.dir / "train.tsv")) tasks.push_back(&t);
    LMF_REQUIRE(!tasks.empty(), InputError, "GLUE data folder '", data, "' holds no task with a train.tsv");
  } else {
    LMF_REQUIRE(!a.tasks.empty(), UserError, "glue needs --task NAME (repeatable) or --all");
    for (const auto& n : a.tasks) tasks.push_back(&data::glue_task(n));
  }
  std::map<std::string, eval::MetricList> results;
  nlohmann::json training = nlohmann::json::object();
  if (a.tensorboard && !a.out.empty()) a.o.events_dir = a.out;  // one events file per task, tags "<task>/..."
  for (const data::GlueTask* t : tasks) {
    const std::string out = a.out.empty() ? "" : (fs::path(a.out) / t->name).string();
    GlueTrainStats st;
    auto r = finetune_glue(*t, a.checkpoint, data, a.o, out, a.predict, &st);
    if (t->name != "AX") {
      const double tokens_per_s = st.seconds > 0 ? st.tokens / st.seconds : 0.0;
      training[t->name] = {{"trainable_parameters", st.trainable_parameters},
                           {"optimizer_state_bytes", st.optimizer_state_bytes},
                           {"train_tokens", st.tokens},
                           {"train_seconds", st.seconds},
                           {"tokens_per_s", tokens_per_s}};
      if (!a.o.quiet && !a.json)
        std::cerr << t->name << " training: " << st.trainable_parameters << " trainable parameters, optimizer state "
                  << st.optimizer_state_bytes << " bytes, " << static_cast<int64_t>(tokens_per_s) << " tokens/s"
                  << std::endl;
    }
    for (auto& [k, v] : r) {
      if (!a.o.quiet && !a.json) {
        std::string line = k + ":";
        for (const auto& [m, x] : v) line += " " + m + " " + std::to_string(x);
        std::cerr << line << std::endl;
      }
      results[k] = v;
    }
  }
  if (a.json) {
    nlohmann::json j;
    for (const auto& [n, m] : results)
      for (const auto& [k, v] : m) j["dev"][n][k] = v;
    eval::GlueSummary g = eval::summarize_glue(results);
    for (const auto& [n, v] : g.task_score) j["task_score"][n] = v;
    if (g.glue_complete) j["glue_score_9"] = g.glue_score;
    if (g.avg8_complete) j["avg_8_without_wnli"] = g.avg8;
    j["mean_over_present"] = g.avg_present;
    j["n_present"] = g.n_present;
    j["training"] = training;
    std::cout << j.dump(2) << std::endl;
  } else {
    std::cout << eval::glue_table(results);
  }
  return 0;
}

const bool kRegistered = register_subcommand("glue", "fine-tune an encoder on GLUE tasks and score the dev sets", [](CLI::App& app) {
  auto a = std::make_shared<GlueArgs>();
  app.add_option("--task", a->tasks, "GLUE task (CoLA, SST-2, MRPC, STS-B, QQP, MNLI, QNLI, RTE, WNLI); repeatable");
  app.add_flag("--all", a->all, "every task with a train.tsv under --data");
  app.add_option("--checkpoint", a->checkpoint, "run directory of the pretrained encoder")->required();
  app.add_option("--data", a->data, "GLUE folder (CoLA/, SST-2/, ...); default ../shared/data/glue");
  app.add_option("--out", a->out, "save each fine-tuned model in OUT/<task> (for lmforge advglue)");
  app.add_option("--predict", a->predict, "write test predictions in the GLUE submission format into this folder");
  app.add_option("--epochs", a->o.epochs, "training epochs (default 3)");
  app.add_option("--batch-size", a->o.batch_size, "batch size (default 32)");
  app.add_option("--lr", a->o.lr, "peak learning rate (default 1e-4; BERT-base used 2e-5..5e-5)");
  app.add_option("--warmup", a->o.warmup, "share of steps in linear warmup (default 0.1)");
  app.add_option("--weight-decay", a->o.weight_decay, "AdamW weight decay on matrices (default 0.01)");
  app.add_option("--dropout", a->o.dropout, "dropout on the pooled output (default 0.1)");
  app.add_option("--grad-clip", a->o.grad_clip, "clip the global gradient norm to this; 0 = off (default 1.0)");
  app.add_option("--optimizer", a->o.optimizer,
                 "a registered optimizer: adamw (default) | adamw8bit | galore | gradnormlorp | sgd | ... (lmforge info)");
  app.add_option("--optimizer-option", a->o.optimizer_options,
                 "KEY=VALUE option of the optimizer, as in [train.optimizer] (repeatable), e.g. rank=8");
  app.add_option("--max-len", a->o.max_len, "tokens per example incl. [CLS]/[SEP] (default 128)");
  app.add_option("--max-train", a->o.max_train, "fine-tune on a random subset of this many examples (0 = all)");
  app.add_option("--max-eval", a->o.max_eval, "score only the first N dev examples (0 = all)");
  app.add_option("--seed", a->o.seed, "seed (head init, data order, dropout)");
  app.add_option("--precision", a->o.precision, "fp32 | bf16 | auto");
  app.add_option("--device", a->o.device, "cpu | cuda");
  app.add_option("--threads", a->threads, "intra-op threads; 0 = all cores");
  app.add_option("--unpad", a->o.unpad, "MosaicBERT unpadding: compute on real tokens only (default true)");
  app.add_option("--peft", a->peft, "parameter-efficient fine-tuning: none (default) | lora | meft1 | meft2 | meft3");
  app.add_option("--set,-s", a->sets, "a [model.peft] option: --set model.peft.rank=8 (repeatable; see docs/peft.md)");
  app.add_option("--tensorboard", a->tensorboard,
                 "with --out: TensorBoard events of every task in OUT (tags SST-2/train/loss, SST-2/dev/accuracy, ...; default true)");
  app.add_flag("--json", a->json, "print the results as JSON");
  app.add_flag("--quiet,-q", a->o.quiet, "no progress lines");
  return [a] { return run_glue(*a); };
});

}  // namespace
}  // namespace lmforge
