// [model.peft]: parameter-efficient fine-tuning of a pretrained model.
//
//   kind = "lora"   LoRA (Hu et al., ICLR'22): h = W0 x + (alpha/r) B A dropout(x) on the linear
//                   layers whose module path matches one of `targets`; A ~ Kaiming-uniform, B = 0.
//   kind = "meft1" | "meft2" | "meft3"   MEFT (Liao, Tan, Monz, NeurIPS'23): the encoder made
//                   reversible with adapters of width `adapter_size`; see models/meft.h.
//   kind = "none"   ordinary (full) fine-tuning.
// Applied by models/peft.h after the pretrained weights are loaded (lmforge glue); everything but
// the adapters is frozen. `lmforge train` refuses a kind other than "none".
#pragma once
#include <string>
#include <vector>

#include "lmforge/core/config.h"

namespace lmforge {

struct PeftConfig {
  std::string kind = "none";  // none | lora | meft1 | meft2 | meft3
  // LoRA.
  int64_t rank = 8;
  double alpha = 16.0;
  double dropout = 0.0;  // on the adapter's input only
  // Glob patterns ('*' = any run of characters, dots included) matched against the module path of
  // each linear layer in the encoder/decoder (e.g. "layers.3.mixer.qkv"); every pattern must match.
  std::vector<std::string> targets = {"*.mixer.qkv", "*.mixer.out", "*.ffn.fc1", "*.ffn.fc2"};
  // MEFT.
  int64_t adapter_size = 8;  // bottleneck width r of each adapter
  double lambda = 0.0;       // 0 = the variant's default (meft1 0.1, meft2 1, meft3 0.1)
  double beta = 0.0;         // 0 = the variant's default (meft1 1, meft2 0.1, meft3 0.1)
  int64_t num_rev_layers = 0;  // layers [0, K) recompute their activations in backward; 0 = all
  double adapter_dropout = 0.0;

  template <class V>
  void visit(V& v) {
    v("kind", kind, "none | lora | meft1 | meft2 | meft3");
    v("rank", rank, "LoRA rank r");
    v("alpha", alpha, "LoRA scale numerator: delta = (alpha/r) B A x");
    v("dropout", dropout, "LoRA dropout on the adapter input");
    v("targets", targets, "LoRA: glob patterns of linear-layer paths (layers.N.mixer.qkv, ...)");
    v("adapter_size", adapter_size, "MEFT adapter bottleneck width");
    v("lambda", lambda, "MEFT coupling scale of x1 (0 = variant default)");
    v("beta", beta, "MEFT coupling scale of x2 (0 = variant default)");
    v("num_rev_layers", num_rev_layers, "MEFT: first K layers reversible (activations recomputed), 0 = all");
    v("adapter_dropout", adapter_dropout, "MEFT adapter dropout (seeds replayed in backward)");
  }
  bool is_meft() const { return kind == "meft1" || kind == "meft2" || kind == "meft3"; }
};

// Checks the values (kind, ranks, scales); `path` names the table in messages.
void validate_peft_config(const PeftConfig& p, const std::string& path);

}  // namespace lmforge
