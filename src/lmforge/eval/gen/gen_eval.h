// Open-ended generation evaluation, the protocol of the degeneration papers (Welleck et al. 2020;
// DITTO, Xu et al. 2022): a test text cut into consecutive windows of prefix_len + continuation_len
// tokens; the model continues each prefix (greedy, sampled or beam search), and the continuations
// of the model and of the human text (the window's own next tokens) are measured side by side:
// seq-rep-n, rep@l, distinct-n, sentence repetition (eval/gen/repetition.h) and MAUVE between the
// two (eval/gen/mauve.h) with features from a chosen lmforge model (the final hidden state at the
// last token of prefix + continuation, as the MAUVE package featurizes with GPT-2).
#pragma once
#include <cstdint>
#include <vector>

#include <nlohmann/json.hpp>

#include "lmforge/data/token_span.h"
#include "lmforge/eval/gen/mauve.h"
#include "lmforge/eval/gen/repetition.h"
#include "lmforge/eval/generate.h"

namespace lmforge {
class LanguageModel;
}

namespace lmforge::eval {

struct GenEvalOptions {
  int64_t prefix_len = 50;
  int64_t continuation_len = 100;
  int64_t max_prompts = 200;  // windows taken from the start of the text
  int64_t batch = 16;         // prompts decoded together
  SamplingOptions sampling;
  int64_t sentence_end = -1;  // token id that ends a sentence (e.g. "."); -1: no sentence metrics
  bool mauve = true;
  MauveOptions mauve_options;
};

struct GenEvalSamples {
  std::vector<TokenSeq> prefixes, human, model;
};

// Cuts `text` into windows and generates the model's continuations (n = min(max_prompts, windows)).
GenEvalSamples generate_samples(LanguageModel& model, const data::TokenSpan& text, const GenEvalOptions& o,
                                const LogitsHook& hook = nullptr);

// The repetition measures of one side (continuations with their prefixes as context).
nlohmann::json repetition_report(const std::vector<TokenSeq>& prefixes, const std::vector<TokenSeq>& continuations,
                                 int64_t sentence_end);

// Final hidden state at the last token of each sequence: (n, D) float64. Equal lengths run batched.
at::Tensor featurize(LanguageModel& model, const std::vector<TokenSeq>& seqs, int64_t batch = 16);

// {"model": {...}, "human": {...}, "mauve": ..., ...}; `featurizer` gives MAUVE's features.
nlohmann::json gen_eval_report(const GenEvalSamples& s, LanguageModel& featurizer, const GenEvalOptions& o);

}  // namespace lmforge::eval
