// Perplexity of a language model on a token stream with the sliding-window protocol
// (eval/sliding_window.h). Reports token-level and word-level perplexity and bits per byte:
//   token_ppl     = exp(nll / tokens)
//   word_ppl      = exp(nll / words)      words: whitespace-split words + one <eos> per line
//   bits_per_byte = nll / (bytes * ln 2)  bytes: UTF-8 bytes of the original text
// word_ppl and bits_per_byte do not depend on the tokenizer, so models with different
// vocabularies compare on them (lm-evaluation-harness's normalisation).
#pragma once
#include <functional>
#include <string>

#include <ATen/ATen.h>
#include <nlohmann/json.hpp>

namespace lmforge {

class LanguageModel;
struct RunConfig;

struct PerplexityOptions {
  int64_t context = 256;
  int64_t stride = 128;
  int64_t batch = 8;  // windows per forward
  at::ScalarType dtype = at::kFloat;
  int64_t unk_id = -1;  // targets equal to it are counted for unk_fraction
  std::function<void(int64_t done, int64_t total)> progress;
};

// The windows eval-lm uses for a run: context (else eval.context, else train.seq_len), stride (else
// eval.stride, else context / 2), precision (else train.precision); checks context against a
// learned-position model's max_seq_len. Shared by eval-lm and `datastore build`, so a datastore's
// keys are computed exactly as eval-lm --knn will query them.
PerplexityOptions window_options(const RunConfig& c, int64_t context, int64_t stride, int64_t batch,
                                 const std::string& precision);

struct PerplexityResult {
  int64_t tokens = 0;       // scored targets
  double nll = 0;           // total, nats
  int64_t unk_targets = 0;  // targets that are the unknown token
  int64_t windows = 0;
};

// Runs the model (not an HMT one) over the stream's sliding windows (windows of equal length batched, o.batch at a
// time) and hands each batch to fn: hidden (B, L, D) after the final norm, targets (B, L) with -100
// where a target was scored by an earlier window. Every target is in exactly one batch, in order.
// Shared by score_stream and kNN-LM's datastore build and scoring (retrieval/).
using WindowBatchFn = std::function<void(const at::Tensor& hidden, const at::Tensor& targets)>;
void forward_windows(LanguageModel& model, const at::Tensor& stream, const PerplexityOptions& o,
                     const WindowBatchFn& fn);

// stream: 1-D int64, [eos] + tokens. Scores stream[1..]. An HMT model (model.hmt) reads the stream
// once, segment by segment with its memory (context and stride do not apply).
PerplexityResult score_stream(LanguageModel& model, const at::Tensor& stream, const PerplexityOptions& o);

// The JSON report: tokens, words, bytes, nll, token_ppl, word_ppl, bits_per_byte, unk_fraction.
nlohmann::json perplexity_report(const PerplexityResult& r, int64_t words, int64_t bytes, int64_t literal_unks);

}  // namespace lmforge
