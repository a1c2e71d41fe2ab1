// Attaching LoRA / MEFT adapters and freezing the pretrained weights; see peft.h.
#include "lmforge/models/peft.h"

#include <algorithm>

#include "lmforge/core/glob.h"
#include "lmforge/models/meft.h"
#include "lmforge/nn/dense.h"
#include "lmforge/nn/lora.h"

namespace lmforge {

void validate_peft_config(const PeftConfig& p, const std::string& path) {
  LMF_REQUIRE(p.kind == "none" || p.kind == "lora" || p.is_meft(), ConfigError, "config key '", path,
              ".kind': expected none, lora, meft1, meft2 or meft3, got \"", p.kind, "\"");
  LMF_REQUIRE(p.rank >= 1, ConfigError, "config key '", path, ".rank': must be >= 1, got ", p.rank);
  LMF_REQUIRE(p.dropout >= 0 && p.dropout < 1, ConfigError, "config key '", path, ".dropout': must be in [0, 1)");
  LMF_REQUIRE(p.adapter_dropout >= 0 && p.adapter_dropout < 1, ConfigError, "config key '", path,
              ".adapter_dropout': must be in [0, 1)");
  LMF_REQUIRE(p.adapter_size >= 1, ConfigError, "config key '", path, ".adapter_size': must be >= 1");
  LMF_REQUIRE(p.lambda >= 0 && p.beta >= 0, ConfigError, "config keys '", path, ".lambda', '", path,
              ".beta': must be > 0 (or 0 for the variant's default)");
  LMF_REQUIRE(p.num_rev_layers >= 0, ConfigError, "config key '", path, ".num_rev_layers': must be >= 0");
  LMF_REQUIRE(p.kind != "lora" || !p.targets.empty(), ConfigError, "config key '", path,
              ".targets': LoRA needs at least one target pattern");
}

bool is_adapter_parameter(const std::string& name) {
  return name.find("lora.") != std::string::npos || name.find("meft_") != std::string::npos;
}

namespace {

void apply_lora(LanguageModel& lm, const PeftConfig& p, PeftSummary& s) {
  std::vector<std::pair<std::string, std::shared_ptr<Dense>>> linears;
  for (const auto& m : lm.named_modules("", /*include_self=*/false))
    if (auto d = std::dynamic_pointer_cast<Dense>(m.value())) linears.emplace_back(m.key(), d);
  std::vector<bool> chosen(linears.size(), false);
  for (const auto& pat : p.targets) {
    bool any = false;
    for (size_t i = 0; i < linears.size(); ++i)
      if (glob_match(pat, linears[i].first)) chosen[i] = any = true;
    if (!any) {
      std::string names;
      for (size_t i = 0; i < linears.size() && i < 8; ++i) names += (i ? ", " : "") + linears[i].first;
      if (linears.size() > 8) names += ", ...";
      throw ConfigError(str("config key 'model.peft.targets': pattern '", pat,
                            "' matches no linear layer of the model (its linear layers: ",
                            names.empty() ? "none" : names, ")"));
    }
  }
  for (size_t i = 0; i < linears.size(); ++i) {
    if (!chosen[i]) continue;
    Dense& d = *linears[i].second;
    const int64_t cap = std::min(d.in_features(), d.out_features());
    LMF_REQUIRE(p.rank <= cap, ConfigError, "config key 'model.peft.rank': rank ", p.rank, " is larger than layer '",
                linears[i].first, "' allows (", d.in_features(), " in, ", d.out_features(), " out: at most ", cap, ")");
    LMF_REQUIRE(!d.lora(), ConfigError, "layer '", linears[i].first, "' already has a LoRA adapter (applied twice)");
    auto a = std::make_shared<LoraAdapter>(d.in_features(), d.out_features(), p.rank, p.alpha, p.dropout);
    a->to(d.weight.device(), d.weight.scalar_type());
    d.attach_lora(a);
    s.adapted.push_back(linears[i].first);
  }
}

template <class F>
int for_each_lora(torch::nn::Module& m, F f) {
  int n = 0;
  for (const auto& mod : m.modules(/*include_self=*/true))
    if (auto d = std::dynamic_pointer_cast<Dense>(mod)) {
      if (d->lora()) f(*d->lora(), *d), ++n;
    }
  return n;
}

}  // namespace

PeftSummary apply_peft(LanguageModel& lm, const PeftConfig& p) {
  PeftSummary s;
  validate_peft_config(p, "model.peft");
  if (p.kind == "none") return s;
  if (p.kind == "lora") apply_lora(lm, p, s);
  else s.adapted = apply_meft(lm, p);
  for (auto& q : lm.named_parameters()) {
    const bool train = is_adapter_parameter(q.key());
    q.value().set_requires_grad(train);
    (train ? s.trainable : s.frozen) += q.value().numel();
  }
  return s;
}

int merge_lora(torch::nn::Module& m) {
  return for_each_lora(m, [](LoraAdapter& a, Dense& d) { a.merge(d); });
}

int unmerge_lora(torch::nn::Module& m) {
  return for_each_lora(m, [](LoraAdapter& a, Dense& d) { a.unmerge(d); });
}

std::vector<std::string> trainable_parameter_names(const torch::nn::Module& m) {
  std::vector<std::string> out;
  for (const auto& q : m.named_parameters())
    if (q.value().requires_grad()) out.push_back(q.key());
  return out;
}

}  // namespace lmforge
