// The tokenizer endpoints of `lmforge serve`, in the form vLLM serves them and
// lm-evaluation-harness's "remote" tokenizer backend (lm_eval/utils.py RemoteTokenizer) reads, so
// that the harness counts and splits tokens with the run's own tokenizer:
//   GET  /tokenizer_info  {"eos_token": "\n", "bos_token": null, "pad_token": null, "tokenizer_kind",
//                          "vocab_size", "max_model_len"}
//   POST /tokenize        {"prompt": TEXT[, "add_special_tokens": bool (ignored: none are added)]}
//                         -> {"tokens": [ids], "count": n, "max_model_len": context}
//   POST /detokenize      {"tokens": [ids]} -> {"prompt": TEXT}
// The end-of-sequence token is the end of a line ("\n" encodes to eos_id, see encode_text).
#pragma once
#include <string>

#include "lmforge/serve/api_error.h"
#include "lmforge/serve/completion_request.h"

namespace lmforge {

std::string tokenizer_info_body(const data::Tokenizer& tok, const RequestLimits& lim);
// Replies; a malformed body is a 400 with a message.
HttpReply tokenize_reply(const std::string& body, const data::Tokenizer& tok, const RequestLimits& lim);
HttpReply detokenize_reply(const std::string& body, const data::Tokenizer& tok, const RequestLimits& lim);

}  // namespace lmforge
