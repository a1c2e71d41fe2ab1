// Masked-language-model corruption (Devlin et al. 2019; MosaicBERT's rate, Portes et al. 2023):
// each non-special token is selected with probability `rate` (MosaicBERT trains at 0.30 and
// evaluates at 0.15); a selected token becomes [MASK] with probability 0.8, a uniformly random
// token with 0.1, and stays itself with 0.1 (the HF collator's 80/10/10). Targets are the original
// ids at selected positions and -100 elsewhere. Every draw is a counter-based function of
// (key, row, position), so a batch is reproducible from its step alone (resume is bit-exact).
#pragma once
#include <cstdint>
#include <vector>

#include <ATen/ATen.h>

namespace lmforge::data {

struct MlmOptions {
  double mask_rate = 0.3;
  double eval_mask_rate = 0.15;
  double mask_token_share = 0.8;
  double random_token_share = 0.1;
  // MosaicBERT's subset trick (bert_layers.py, subset_idx): the loss reads only the masked rows, so
  // the last layer computes its output (attention output projection, residual, norms, feed-forward)
  // and the head only there. Same loss and gradients as the full computation.
  bool last_layer_subset = false;
  template <class V>
  void visit(V& v) {
    v("mask_rate", mask_rate, "mlm: share of tokens selected for prediction in training (MosaicBERT 0.30, BERT 0.15)");
    v("eval_mask_rate", eval_mask_rate, "mlm: the same for the validation batches");
    v("mask_token_share", mask_token_share, "mlm: share of selected tokens replaced by [MASK]");
    v("random_token_share", random_token_share, "mlm: share of selected tokens replaced by a random token");
    v("last_layer_subset", last_layer_subset,
      "mlm: the last layer and the head run on the masked rows only (MosaicBERT); same loss and gradients");
  }
};

struct MlmBatch {
  at::Tensor inputs;   // (B, L) corrupted ids
  at::Tensor targets;  // (B, L) original ids where selected, -100 elsewhere
};

// ids: (B, L) int64 (CPU). specials: ids never selected ([CLS], [SEP], [PAD]). Random replacements
// are drawn from [0, vocab) excluding specials.
// Row r draws from counter_key(key, first_row + r * row_stride): rank r of W, holding the global
// rows r, r+W, ..., passes (r, W) and masks them exactly as one process masks the whole batch.
MlmBatch mask_tokens(const at::Tensor& ids, double rate, const MlmOptions& o, int64_t mask_id, int64_t vocab,
                     const std::vector<int64_t>& specials, uint64_t key, int64_t first_row = 0,
                     int64_t row_stride = 1);

}  // namespace lmforge::data
