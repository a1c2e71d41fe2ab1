// DITTO (Xu et al., NeurIPS 2022, "Learning to break the loop"): language modelling where, with
// probability `mix` per update, the batch is replaced by pseudo-repetitive data and trained with a
// loss that makes each repetition of a sentence LESS likely than the previous one.
//
// Pseudo-repetition of a training row x (T tokens), as the reference's re_orgnize_sentence:
// e_0 < e_1 < ... the positions of the sentence-end token in x; s uniform in [1, #ends - 2];
// prefix = x(e_{s-1}, e_s) (strictly between), unit = x[e_s, e_{s+1}) (the sentence with its
// leading end token), P = |prefix|, L = |unit|; the sequence prefix + unit + unit + ... gives
// input = its first T tokens and target = the next T. The reference makes the whole update plain LM
// when any row has fewer than 3 ends, which at its 1,536-token rows is rare; at a few hundred tokens
// it would be nearly every update, so here such a row borrows the next usable row's text (with its
// own sentence pick), and only a batch without any usable row is plain LM.
// Loss on target positions t >= P + L (the second repetition on; T - P - L of them), with
// p_t = p(target_t | input_<=t) and the baseline b_t = stopgrad(p_{t-L}) (the same token one
// repetition earlier):
//   nl       L_t = -log max(1 - |p_t - gamma b_t|, 1e-20)
//   nl_clip  L_t = -log max(1 - max(p_t - gamma b_t, 0), 1e-20)   (only pushes down)
//   mse      L_t = 3 (p_t - gamma b_t)^2                            (the reference's scale)
// averaged over the penalised positions. gamma = 0.5 in the paper's script; mix = 0.5.
#pragma once
#include <optional>

#include "lmforge/train/tasks/lm.h"

namespace lmforge {

struct DittoOptions {
  double gamma = 0.5;
  double mix = 0.5;
  std::string loss = "nl";
  std::string sentence_end = ".";
  template <class V>
  void visit(V& v) {
    v("gamma", gamma, "each repetition's target probability: gamma x the previous repetition's");
    v("mix", mix, "probability that an update trains on pseudo-repetitions instead of plain LM");
    v("loss", loss, "nl | nl_clip | mse");
    v("sentence_end", sentence_end, "the one-token text that ends a sentence");
  }
  void validate() const;
};

// One pseudo-repetition row built from x (T tokens) with sentence index choice `pick` (bits of a
// counter RNG): input/target (T), the prefix and unit lengths. nullopt when x has < 3 ends.
struct RepetitionRow {
  std::vector<int64_t> input, target;
  int64_t prefix = 0, unit = 0;
};
std::optional<RepetitionRow> pseudo_repetition(const std::vector<int64_t>& x, int64_t sentence_end, uint64_t pick);

// The DITTO loss sum over the penalised positions of a batch (targets -100 elsewhere), given the
// probabilities of the targets p (B, T) (differentiable) and each row's unit length.
at::Tensor ditto_loss_sum(const at::Tensor& target_probs, const at::Tensor& targets, const at::Tensor& unit_lengths,
                          double gamma, const std::string& kind);

class DittoTask : public LmTask {
 public:
  DittoTask(const DittoOptions& o, const RunConfig& cfg, const std::string& run_dir);
  Batch train_batch(int64_t step, int64_t micro, int rank, int world) override;
  LossSum loss(torch::nn::Module& model, const Batch& b, ForwardContext& ctx) override;

 private:
  DittoOptions o_;
  int64_t end_id_ = -1;
  uint64_t seed_ = 0;
  int64_t grad_accum_ = 1;
};

}  // namespace lmforge
