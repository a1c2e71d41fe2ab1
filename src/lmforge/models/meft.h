// MEFT: make a pretrained encoder reversible with adapters (Liao, Tan, Monz, NeurIPS'23; spec
// section 3; reference BaohaoLiao/mefts models/modeling_revbert.py). The coupling and its
// recomputing backward are models/reversible.h; this file chooses F, G, lambda, beta per variant:
//   meft1: F = the pretrained layer with an adapter parallel to its FFN, G = an adapter;
//          lambda 0.1, beta 1, swap. Starting point: with adapters ~ 0 and lambda small, the
//          output is the mean of the pretrained model's last two layer outputs.
//   meft2: F = an adapter, G = the pretrained layer (+ parallel FFN adapter); lambda 1, beta 0.1, swap.
//   meft3: F = the attention sub-block with an adapter on its output, G = the FFN sub-block with a
//          parallel adapter; lambda 0.1, beta 0.1, no swap.
// Adapters: bottleneck d -> adapter_size -> d, GELU, N(0, 0.02^2) weights (nn/adapter.h).
#pragma once
#include <string>
#include <vector>

#include "lmforge/models/language_model.h"
#include "lmforge/models/peft_config.h"

namespace lmforge {

// Adds the variant's adapters to every block of lm and installs the reversible stack; returns the
// names of the reversible layers. ConfigError for a decoder, num_rev_layers > n_layers, or twice.
std::vector<std::string> apply_meft(LanguageModel& lm, const PeftConfig& p);

}  // namespace lmforge
