// Activations of the feed-forwards and of the fused MoE experts, by config name: gelu (erf),
// gelu_tanh, relu, silu. Here in ops/ (not nn/) because ops/moe_dispatch applies them inside its
// kernel and ops sits below nn. An unknown name is a ConfigError listing the valid ones.
#pragma once
#include <string>

#include <ATen/ATen.h>

namespace lmforge {
at::Tensor activation(const at::Tensor& x, const std::string& name);
// Refuses an unknown name at construction (ConfigError naming `key`), before any forward.
void check_activation(const std::string& name, const std::string& key);
}  // namespace lmforge
