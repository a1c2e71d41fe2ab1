// Fuzzes the GLUE TSV readers (data/glue.h): read_glue_text on the input, for the task and split
// chosen by the first byte (the ten tasks x labeled/test), so that every column layout is reached.
// Contract (fuzz_contract.h): returns examples, or throws InputError naming file:line.
#include "fuzz_contract.h"
#include "lmforge/data/glue.h"

using namespace lmforge::data;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const auto& tasks = glue_tasks();
  const GlueTask& task = tasks[(data[0] >> 1) % tasks.size()];
  const GlueSplit split = (data[0] & 1) ? GlueSplit::kTest : GlueSplit::kLabeled;
  lmforge_fuzz_contract([&] {
    const std::string text = lmforge_fuzz_bytes(data + 1, size - 1);
    std::vector<GlueExample> ex = read_glue_text(task, text, "fuzz.tsv", split);
    for (const auto& e : ex)
      if (!task.regression && e.label != -1 && (e.label < 0 || e.label >= task.num_outputs())) __builtin_trap();
  });
  return 0;
}
