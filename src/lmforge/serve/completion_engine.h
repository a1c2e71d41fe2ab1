// The model side of `lmforge serve`: runs a batch of parsed completion requests and builds the
// OpenAI text_completion responses.
//
// Two phases per batch, each over every prompt of every request in it:
//  1. scoring (prompts whose log-probabilities are asked for: echo + logprobs): right-padded into
//     (B, L) rows, B <= max_batch, one forward each; the causal model never looks right, so the
//     pads change nothing before them (key_padding also keeps them out of pooled statistics).
//     Position t's log-probability is log_softmax(logits[t-1])[token t]; the first is null.
//  2. generation (max_tokens > 0): prompts of equal length decode together, up to max_batch rows,
//     with the mixers' decoding state (KV cache) as `lmforge generate` does: the prompt in one
//     step, then one token per step. Each row samples with eval/generate.h's sample_token under
//     its own generator (the request's seed), so a greedy completion equals `lmforge generate`.
// Reported log-probabilities are the model's (temperature 1), whatever the sampling temperature.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <ATen/ATen.h>

#include "lmforge/serve/api_error.h"
#include "lmforge/serve/completion_request.h"

namespace lmforge {

class LanguageModel;
namespace data {
class Tokenizer;
}

struct EngineOptions {
  std::string model_name;
  int64_t max_batch = 8;         // rows per forward
  at::ScalarType dtype = at::kFloat;  // autocast dtype (fp32 = none)
};

class CompletionEngine {
 public:
  CompletionEngine(std::shared_ptr<LanguageModel> model, const data::Tokenizer& tok, EngineOptions o);
  // One reply per request, in order. Runs on one thread at a time (the batcher's worker).
  std::vector<HttpReply> run(const std::vector<const CompletionRequest*>& reqs);

 private:
  struct Item;
  void score(std::vector<Item*>& items);
  void generate(std::vector<Item*>& items);
  std::string respond(const CompletionRequest& r, std::vector<Item>& items, size_t first);

  std::shared_ptr<LanguageModel> model_;
  const data::Tokenizer& tok_;
  EngineOptions o_;
  uint64_t next_id_ = 1, next_seed_;
};

}  // namespace lmforge
