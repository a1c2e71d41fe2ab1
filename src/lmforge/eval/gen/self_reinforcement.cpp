// DITTO's self-reinforcement curves; see self_reinforcement.h.
#include "lmforge/eval/gen/self_reinforcement.h"

#include <map>

#include "lmforge/core/error.h"
#include "lmforge/models/language_model.h"

namespace lmforge::eval {

SelfReinforcement self_reinforcement(LanguageModel& model, const std::vector<TokenSeq>& sentences, int64_t repeats,
                                     int64_t start, int64_t batch) {
  LMF_REQUIRE(repeats >= 2, UserError, "self-reinforcement: repeats must be >= 2, got ", repeats);
  LMF_REQUIRE(!sentences.empty(), UserError, "self-reinforcement: no sentences to repeat");
  model.eval();
  torch::NoGradGuard ng;
  const at::Device dev = model.output_weight().device();
  SelfReinforcement r;
  r.sentences = static_cast<int64_t>(sentences.size());
  r.repeats = repeats;
  std::vector<double> tp(repeats, 0), ip(repeats, 0), wr(repeats, 0);
  int64_t tokens = 0;  // per repetition, over all sentences
  std::map<size_t, std::vector<size_t>> by_length;
  for (size_t i = 0; i < sentences.size(); ++i) by_length[sentences[i].size()].push_back(i);
  for (const auto& [n_sz, idx] : by_length) {
    const int64_t n = static_cast<int64_t>(n_sz), T = 1 + repeats * n;
    LMF_REQUIRE(model.config().max_seq_len <= 0 || T <= model.config().max_seq_len, UserError,
                "self-reinforcement: a sentence of ", n, " tokens repeated ", repeats, " times needs ", T,
                " positions; the model has ", model.config().max_seq_len);
    for (size_t c = 0; c < idx.size(); c += static_cast<size_t>(batch)) {
      const size_t e = std::min(idx.size(), c + static_cast<size_t>(batch));
      const int64_t B = static_cast<int64_t>(e - c);
      std::vector<int64_t> flat;
      for (size_t j = c; j < e; ++j) {
        flat.push_back(start);
        for (int64_t k = 0; k < repeats; ++k) flat.insert(flat.end(), sentences[idx[j]].begin(), sentences[idx[j]].end());
      }
      at::Tensor seq = at::tensor(flat, at::kLong).view({B, T});
      ForwardContext ctx;
      at::Tensor lp = model.logits(model.hidden(seq.to(dev), ctx)).to(at::kDouble).log_softmax(-1).cpu();
      at::Tensor tgt = seq.narrow(1, 1, T - 1);
      at::Tensor prob = lp.narrow(1, 0, T - 1).gather(2, tgt.unsqueeze(2)).squeeze(2).exp().view({B, repeats, n});
      at::Tensor win = lp.narrow(1, 0, T - 1).argmax(2).eq(tgt).to(at::kDouble).view({B, repeats, n});
      at::Tensor higher = prob.gt(prob.narrow(1, 0, 1)).to(at::kDouble);
      for (int64_t k = 0; k < repeats; ++k) {
        tp[k] += prob.select(1, k).sum().item<double>();
        ip[k] += higher.select(1, k).sum().item<double>();
        wr[k] += win.select(1, k).sum().item<double>();
      }
      tokens += B * n;
    }
  }
  for (int64_t k = 0; k < repeats; ++k) {
    r.tp.push_back(tp[k] / static_cast<double>(tokens));
    r.ip.push_back(ip[k] / static_cast<double>(tokens));
    r.wr.push_back(wr[k] / static_cast<double>(tokens));
  }
  return r;
}

std::vector<TokenSeq> pick_sentences(const data::TokenSpan& text, int64_t sentence_end, int64_t eos, int64_t count,
                                     int64_t min_len, int64_t max_len) {
  std::vector<TokenSeq> out;
  TokenSeq cur;
  for (int64_t i = 0; i < text.size && static_cast<int64_t>(out.size()) < count; ++i) {
    const int64_t t = text[i];
    if (t == eos) {
      cur.clear();
      continue;
    }
    cur.push_back(t);
    if (t != sentence_end) continue;
    const int64_t n = static_cast<int64_t>(cur.size());
    if (n >= min_len && n <= max_len) out.push_back(cur);
    cur.clear();
  }
  return out;
}

}  // namespace lmforge::eval
