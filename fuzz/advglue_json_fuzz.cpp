// Fuzzes the AdvGLUE reader (eval/advglue.h): parse_advglue_json on the input as dev.json, the
// examples of every task, then scoring with predictions equal to the gold labels and the table.
// Contract (fuzz_contract.h): scores, or throws InputError/UserError naming the task and record.
#include <map>

#include "fuzz_contract.h"
#include "lmforge/eval/advglue.h"

using namespace lmforge;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  lmforge_fuzz_contract([&] {
    nlohmann::json dev = eval::parse_advglue_json(lmforge_fuzz_bytes(data, size), "fuzz.json");
    if (!dev.is_object()) return;  // refused by `lmforge advglue` before the reader sees it
    std::map<std::string, std::vector<int64_t>> preds;
    for (const std::string& task : eval::advglue_tasks()) {
      if (!dev.contains(task)) continue;
      for (const auto& e : eval::advglue_examples(dev, task, "fuzz.json")) preds[task].push_back(e.label);
    }
    eval::AdvGlueScore s = eval::score_advglue(dev, preds);
    (void)eval::advglue_table(s);
  });
  return 0;
}
