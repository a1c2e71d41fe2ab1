// LoRA: low-rank adaptation of a frozen linear layer (Hu et al., "LoRA: Low-Rank Adaptation of
// Large Language Models", ICLR'22):
//   h = W0 x + b + (alpha/r) * B (A dropout(x)),   A (r x in) Kaiming-uniform, B (out x r) = 0,
// so the adapted layer starts as the pretrained one. Only A and B train. merge() folds the update
// into the weight, W = W0 + (alpha/r) B A, for inference at the plain layer's cost; unmerge()
// takes it out again (exact up to rounding: W0 is restored by subtracting the same product).
// A Dense holds its adapter (Dense::lora) and adds delta(x) in its forward while unmerged.
#pragma once
#include <ATen/ATen.h>
#include <torch/nn/module.h>

namespace lmforge {

class Dense;

class LoraAdapter : public torch::nn::Module {
 public:
  LoraAdapter(int64_t in, int64_t out, int64_t rank, double alpha, double dropout);
  // (alpha/r) B A dropout(x); zero while merged (the update is in the weight then).
  at::Tensor delta(const at::Tensor& x) const;
  // W += scale B A (merge) or W -= scale B A (unmerge) on the layer this adapter belongs to.
  void merge(Dense& layer);
  void unmerge(Dense& layer);
  bool merged() const { return merged_; }
  double scale() const { return scale_; }

  at::Tensor A, B;

 private:
  double scale_, dropout_;
  bool merged_ = false;
};

}  // namespace lmforge
