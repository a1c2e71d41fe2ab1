// Multi-query associative recall (MQAR), the synthetic recall task of Zoology (Arora, Eyuboglu et
// al. 2023) and Based, built as in HazyResearch/zoology's multiquery_ar:
//   - keys are drawn without replacement from [1, V/2), values from [V/2, V);
//   - the first 2*K*num_passes positions hold "k1 v1 k2 v2 ..." (repeated num_passes times);
//   - each key is queried once later, at position context + 2*gap, the K gaps drawn without
//     replacement from [0, (L - context)/2) with probability ∝ (gap+1)^(power_a - 1) (a power law:
//     short gaps are common);
//   - targets are -100 except at the query positions, whose target is the key's value (the next
//     token after the key); every other input is 0, replaced by a uniform token when
//     random_non_queries.
// generate_mqar is a pure function of (options, seed, step): row b uses randomness keyed by
// (seed, step, b) only, so any step can be regenerated and rows can be split across ranks: the
// rows of the result are the global rows first_row, first_row + row_stride, ... (rank r of W
// passes (r, W) and gets exactly its share of the rows one process would generate).
#pragma once
#include <ATen/ATen.h>

#include <cstdint>

namespace lmforge::data {

struct MqarOptions {
  int64_t vocab_size = 8192;
  int64_t seq_len = 256;
  int64_t num_kv_pairs = 16;
  double power_a = 0.01;
  int64_t num_passes = 1;
  bool random_non_queries = true;

  template <class V>
  void visit(V& v) {
    v("vocab_size", vocab_size, "tokens; keys from [1, V/2), values from [V/2, V)");
    v("seq_len", seq_len, "sequence length L (even)");
    v("num_kv_pairs", num_kv_pairs, "key-value pairs K per sequence, each queried once");
    v("power_a", power_a, "query gap distribution p(gap) ∝ (gap+1)^(power_a-1); 1 = uniform");
    v("num_passes", num_passes, "times the key-value context is repeated (JRT)");
    v("random_non_queries", random_non_queries, "fill non-query positions with random tokens");
  }
  // Throws ConfigError naming the key when the options cannot make a sequence.
  void validate() const;
};

struct MqarBatch {
  at::Tensor inputs;   // (B, L) int64
  at::Tensor targets;  // (B, L) int64, -100 except at the K query positions
};

MqarBatch generate_mqar(const MqarOptions& opts, int64_t batch, uint64_t seed, uint64_t step, int64_t first_row = 0,
                        int64_t row_stride = 1);

// Fraction of scored positions (targets != -100) whose argmax logit is the target.
// logits: (..., V) with targets of shape (...).
double mqar_accuracy(const at::Tensor& logits, const at::Tensor& targets);

}  // namespace lmforge::data
