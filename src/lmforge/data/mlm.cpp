// MLM masking; see mlm.h.
#include "lmforge/data/mlm.h"

#include <algorithm>

#include "lmforge/core/error.h"
#include "lmforge/data/counter_rng.h"

namespace lmforge::data {

MlmBatch mask_tokens(const at::Tensor& ids_in, double rate, const MlmOptions& o, int64_t mask_id, int64_t vocab,
                     const std::vector<int64_t>& specials, uint64_t key, int64_t first_row, int64_t row_stride) {
  LMF_REQUIRE(rate >= 0 && rate <= 1, ConfigError, "mlm mask rate must be in [0, 1], got ", rate);
  at::Tensor ids = ids_in.to(at::kLong).contiguous();
  at::Tensor inputs = ids.clone(), targets = at::full_like(ids, -100);
  const int64_t B = ids.size(0), L = ids.size(1);
  const int64_t* src = ids.data_ptr<int64_t>();
  int64_t* in = inputs.data_ptr<int64_t>();
  int64_t* tg = targets.data_ptr<int64_t>();
  auto special = [&](int64_t t) { return std::find(specials.begin(), specials.end(), t) != specials.end(); };
  for (int64_t r = 0; r < B; ++r) {
    CounterRng rng(counter_key(key, static_cast<uint64_t>(first_row + r * row_stride)));
    for (int64_t j = 0; j < L; ++j) {
      const int64_t t = src[r * L + j];
      const double u = rng.unit(), v = rng.unit();
      const uint64_t w = rng.next();
      if (special(t) || u >= rate) continue;
      tg[r * L + j] = t;
      if (v < o.mask_token_share) {
        in[r * L + j] = mask_id;
      } else if (v < o.mask_token_share + o.random_token_share) {
        int64_t x = static_cast<int64_t>(uniform_below(w, static_cast<uint64_t>(vocab)));
        for (int k = 0; special(x) && k < 16; ++k) x = (x + 1) % vocab;
        in[r * L + j] = x;
      }
    }
  }
  return {inputs, targets};
}

}  // namespace lmforge::data
