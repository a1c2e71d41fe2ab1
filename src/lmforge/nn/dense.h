// Dense: y = x W^T + b, the plain linear layer, as one at::linear call.
//
// Why not torch::nn::Linear: under bf16 autocast on LibTorch 1.13 it measured 15% slower than a
// direct at::linear on these machines (DESIGN.md), and we want the parameter names weight/bias
// to match the PyTorch peer's state_dict exactly.
#pragma once
#include <ATen/ATen.h>
#include <torch/nn/module.h>

#include <memory>

namespace lmforge {

class LoraAdapter;  // nn/lora.h

class Dense : public torch::nn::Module {
 public:
  // Weights ~ N(0, std^2), bias zero.
  Dense(int64_t in, int64_t out, bool bias, double std);
  // x W^T + b, plus the LoRA update (alpha/r) B A x when an unmerged adapter is attached.
  at::Tensor forward(const at::Tensor& x) const;
  int64_t in_features() const { return weight.size(1); }
  int64_t out_features() const { return weight.size(0); }

  // Attaches a LoRA adapter (registered as child "lora": parameters lora.A, lora.B).
  void attach_lora(std::shared_ptr<LoraAdapter> a);
  LoraAdapter* lora() const { return lora_.get(); }

  at::Tensor weight, bias;  // bias undefined when disabled

 private:
  std::shared_ptr<LoraAdapter> lora_;
};

// A learned table (token or position embedding, untied output projection): one `weight`
// parameter (rows x cols) ~ N(0, std^2), as a module so its name is `<name>.weight`.
class Table : public torch::nn::Module {
 public:
  Table(int64_t rows, int64_t cols, double std);
  at::Tensor weight;
};

}  // namespace lmforge
