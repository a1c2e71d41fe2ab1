// Settings shared by the low-rank projected optimisers (galore.cpp, gradnormlorp.cpp), and the
// builder that gives each targeted matrix its projected rule and every other parameter plain Adam.
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "lmforge/train/optimizers/adam_family.h"
#include "lmforge/train/optimizers/low_rank.h"

namespace lmforge {

struct GaLoreSettings {
  int64_t rank = 128;
  int64_t update_gap = 200;
  double scale = 0.25;
  int64_t bits = 32;
  std::string inner = "adam";
  double momentum = 0.9;
  // Block matrices (attention and feed-forward weights); embeddings, the LM head and a
  // classifier's pooler/head stay on plain Adam as in the paper.
  std::vector<std::string> targets = {"*layers.*"};
  template <class V>
  void visit(V& v) {
    v("rank", rank, "r: rank of the gradient projection (clipped to the matrix's smaller side)");
    v("update_gap", update_gap, "T: steps between SVD refreshes of the projector");
    v("scale", scale, "alpha: the projected update is scaled by it");
    v("bits", bits, "32 | 8: Adam moments in fp32 or block-wise 8-bit");
    v("inner", inner, "adam | sgd: the optimiser in the projected space (sgd = heavy-ball momentum)");
    v("momentum", momentum, "momentum of inner = \"sgd\"");
    v("targets", targets, "name patterns (* and ?) of the matrices to project; others get AdamW");
  }
  bool eight_bit() const { return bits == 8; }
  void check(const std::string& where) const;
};

std::shared_ptr<torch::optim::Optimizer> make_projected_optimizer(
    const OptimizerContext& c, const AdamHyper& h, const std::vector<std::string>& targets, const std::string& where,
    const std::function<std::unique_ptr<ParamRule>(const at::Tensor&)>& matrix_rule);

}  // namespace lmforge
