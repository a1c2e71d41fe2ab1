// Folding a LoRA fine-tuned GLUE model into one self-contained model (Hu et al. 2022, "LoRA:
// Low-Rank Adaptation of Large Language Models", section 4.1: W = W0 + (alpha/r) B A, so serving
// costs nothing extra). `lmforge glue --peft lora --out DIR` saves only the adapters and the head,
// with a pointer to the pretrained base; export_merged_lora loads that, merges every adapter into
// its layer, and writes a full checkpoint (config with [model.peft] kind = "none", no pointer) that
// load_glue_model, advglue and anything else load without the base.
#pragma once
#include <string>

namespace lmforge {

struct MergeReport {
  int merged_layers = 0;
  int64_t parameters = 0;   // of the written model
  double max_logit_diff = 0;  // merged vs adapters on a random batch (fp32 rounding only)
};

// dir: a model saved by `lmforge glue --peft lora --out` (the task folder). out: a new folder
// (refused when it already holds a checkpoint). Errors (InputError/UserError): not a PEFT
// checkpoint, MEFT adapters (reversible layers change the network; nothing to fold), base missing.
MergeReport export_merged_lora(const std::string& dir, const std::string& out);

}  // namespace lmforge
