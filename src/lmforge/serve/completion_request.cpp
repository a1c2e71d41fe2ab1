#include "lmforge/serve/completion_request.h"

#include <nlohmann/json.hpp>

#include "lmforge/data/tokenizer.h"
#include "lmforge/serve/api_error.h"

namespace lmforge {
namespace {

using nlohmann::json;

const char* type_name(const json& v) {
  if (v.is_number_integer()) return "an integer";
  if (v.is_number()) return "a number";
  return v.type_name();
}

[[noreturn]] void wrong_type(const std::string& field, const json& v, const std::string& expected) {
  throw ApiError(400, "'" + field + "' must be " + expected + ", got " + type_name(v) + ": " +
                          v.dump(-1, ' ', false, json::error_handler_t::replace).substr(0, 80),
                 field);
}

// The field if present and not null.
const json* field(const json& j, const char* name) {
  auto it = j.find(name);
  return it == j.end() || it->is_null() ? nullptr : &*it;
}

int64_t integer(const json& v, const std::string& name) {
  if (!v.is_number_integer()) wrong_type(name, v, "an integer");
  if (v.is_number_unsigned() && v.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX)) wrong_type(name, v, "a 64-bit integer");
  return v.get<int64_t>();
}

double number(const json& v, const std::string& name) {
  if (!v.is_number()) wrong_type(name, v, "a number");
  return v.get<double>();
}

std::vector<int64_t> token_ids(const json& list, const std::string& name, const RequestLimits& lim) {
  std::vector<int64_t> ids;
  ids.reserve(list.size());
  for (const json& t : list) {
    if (!t.is_number_integer()) wrong_type(name, t, "a token id (integer)");
    const int64_t id = integer(t, name);
    if (id < 0 || id >= lim.vocab_size)
      throw ApiError(400, "token id " + std::to_string(id) + " in '" + name + "' is outside the vocabulary [0, " +
                              std::to_string(lim.vocab_size) + ")", "prompt");
    ids.push_back(id);
  }
  return ids;
}

std::vector<std::vector<int64_t>> prompts(const json& p, const data::Tokenizer& tok, const RequestLimits& lim) {
  const char* expected = "a string, a list of strings, a list of token ids or a list of lists of token ids";
  if (p.is_string()) return {encode_text(tok, p.get<std::string>())};
  if (!p.is_array()) wrong_type("prompt", p, expected);
  if (p.empty()) throw ApiError(400, "'prompt' is an empty list", "prompt");
  // [int, ...] is one tokenized prompt; otherwise a batch of prompts.
  if (p.front().is_number()) return {token_ids(p, "prompt", lim)};
  if (p.size() > lim.max_prompts)
    throw ApiError(400, "too many prompts in one request: " + std::to_string(p.size()) + " (at most " +
                            std::to_string(lim.max_prompts) + ")", "prompt");
  std::vector<std::vector<int64_t>> out;
  for (size_t i = 0; i < p.size(); ++i) {
    const json& e = p[i];
    const std::string name = "prompt[" + std::to_string(i) + "]";
    if (e.is_string()) out.push_back(encode_text(tok, e.get<std::string>()));
    else if (e.is_array()) out.push_back(token_ids(e, name, lim));
    else wrong_type(name, e, "a string or a list of token ids");
  }
  return out;
}

}  // namespace

std::vector<int64_t> encode_text(const data::Tokenizer& tok, const std::string& text) {
  std::vector<int64_t> ids;
  size_t start = 0;
  while (start <= text.size()) {
    const size_t nl = text.find('\n', start);
    const std::string line = text.substr(start, nl == std::string::npos ? std::string::npos : nl - start);
    if (!line.empty()) {
      std::vector<int64_t> l = tok.encode(line);
      ids.insert(ids.end(), l.begin(), l.end());
    }
    if (nl == std::string::npos) break;
    ids.push_back(tok.eos_id());
    start = nl + 1;
  }
  return ids;
}

CompletionRequest parse_completion_request(const std::string& body, const data::Tokenizer& tok,
                                           const RequestLimits& lim) {
  json j = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) {
    // Parse again for the parser's message (where and what); the first parse did not throw.
    std::string why = "not valid JSON";
    try {
      json again = json::parse(body);
      (void)again;
    } catch (const json::parse_error& e) {
      why = e.what();
    }
    throw ApiError(400, "the request body is not valid JSON: " + why);
  }
  if (!j.is_object()) throw ApiError(400, std::string("the request body must be a JSON object, got ") + type_name(j));
  CompletionRequest r;
  if (const json* v = field(j, "model")) {
    if (!v->is_string()) wrong_type("model", *v, "a string");
    r.model = v->get<std::string>();
    if (r.model != lim.model_name)
      throw ApiError(404, "the model '" + r.model + "' does not exist; this server serves '" + lim.model_name + "'",
                     "model", "invalid_request_error", "model_not_found");
  }
  const json* p = field(j, "prompt");
  if (!p) throw ApiError(400, "'prompt' is required", "prompt");
  r.prompts = prompts(*p, tok, lim);
  if (const json* v = field(j, "n")) {
    if (integer(*v, "n") != 1) throw ApiError(400, "only n = 1 is supported (one completion per prompt)", "n");
  }
  if (const json* v = field(j, "best_of")) {
    if (integer(*v, "best_of") != 1) throw ApiError(400, "only best_of = 1 is supported", "best_of");
  }
  if (const json* v = field(j, "stream")) {
    if (!v->is_boolean()) wrong_type("stream", *v, "a boolean");
    if (v->get<bool>()) throw ApiError(400, "streaming is not supported", "stream");
  }
  if (const json* v = field(j, "max_tokens")) {
    r.max_tokens = integer(*v, "max_tokens");
    if (r.max_tokens < 0) throw ApiError(400, "'max_tokens' must be >= 0", "max_tokens");
  }
  if (const json* v = field(j, "temperature")) {
    r.temperature = number(*v, "temperature");
    if (!(r.temperature >= 0) || r.temperature > 1e6) throw ApiError(400, "'temperature' must be >= 0", "temperature");
  }
  if (const json* v = field(j, "top_p")) {
    r.top_p = number(*v, "top_p");
    if (!(r.top_p > 0 && r.top_p <= 1)) throw ApiError(400, "'top_p' must be in (0, 1]", "top_p");
  }
  if (const json* v = field(j, "logprobs")) {
    if (v->is_boolean()) wrong_type("logprobs", *v, "null or an integer 0..5");
    r.logprobs = integer(*v, "logprobs");
    if (*r.logprobs < 0 || *r.logprobs > 5) throw ApiError(400, "'logprobs' must be null or in 0..5", "logprobs");
  }
  if (const json* v = field(j, "echo")) {
    if (!v->is_boolean()) wrong_type("echo", *v, "a boolean");
    r.echo = v->get<bool>();
  }
  if (const json* v = field(j, "seed")) r.seed = static_cast<uint64_t>(integer(*v, "seed"));
  if (const json* v = field(j, "stop")) {
    if (v->is_string()) {
      r.stop.push_back(v->get<std::string>());
    } else if (v->is_array()) {
      if (v->size() > 4) throw ApiError(400, "'stop' has at most 4 sequences", "stop");
      for (const json& s : *v) {
        if (!s.is_string()) wrong_type("stop", s, "a string or a list of strings");
        r.stop.push_back(s.get<std::string>());
      }
    } else {
      wrong_type("stop", *v, "a string or a list of strings");
    }
    for (const std::string& s : r.stop)
      if (s.empty()) throw ApiError(400, "'stop' sequences must not be empty", "stop");
  }
  // The whole sequence (prompt + completion) must fit the model's context, as OpenAI checks.
  for (size_t i = 0; i < r.prompts.size(); ++i) {
    const int64_t n = static_cast<int64_t>(r.prompts[i].size());
    if (n + r.max_tokens > lim.context) {
      const std::string which = r.prompts.size() > 1 ? " (prompt " + std::to_string(i) + ")" : "";
      throw ApiError(400, "this model's maximum context length is " + std::to_string(lim.context) +
                              " tokens, however you requested " + std::to_string(n + r.max_tokens) + " tokens (" +
                              std::to_string(n) + " in your prompt" + which + "; " + std::to_string(r.max_tokens) +
                              " for the completion). Please reduce your prompt or completion length.",
                     "prompt", "invalid_request_error", "context_length_exceeded");
    }
  }
  return r;
}

}  // namespace lmforge
