// A request to POST /v1/completions (OpenAI's legacy completions API, the subset lmforge serves),
// parsed, type-checked and tokenized before it is queued, so a bad request is answered at once
// with a 400 and never reaches the model.
//
// Fields: model (string), prompt (string | [string] | [int] | [[int]]), max_tokens (int >= 0,
// default 16), temperature (number >= 0, default 1; 0 = greedy), top_p (0 < p <= 1), logprobs
// (null | int 0..5), echo (bool), stop (null | string | [string], at most 4), seed (null | int),
// n (null | 1). Unknown fields are ignored (as OpenAI does); a known field of the wrong type is a
// 400 naming it. stream=true is refused (not implemented).
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace lmforge {

namespace data {
class Tokenizer;
}

struct CompletionRequest {
  std::string model;
  std::vector<std::vector<int64_t>> prompts;  // one choice per prompt, in order
  int64_t max_tokens = 16;
  double temperature = 1.0;
  double top_p = 1.0;
  std::optional<int64_t> logprobs;  // top alternatives per position; nullopt = no logprobs
  bool echo = false;
  std::vector<std::string> stop;
  std::optional<uint64_t> seed;
};

struct RequestLimits {
  std::string model_name;     // the one model served; another name is a 404
  int64_t context = 0;        // prompt + max_tokens must fit
  int64_t vocab_size = 0;     // token-id prompts must be in [0, vocab_size)
  size_t max_prompts = 256;   // prompts per request
};

// Text -> ids the way lmforge's corpora are tokenized: each line's ids, an end-of-line (eos)
// token where the text has '\n' (the tokenizer itself never sees a newline).
std::vector<int64_t> encode_text(const data::Tokenizer& tok, const std::string& text);

// Parses a request body. Throws ApiError (400/404) with a message naming the field.
CompletionRequest parse_completion_request(const std::string& body, const data::Tokenizer& tok,
                                           const RequestLimits& limits);

}  // namespace lmforge
