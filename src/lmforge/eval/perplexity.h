// Perplexity of a language model on a token stream with the sliding-window protocol
// (eval/sliding_window.h). Reports token-level and word-level perplexity and bits per byte:
//   token_ppl     = exp(nll / tokens)
//   word_ppl      = exp(nll / words)      words: whitespace-split words + one <eos> per line
//   bits_per_byte = nll / (bytes * ln 2)  bytes: UTF-8 bytes of the original text
// word_ppl and bits_per_byte do not depend on the tokenizer, so models with different
// vocabularies compare on them (lm-evaluation-harness's normalisation).
#pragma once
#include <functional>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

namespace lmforge {

class LanguageModel;

struct PerplexityOptions {
  int64_t context = 256;
  int64_t stride = 128;
  int64_t batch = 8;  // windows per forward
  at::ScalarType dtype = at::kFloat;
  int64_t unk_id = -1;  // targets equal to it are counted for unk_fraction
  std::function<void(int64_t done, int64_t total)> progress;
};

struct PerplexityResult {
  int64_t tokens = 0;       // scored targets
  double nll = 0;           // total, nats
  int64_t unk_targets = 0;  // targets that are the unknown token
  int64_t windows = 0;
};

// stream: 1-D int64, [eos] + tokens. Scores stream[1..]. An HMT model (model.hmt) reads the stream
// once, segment by segment with its memory (context and stride do not apply).
PerplexityResult score_stream(LanguageModel& model, const at::Tensor& stream, const PerplexityOptions& o);

// The JSON report: tokens, words, bytes, nll, token_ppl, word_ppl, bits_per_byte, unk_fraction.
nlohmann::json perplexity_report(const PerplexityResult& r, int64_t words, int64_t bytes, int64_t literal_unks);

}  // namespace lmforge
