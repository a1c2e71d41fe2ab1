// Open-ended generation evaluation; see gen_eval.h.
#include "lmforge/eval/gen/gen_eval.h"

#include <map>

#include "lmforge/core/error.h"
#include "lmforge/models/language_model.h"

namespace lmforge::eval {

GenEvalSamples generate_samples(LanguageModel& model, const data::TokenSpan& text, const GenEvalOptions& o,
                                const LogitsHook& hook) {
  LMF_REQUIRE(o.prefix_len >= 1 && o.continuation_len >= 1, UserError,
              "generation eval: prefix and continuation lengths must be >= 1");
  const int64_t W = o.prefix_len + o.continuation_len;
  const int64_t n = std::min(o.max_prompts, text.size / W);
  LMF_REQUIRE(n >= 1, UserError, "generation eval: the text has ", text.size, " tokens, fewer than one window of ",
              W, " (prefix ", o.prefix_len, " + continuation ", o.continuation_len, ")");
  GenEvalSamples s;
  for (int64_t i = 0; i < n; ++i) {
    TokenSeq w(W);
    for (int64_t t = 0; t < W; ++t) w[t] = text[i * W + t];
    s.prefixes.emplace_back(w.begin(), w.begin() + o.prefix_len);
    s.human.emplace_back(w.begin() + o.prefix_len, w.end());
  }
  s.model = generate_batch(model, s.prefixes, o.continuation_len, o.sampling, o.batch, hook);
  return s;
}

nlohmann::json repetition_report(const std::vector<TokenSeq>& prefixes, const std::vector<TokenSeq>& continuations,
                                 int64_t sentence_end) {
  nlohmann::json j;
  double tokens = 0;
  for (const auto& c : continuations) tokens += static_cast<double>(c.size());
  j["continuations"] = continuations.size();
  j["mean_length"] = continuations.empty() ? 0.0 : tokens / static_cast<double>(continuations.size());
  for (int n = 1; n <= 4; ++n) {
    j["seq_rep_" + std::to_string(n)] = seq_rep_n(continuations, n);
    j["distinct_" + std::to_string(n)] = distinct_n(continuations, n);
  }
  for (int64_t l : {16, 32, 128}) j["rep_at_" + std::to_string(l)] = rep_at_l(prefixes, continuations, l);
  if (sentence_end >= 0) {
    SentenceRepetition r = sentence_repetition(continuations, sentence_end);
    j["sentences"] = r.sentences;
    j["rep_sen"] = r.repeated;
    j["rep_sen_consecutive"] = r.consecutive;
  }
  return j;
}

at::Tensor featurize(LanguageModel& model, const std::vector<TokenSeq>& seqs, int64_t batch) {
  model.eval();
  torch::NoGradGuard ng;
  const at::Device dev = model.output_weight().device();
  const int64_t max_len = model.config().max_seq_len;
  at::Tensor out = at::empty({static_cast<int64_t>(seqs.size()), model.config().d_model}, at::kDouble);
  std::map<size_t, std::vector<size_t>> by_length;
  for (size_t i = 0; i < seqs.size(); ++i) {
    LMF_REQUIRE(!seqs[i].empty(), UserError, "featurize: sequence ", i, " is empty");
    by_length[seqs[i].size()].push_back(i);
  }
  for (const auto& [len, idx] : by_length) {
    // A sequence longer than the model's positions is featurized from its last max_seq_len tokens.
    const int64_t keep = max_len > 0 ? std::min<int64_t>(static_cast<int64_t>(len), max_len) : static_cast<int64_t>(len);
    for (size_t c = 0; c < idx.size(); c += static_cast<size_t>(batch)) {
      std::vector<int64_t> flat;
      const size_t e = std::min(idx.size(), c + static_cast<size_t>(batch));
      for (size_t j = c; j < e; ++j) flat.insert(flat.end(), seqs[idx[j]].end() - keep, seqs[idx[j]].end());
      ForwardContext ctx;
      at::Tensor h = model.hidden(at::tensor(flat, at::kLong).view({static_cast<int64_t>(e - c), keep}).to(dev), ctx);
      at::Tensor last = h.select(1, keep - 1).to(at::kDouble).cpu();
      for (size_t j = c; j < e; ++j) out[static_cast<int64_t>(idx[j])].copy_(last[static_cast<int64_t>(j - c)]);
    }
  }
  return out;
}

nlohmann::json gen_eval_report(const GenEvalSamples& s, LanguageModel& featurizer, const GenEvalOptions& o) {
  nlohmann::json j;
  j["prefix_len"] = o.prefix_len;
  j["continuation_len"] = o.continuation_len;
  j["prompts"] = s.prefixes.size();
  j["model"] = repetition_report(s.prefixes, s.model, o.sentence_end);
  j["human"] = repetition_report(s.prefixes, s.human, o.sentence_end);
  if (o.mauve && s.prefixes.size() >= 2) {
    auto joined = [&](const std::vector<TokenSeq>& cont) {
      std::vector<TokenSeq> out;
      for (size_t i = 0; i < cont.size(); ++i) {
        TokenSeq t = s.prefixes[i];
        t.insert(t.end(), cont[i].begin(), cont[i].end());
        out.push_back(std::move(t));
      }
      return out;
    };
    MauveResult m = mauve(featurize(featurizer, joined(s.human), o.batch), featurize(featurizer, joined(s.model), o.batch),
                          o.mauve_options);
    j["mauve"] = m.mauve;
    j["mauve_buckets"] = m.buckets;
    j["mauve_pca_dims"] = m.pca_dims;
    j["mauve_scaling"] = o.mauve_options.scaling;
    j["frontier_integral"] = m.frontier_integral;
  }
  return j;
}

}  // namespace lmforge::eval
