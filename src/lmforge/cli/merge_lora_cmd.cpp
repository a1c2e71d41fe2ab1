// `lmforge merge-lora --model DIR --out DIR [--json]`: folds the LoRA adapters of a model saved by
// `lmforge glue --peft lora --out` into its weights and writes a self-contained model
// (eval/glue_export.h); prints how many layers were merged and how far the merged logits are from
// the adapters' on a random batch.
#include <iostream>
#include <memory>

#include <nlohmann/json.hpp>

#include "lmforge/cli/subcommand.h"
#include "lmforge/core/log.h"
#include "lmforge/core/threads.h"
#include "lmforge/eval/glue_export.h"

namespace lmforge {
namespace {

struct MergeArgs {
  std::string model, out;
  int threads = 0;
  bool json = false;
};

int run_merge(const MergeArgs& a) {
  set_threads(a.threads);
  const MergeReport r = export_merged_lora(a.model, a.out);
  if (a.json) {
    nlohmann::json j = {{"merged_layers", r.merged_layers}, {"parameters", r.parameters},
                        {"max_logit_diff", r.max_logit_diff}, {"out", a.out}};
    std::cout << j.dump(2) << std::endl;
  } else {
    std::cout << "merged LoRA into " << r.merged_layers << " layers; " << r.parameters << " parameters written to "
              << a.out << " (max |logit difference| on a random batch " << r.max_logit_diff << ")" << std::endl;
  }
  return 0;
}

const bool kRegistered = register_subcommand(
    "merge-lora", "fold a LoRA fine-tuned GLUE model (lmforge glue --peft lora --out) into one plain model",
    [](CLI::App& app) {
      auto a = std::make_shared<MergeArgs>();
      app.add_option("--model", a->model, "the task folder written by lmforge glue --peft lora --out")->required();
      app.add_option("--out", a->out, "a new folder for the merged model")->required();
      app.add_option("--threads", a->threads, "intra-op threads; 0 = all cores");
      app.add_flag("--json", a->json, "print the report as JSON");
      return [a] { return run_merge(*a); };
    });

}  // namespace
}  // namespace lmforge
