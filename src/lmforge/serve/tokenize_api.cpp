#include "lmforge/serve/tokenize_api.h"

#include <nlohmann/json.hpp>

#include "lmforge/data/tokenizer.h"

namespace lmforge {
namespace {

using nlohmann::json;

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

json parse_object(const std::string& body) {
  json j = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) throw ApiError(400, "the request body is not valid JSON");
  if (!j.is_object()) throw ApiError(400, "the request body must be a JSON object");
  return j;
}

}  // namespace

std::string tokenizer_info_body(const data::Tokenizer& tok, const RequestLimits& lim) {
  return dump({{"eos_token", "\n"}, {"bos_token", nullptr}, {"pad_token", nullptr}, {"tokenizer_kind", tok.kind()},
               {"vocab_size", tok.vocab_size()}, {"max_model_len", lim.context}, {"model", lim.model_name}});
}

HttpReply tokenize_reply(const std::string& body, const data::Tokenizer& tok, const RequestLimits& lim) {
  try {
    json j = parse_object(body);
    auto it = j.find("prompt");
    if (it == j.end() || !it->is_string()) throw ApiError(400, "'prompt' must be a string", "prompt");
    std::vector<int64_t> ids = encode_text(tok, it->get<std::string>());
    return {200, dump({{"tokens", ids}, {"count", ids.size()}, {"max_model_len", lim.context}})};
  } catch (const ApiError& e) {
    return error_reply(e);
  }
}

HttpReply detokenize_reply(const std::string& body, const data::Tokenizer& tok, const RequestLimits& lim) {
  try {
    json j = parse_object(body);
    auto it = j.find("tokens");
    if (it == j.end() || !it->is_array()) throw ApiError(400, "'tokens' must be a list of token ids", "tokens");
    std::vector<int64_t> ids;
    for (const json& t : *it) {
      if (!t.is_number_integer() || t.get<int64_t>() < 0 || t.get<int64_t>() >= lim.vocab_size)
        throw ApiError(400, "'tokens' must hold token ids in [0, " + std::to_string(lim.vocab_size) + ")", "tokens");
      ids.push_back(t.get<int64_t>());
    }
    return {200, dump({{"prompt", tok.decode(ids)}})};
  } catch (const ApiError& e) {
    return error_reply(e);
  }
}

}  // namespace lmforge
