// Parameter-efficient fine-tuning of a pretrained LanguageModel ([model.peft], peft_config.h).
//
// apply_peft runs after the pretrained weights are loaded: it attaches the adapters (LoRA on the
// linear layers whose path matches a target pattern; MEFT's reversible adapters, models/meft.h)
// and freezes every parameter of the model that is not an adapter's (requires_grad = false), so
// the optimizer (train/optimizer.cpp skips frozen parameters) and the PEFT checkpoint hold only
// the adapters. Modules the caller adds afterwards (a classifier's pooler and head) stay trainable,
// as in the LoRA paper's GLUE runs.
#pragma once
#include <string>
#include <vector>

#include "lmforge/models/language_model.h"
#include "lmforge/models/peft_config.h"

namespace lmforge {

struct PeftSummary {
  std::vector<std::string> adapted;  // LoRA: the linear layers adapted; MEFT: the reversible layers
  int64_t trainable = 0;             // adapter parameters (elements)
  int64_t frozen = 0;
};

// Attaches p's adapters to lm and freezes the rest; p.kind == "none" changes nothing. Errors
// (ConfigError, naming model.peft.*): a target pattern that matches no linear layer, a rank larger
// than a targeted layer's min(in, out), adapters applied twice.
PeftSummary apply_peft(LanguageModel& lm, const PeftConfig& p);

// Folds every LoRA adapter under m into its layer's weight (W = W0 + (alpha/r) B A) or takes it
// out again; returns how many layers changed.
int merge_lora(torch::nn::Module& m);
int unmerge_lora(torch::nn::Module& m);

// Whether a parameter name belongs to a LoRA or MEFT adapter (what apply_peft leaves trainable
// inside the backbone).
bool is_adapter_parameter(const std::string& name);

// Names of m's parameters that train (requires_grad): what a PEFT checkpoint stores.
std::vector<std::string> trainable_parameter_names(const torch::nn::Module& m);

}  // namespace lmforge
