// GLUE example encoding and dynamic-padding batches; see glue_encode.h.
#include "lmforge/data/glue_encode.h"

#include <algorithm>

#include "lmforge/data/wordpiece.h"

namespace lmforge {

EncodedExample encode_glue_example(const data::Tokenizer& tok, const data::GlueExample& e, bool pair, int64_t max_len) {
  EncodedExample x;
  x.label = e.label, x.score = e.score, x.index = e.index;
  if (const auto* wp = dynamic_cast<const data::WordPieceTokenizer*>(&tok)) {
    data::EncodedPair p = wp->encode_pair(e.a, pair ? &e.b : nullptr, max_len);
    x.ids = std::move(p.ids), x.segments = std::move(p.segments);
    return x;
  }
  std::vector<int64_t> a = tok.encode(e.a), b;
  if (pair) b = tok.encode(e.b);
  const size_t budget = static_cast<size_t>(std::max<int64_t>(max_len - (pair ? 3 : 2), 0));
  while (a.size() + b.size() > budget) (a.size() > b.size() ? a : b).pop_back();
  x.ids.push_back(tok.eos_id());
  x.ids.insert(x.ids.end(), a.begin(), a.end());
  x.ids.push_back(tok.eos_id());
  x.segments.assign(x.ids.size(), 0);
  if (pair) {
    x.ids.insert(x.ids.end(), b.begin(), b.end());
    x.ids.push_back(tok.eos_id());
    x.segments.resize(x.ids.size(), 1);
  }
  return x;
}

std::vector<EncodedExample> encode_glue_examples(const data::Tokenizer& tok, const std::vector<data::GlueExample>& ex,
                                                 bool pair, int64_t max_len) {
  std::vector<EncodedExample> out;
  out.reserve(ex.size());
  for (const auto& e : ex) out.push_back(encode_glue_example(tok, e, pair, max_len));
  return out;
}

GlueTensors glue_batch(const std::vector<EncodedExample>& xs, const std::vector<size_t>& idx, size_t b, size_t e,
                       int64_t pad) {
  int64_t L = 1;
  for (size_t i = b; i < e; ++i) L = std::max<int64_t>(L, static_cast<int64_t>(xs[idx[i]].ids.size()));
  const int64_t B = static_cast<int64_t>(e - b);
  GlueTensors t;
  t.ids = at::full({B, L}, pad, at::kLong);
  t.segments = at::zeros({B, L}, at::kLong);
  t.key_padding = at::zeros({B, L}, at::kBool);
  t.labels = at::empty({B}, at::kLong);
  t.scores = at::empty({B}, at::kFloat);
  auto ids = t.ids.accessor<int64_t, 2>();
  auto seg = t.segments.accessor<int64_t, 2>();
  auto kp = t.key_padding.accessor<bool, 2>();
  auto lab = t.labels.accessor<int64_t, 1>();
  auto sc = t.scores.accessor<float, 1>();
  for (int64_t r = 0; r < B; ++r) {
    const EncodedExample& x = xs[idx[b + static_cast<size_t>(r)]];
    for (size_t j = 0; j < x.ids.size(); ++j) {
      ids[r][static_cast<int64_t>(j)] = x.ids[j];
      seg[r][static_cast<int64_t>(j)] = x.segments[j];
      kp[r][static_cast<int64_t>(j)] = true;
    }
    lab[r] = x.label;
    sc[r] = static_cast<float>(x.score);
  }
  return t;
}

}  // namespace lmforge
