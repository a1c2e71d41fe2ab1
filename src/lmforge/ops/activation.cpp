// Activations by name; see activation.h.
#include "lmforge/ops/activation.h"

#include "lmforge/core/error.h"

namespace lmforge {

at::Tensor activation(const at::Tensor& x, const std::string& name) {
  if (name == "gelu") return at::gelu(x);
  if (name == "gelu_tanh") return at::gelu(x, "tanh");
  if (name == "relu") return at::relu(x);
  if (name == "silu") return at::silu(x);
  throw ConfigError(str("unknown activation '", name, "' (gelu, gelu_tanh, relu, silu)"));
}

void check_activation(const std::string& a, const std::string& key) {
  LMF_REQUIRE(a == "gelu" || a == "gelu_tanh" || a == "relu" || a == "silu", ConfigError, key, ": unknown activation '", a,
              "' (gelu, gelu_tanh, relu, silu)");
}

}  // namespace lmforge
