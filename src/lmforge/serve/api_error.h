// Errors of the OpenAI-compatible HTTP API (`lmforge serve`), and the body they are sent as:
//   {"error": {"message": "...", "type": "invalid_request_error", "param": "max_tokens"|null, "code": null}}
// An ApiError is the client's mistake (or the server's state: busy, shutting down): the handler
// answers it with its HTTP status and keeps serving. Never used for bugs.
#pragma once
#include <stdexcept>
#include <string>

#include <nlohmann/json.hpp>

namespace lmforge {

class ApiError : public std::runtime_error {
 public:
  ApiError(int status, const std::string& message, std::string param = "",
           std::string type = "invalid_request_error", std::string code = "")
      : std::runtime_error(message), status(status), param(std::move(param)), type(std::move(type)),
        code(std::move(code)) {}
  int status;
  std::string param, type, code;
};

// What a handler sends back: an HTTP status and a JSON body.
struct HttpReply {
  int status = 200;
  std::string body;
};

// The OpenAI error object; empty param/code become null.
inline std::string error_body(const std::string& message, const std::string& type = "invalid_request_error",
                              const std::string& param = "", const std::string& code = "") {
  nlohmann::json e = {{"message", message}, {"type", type}, {"param", nullptr}, {"code", nullptr}};
  if (!param.empty()) e["param"] = param;
  if (!code.empty()) e["code"] = code;
  // replace: a message may quote bytes of the request that are not UTF-8.
  return nlohmann::json{{"error", e}}.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

inline HttpReply error_reply(const ApiError& e) {
  return {e.status, error_body(e.what(), e.type, e.param, e.code)};
}

}  // namespace lmforge
