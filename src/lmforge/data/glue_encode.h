// GLUE examples as model inputs (Devlin et al. 2019): [CLS] A [SEP] (B [SEP]) with segment ids for
// a wordpiece tokenizer; other tokenizers have no [CLS]/[SEP], so eos marks the start and each end.
// Batches are padded to their longest member only (dynamic padding); key_padding marks real tokens.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <ATen/ATen.h>

#include "lmforge/data/glue.h"
#include "lmforge/data/tokenizer.h"

namespace lmforge {

struct EncodedExample {
  std::vector<int64_t> ids, segments;
  int64_t label = -1;
  double score = 0;
  std::string index;
};

EncodedExample encode_glue_example(const data::Tokenizer& tok, const data::GlueExample& e, bool pair, int64_t max_len);
std::vector<EncodedExample> encode_glue_examples(const data::Tokenizer& tok, const std::vector<data::GlueExample>& ex,
                                                 bool pair, int64_t max_len);

struct GlueTensors {
  at::Tensor ids, segments, key_padding;  // (B, L); key_padding true = real token
  at::Tensor labels;                      // (B) int64
  at::Tensor scores;                      // (B) float
};

// The examples xs[idx[b]] .. xs[idx[e - 1]], padded with `pad` to the longest.
GlueTensors glue_batch(const std::vector<EncodedExample>& xs, const std::vector<size_t>& idx, size_t b, size_t e,
                       int64_t pad);

}  // namespace lmforge
