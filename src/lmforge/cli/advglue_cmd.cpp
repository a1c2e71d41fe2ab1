// `lmforge advglue --data dev.json --model TASK=DIR ...`: scores GLUE-fine-tuned models (saved by
// `lmforge glue --out`) on AdvGLUE's dev file with the official aggregation (eval/advglue.h).
// TASK is sst2, qqp, mnli (also used for mnli-mm unless that is given), mnli-mm, qnli or rte.
// `--predictions FILE` scores a predictions JSON ({"sst2": [labels...], ...}) instead of models.
#include <iostream>
#include <memory>

#include "lmforge/cli/subcommand.h"
#include "lmforge/core/error.h"
#include "lmforge/core/file_io.h"
#include "lmforge/core/threads.h"
#include "lmforge/eval/advglue.h"
#include "lmforge/eval/glue_finetune.h"

namespace lmforge {
namespace {

struct AdvArgs {
  std::string data, predictions, write;
  std::vector<std::string> models;
  std::string device = "cpu";
  int threads = 0;
  bool json = false;
};

nlohmann::json parse_json_file(const std::string& path) {
  return eval::parse_advglue_json(read_file(path), "file " + path);
}

int run_adv(const AdvArgs& a) {
  set_threads(a.threads);
  nlohmann::json dev = parse_json_file(a.data);
  LMF_REQUIRE(dev.is_object(), InputError, "file ", a.data, ": expected an object of task name -> list of examples");
  std::map<std::string, std::vector<int64_t>> preds;
  if (!a.predictions.empty()) {
    nlohmann::json p = parse_json_file(a.predictions);
    LMF_REQUIRE(p.is_object(), InputError, "file ", a.predictions, ": expected {\"sst2\": [labels], ...}");
    for (const auto& [k, v] : p.items()) {
      eval::advglue_glue_task(k);
      LMF_REQUIRE(v.is_array(), InputError, "file ", a.predictions, ": \"", k, "\" must be a list of labels");
      for (const auto& x : v) {
        LMF_REQUIRE(x.is_number_integer(), InputError, "file ", a.predictions, ": \"", k, "\" holds a non-integer label");
        preds[k].push_back(x.get<int64_t>());
      }
    }
  } else {
    LMF_REQUIRE(!a.models.empty(), UserError, "advglue needs --model TASK=DIR (repeatable) or --predictions FILE");
    std::map<std::string, std::string> dirs;
    for (const auto& m : a.models) {
      auto eq = m.find('=');
      LMF_REQUIRE(eq != std::string::npos && eq > 0, UserError, "--model '", m, "': expected TASK=DIR (e.g. sst2=runs/glue/SST-2)");
      std::string task = m.substr(0, eq);
      eval::advglue_glue_task(task);
      dirs[task] = m.substr(eq + 1);
    }
    if (dirs.count("mnli") && !dirs.count("mnli-mm")) dirs["mnli-mm"] = dirs["mnli"];
    for (const auto& [task, dir] : dirs) {
      GlueModel g = load_glue_model(dir, a.device);
      LMF_REQUIRE(g.task == eval::advglue_glue_task(task), UserError, "--model ", task, "=", dir, ": that model was fine-tuned on ",
                  g.task, ", not ", eval::advglue_glue_task(task));
      if (!dev.contains(task)) continue;
      const data::GlueTask& gt = data::glue_task(g.task);
      std::vector<EncodedExample> xs;
      for (const auto& e : eval::advglue_examples(dev, task, a.data))
        xs.push_back(encode_glue_example(*g.tokenizer, e, gt.pair, g.max_len));
      preds[task] = predict_classes(*g.model, xs, 64);
    }
  }
  eval::AdvGlueScore s = eval::score_advglue(dev, preds);
  if (!a.write.empty()) {
    nlohmann::json w(preds);
    write_file_atomic(a.write, w.dump() + "\n");
  }
  if (a.json) {
    nlohmann::json j;
    j["per_task"] = s.per_task;
    j["task_score"] = s.task_score;
    j["advglue_score"] = s.overall;
    j["complete"] = s.complete;
    std::cout << j.dump(2) << std::endl;
  } else {
    std::cout << eval::advglue_table(s);
  }
  return 0;
}

const bool kRegistered = register_subcommand("advglue", "score GLUE-fine-tuned models on AdvGLUE's dev.json", [](CLI::App& app) {
  auto a = std::make_shared<AdvArgs>();
  app.add_option("--data", a->data, "AdvGLUE dev.json")->required();
  app.add_option("--model", a->models, "TASK=DIR, a model saved by lmforge glue --out (repeatable)");
  app.add_option("--predictions", a->predictions, "score this predictions JSON instead of running models");
  app.add_option("--write-predictions", a->write, "write the predictions JSON here");
  app.add_option("--device", a->device, "cpu | cuda");
  app.add_option("--threads", a->threads, "intra-op threads; 0 = all cores");
  app.add_flag("--json", a->json, "print the scores as JSON");
  return [a] { return run_adv(*a); };
});

}  // namespace
}  // namespace lmforge
