// MQAR generation and accuracy; see mqar.h.
#include "lmforge/data/mqar.h"

#include <cmath>
#include <unordered_map>
#include <vector>

#include "lmforge/core/error.h"
#include "lmforge/data/counter_rng.h"
#include "lmforge/data/lm_sampler.h"

namespace lmforge::data {

namespace {

// k distinct integers from [lo, hi), in draw order (sparse partial Fisher-Yates).
std::vector<int64_t> distinct(CounterRng& rng, int64_t lo, int64_t hi, int64_t k) {
  std::unordered_map<int64_t, int64_t> swapped;
  auto at = [&](int64_t i) {
    auto it = swapped.find(i);
    return it == swapped.end() ? i : it->second;
  };
  const int64_t n = hi - lo;
  std::vector<int64_t> out(k);
  for (int64_t i = 0; i < k; ++i) {
    int64_t j = i + static_cast<int64_t>(rng.below(static_cast<uint64_t>(n - i)));
    int64_t vi = at(i), vj = at(j);
    swapped[j] = vi;
    swapped[i] = vj;
    out[i] = lo + vj;
  }
  return out;
}

}  // namespace

void MqarOptions::validate() const {
  LMF_REQUIRE(num_kv_pairs >= 1, ConfigError, "mqar key 'num_kv_pairs': expected >= 1, got ",
              num_kv_pairs);
  LMF_REQUIRE(num_passes >= 1, ConfigError, "mqar key 'num_passes': expected >= 1, got ",
              num_passes);
  LMF_REQUIRE(seq_len >= 2 && seq_len % 2 == 0, ConfigError,
              "mqar key 'seq_len': expected an even number >= 2, got ", seq_len);
  LMF_REQUIRE(vocab_size >= 2 * num_kv_pairs + 2, ConfigError,
              "mqar key 'vocab_size': expected >= 2 * num_kv_pairs + 2 = ", 2 * num_kv_pairs + 2,
              " (keys come from [1, V/2), values from [V/2, V)), got ", vocab_size);
  const int64_t need = 2 * num_kv_pairs * num_passes + 2 * num_kv_pairs;
  LMF_REQUIRE(seq_len >= need, ConfigError, "mqar key 'seq_len': ", seq_len,
              " cannot hold the context (2 * num_kv_pairs * num_passes = ",
              2 * num_kv_pairs * num_passes, ") and ", num_kv_pairs,
              " queries two positions apart; expected seq_len >= ", need, " (or lower num_kv_pairs)");
  LMF_REQUIRE(power_a > 0 && std::isfinite(power_a), ConfigError,
              "mqar key 'power_a': expected a positive number, got ", power_a);
}

MqarBatch generate_mqar(const MqarOptions& o, int64_t batch, uint64_t seed, uint64_t step, int64_t first_row,
                        int64_t row_stride) {
  o.validate();
  LMF_REQUIRE(batch >= 1, ConfigError, "mqar batch size: expected >= 1, got ", batch);
  const int64_t L = o.seq_len, V = o.vocab_size, K = o.num_kv_pairs;
  const int64_t context = 2 * K * o.num_passes;
  const int64_t space = (L - context) / 2;
  std::vector<double> weight(space);
  for (int64_t i = 0; i < space; ++i) weight[i] = o.power_a * std::pow(i + 1.0, o.power_a - 1.0);

  at::Tensor inputs = at::zeros({batch, L}, at::kLong);
  at::Tensor targets = at::full({batch, L}, kIgnoreIndex, at::kLong);
  int64_t* in = inputs.data_ptr<int64_t>();
  int64_t* tg = targets.data_ptr<int64_t>();
  std::vector<double> w;
  for (int64_t b = 0; b < batch; ++b) {
    CounterRng rng(counter_key(seed, step, static_cast<uint64_t>(first_row + b * row_stride), 0x4d515152ULL));
    int64_t* x = in + b * L;
    int64_t* y = tg + b * L;
    std::vector<int64_t> keys = distinct(rng, 1, V / 2, K);
    std::vector<int64_t> values = distinct(rng, V / 2, V, K);
    for (int64_t pass = 0; pass < o.num_passes; ++pass)
      for (int64_t k = 0; k < K; ++k) {
        x[pass * 2 * K + 2 * k] = keys[k];
        x[pass * 2 * K + 2 * k + 1] = values[k];
      }
    // Query gaps: weighted sampling without replacement, one draw per key.
    w = weight;
    for (int64_t k = 0; k < K; ++k) {
      double total = 0;
      for (double v : w) total += v;
      double u = rng.unit() * total;
      int64_t gap = -1;
      for (int64_t i = 0; i < space; ++i) {
        if (w[i] <= 0) continue;
        gap = i;
        if (u < w[i]) break;
        u -= w[i];
      }
      w[gap] = 0;
      const int64_t pos = context + 2 * gap;
      x[pos] = keys[k];
      y[pos] = values[k];
    }
    if (o.random_non_queries)
      for (int64_t t = context; t < L; ++t)
        if (x[t] == 0) x[t] = static_cast<int64_t>(rng.below(static_cast<uint64_t>(V)));
  }
  return {inputs, targets};
}

double mqar_accuracy(const at::Tensor& logits, const at::Tensor& targets) {
  LMF_REQUIRE(logits.dim() == targets.dim() + 1 &&
                  logits.sizes().slice(0, targets.dim()) == targets.sizes(),
              InputError, "mqar_accuracy: logits ", logits.sizes(), " do not match targets ",
              targets.sizes(), " (expected logits of shape targets.shape + [V])");
  at::Tensor mask = targets != kIgnoreIndex;
  const int64_t scored = mask.sum().item<int64_t>();
  LMF_REQUIRE(scored > 0, InputError, "mqar_accuracy: no scored position (all targets are -100)");
  at::Tensor hit = (logits.argmax(-1) == targets).logical_and(mask);
  return static_cast<double>(hit.sum().item<int64_t>()) / static_cast<double>(scored);
}

}  // namespace lmforge::data
