// MEFT variants on the reversible stack; see meft.h.
#include "lmforge/models/meft.h"

#include "lmforge/models/reversible.h"

namespace lmforge {

std::vector<std::string> apply_meft(LanguageModel& lm, const PeftConfig& p) {
  LMF_REQUIRE(p.is_meft(), ConfigError, "config key 'model.peft.kind': \"", p.kind, "\" is not a MEFT variant");
  LMF_REQUIRE(lm.config().kind == "encoder", ConfigError, "config key 'model.peft.kind' = \"", p.kind,
              "\": MEFT makes an encoder reversible; this model is a ", lm.config().kind);
  LMF_REQUIRE(!lm.reversible(), ConfigError, "model.peft: MEFT is already applied to this model (applied twice)");
  const int64_t n = static_cast<int64_t>(lm.blocks().size());
  LMF_REQUIRE(p.num_rev_layers <= n, ConfigError, "config key 'model.peft.num_rev_layers': ", p.num_rev_layers,
              " is more than the model's ", n, " layers");
  const int v = p.kind.back() - '0';
  const double lambda = p.lambda > 0 ? p.lambda : (v == 2 ? 1.0 : 0.1);
  const double beta = p.beta > 0 ? p.beta : (v == 1 ? 1.0 : 0.1);
  std::vector<ReversibleStack::Layer> layers;
  std::vector<std::string> names;
  for (int64_t l = 0; l < n; ++l) {
    std::shared_ptr<Block> b = lm.blocks()[static_cast<size_t>(l)];
    b->add_meft_adapters(/*attn=*/v == 3, /*ffn=*/true, /*rev=*/v != 3, p.adapter_size, p.adapter_dropout);
    auto whole = [b](const at::Tensor& x, ForwardContext& c) { return b->forward(x, c); };
    auto adapter = [b](const at::Tensor& x, ForwardContext&) { return b->meft_rev()->forward(x); };
    ReversibleStack::Layer L;
    if (v == 1) L.F = whole, L.G = adapter;
    else if (v == 2) L.F = adapter, L.G = whole;
    else {
      L.F = [b](const at::Tensor& x, ForwardContext& c) { return b->mixer_half(x, c); };
      L.G = [b](const at::Tensor& x, ForwardContext& c) { return b->ffn_half(x, c); };
    }
    for (const auto& q : b->named_parameters())
      if (q.key().rfind("meft_", 0) == 0) L.params.push_back(q.value());
    layers.push_back(std::move(L));
    names.push_back("layers." + std::to_string(l));
  }
  lm.set_reversible(std::make_shared<ReversibleStack>(std::move(layers), lambda, beta, /*swap=*/v != 3,
                                                      p.num_rev_layers == 0 ? n : p.num_rev_layers));
  return names;
}

}  // namespace lmforge
