// A reversible stack of blocks (MEFT, Liao, Tan, Monz, "Make Pre-trained Model Reversible: From
// Parameter to Memory Efficient Fine-Tuning", NeurIPS'23; RevNet coupling, Gomez et al. 2017).
//
// The input h0 is duplicated, (x1, x2) = (h0, h0), and each layer maps
//   y1 = lambda x1 + F(x2),   y2 = beta x2 + G(y1)
// with F, G given per layer (models/meft.h picks them: the pretrained layer, its halves, adapters).
// MEFT1/2 pass (y2, y1) to the next layer ("swap"), MEFT3 (y1, y2). Output: (x1 + x2) / 2.
// The coupling inverts exactly:  x2 = (y2 - G(y1)) / beta,  x1 = (y1 - F(x2)) / lambda.
//
// Why: the backward pass of layers [0, K) recomputes their inputs from their outputs instead of
// keeping activations (a custom autograd function that saves only the last layer's (y1, y2) and
// two dropout seeds per layer), so activation memory of those layers is O(1) in depth. In backward,
// per layer from the top: re-run G(y1) with grad on (-> G's adapter gradients, dL/dy1 += ...),
// x2 = (y2 - G(y1))/beta; re-run F(x2) (-> F's gradients, dL/dx2 via F); x1 = (y1 - F(x2))/lambda;
// dL/dx1 = lambda dL/dy1, dL/dx2 = beta dL/dy2 + (dL/dx2 via F). Dropout in F and G is replayed by
// reseeding the generator with the seeds drawn in forward. Layers [K, n) use plain autograd.
// Reconstruction divides by lambda (0.1) every layer, so rounding error grows ~10x per layer in
// fp32 (tests/models/meft_test.cpp records it); fp64 inverts to 1e-10.
#pragma once
#include <functional>
#include <memory>
#include <vector>

#include "lmforge/models/block.h"

namespace lmforge {

class ReversibleStack {
 public:
  using Fn = std::function<at::Tensor(const at::Tensor&, ForwardContext&)>;
  struct Layer {
    Fn F, G;
    std::vector<at::Tensor> params;  // trainable parameters of F and G (adapters)
  };
  ReversibleStack(std::vector<Layer> layers, double lambda, double beta, bool swap, int64_t num_rev);

  // h0 (B, L, D) -> (x1 + x2) / 2 after the last layer.
  at::Tensor forward(const at::Tensor& h0, ForwardContext& ctx);
  // The last layer's (x1, x2) before averaging: (B, L, D) each; for the inverse.
  std::pair<at::Tensor, at::Tensor> forward_pair(const at::Tensor& h0, ForwardContext& ctx);
  // Inverts the whole stack (no dropout: eval mode): the (x1, x2) that entered layer 0.
  std::pair<at::Tensor, at::Tensor> inverse(at::Tensor o1, at::Tensor o2, ForwardContext& ctx) const;
  // Off: every layer through plain autograd (the oracle for the recomputing backward).
  void set_recompute(bool on) { recompute_ = on; }
  int64_t num_rev() const { return num_rev_; }

  // One layer's coupling, with the dropout seeds it uses (drawn when seeds is empty and training).
  std::pair<at::Tensor, at::Tensor> couple(size_t l, const at::Tensor& x1, const at::Tensor& x2, ForwardContext& ctx,
                                           std::vector<uint64_t>* seeds) const;
  std::pair<at::Tensor, at::Tensor> uncouple(size_t l, const at::Tensor& y1, const at::Tensor& y2,
                                             ForwardContext& ctx) const;
  const std::vector<Layer>& layers() const { return layers_; }
  double lambda() const { return lambda_; }
  double beta() const { return beta_; }
  bool swap() const { return swap_; }

 private:
  std::vector<Layer> layers_;
  double lambda_, beta_;
  bool swap_, recompute_ = true;
  int64_t num_rev_;
};

// Runs f with the default generator of `device` seeded to `seed` (dropout replay).
void seed_generator(const at::Device& device, uint64_t seed);

}  // namespace lmforge
