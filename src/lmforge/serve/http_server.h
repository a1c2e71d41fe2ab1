// The HTTP front of `lmforge serve` (cpp-httplib, Debian's libcpp-httplib):
//   POST /v1/completions   parse + validate (400/404 at once), queue (503 when full), wait, reply
//   GET  /v1/models        the one model: {"object": "list", "data": [{"id", "object": "model", ...}]}
//   GET /tokenizer_info, POST /tokenize, POST /detokenize   the run's tokenizer (serve/tokenize_api.h)
//   anything else          404; a wrong method 405; a body over max_body_bytes: 413
// Every error is an OpenAI error object (serve/api_error.h). A handler never lets an exception
// out: an unexpected one is a 500 with its message, and the server goes on.
// httplib.h stays inside http_server.cpp (its class layouts depend on the defines the library was
// built with, which CMake gives that file and the tests only).
#pragma once
#include <cstdint>
#include <memory>
#include <string>

#include "lmforge/serve/completion_request.h"

namespace lmforge {

class Batcher;
namespace data {
class Tokenizer;
}

struct HttpOptions {
  std::string host = "127.0.0.1";
  int port = 8000;                     // 0: any free port (bind() returns it)
  size_t max_body_bytes = 8u << 20;
  int threads = 16;                    // connections handled at once
};

class HttpServer {
 public:
  HttpServer(HttpOptions o, RequestLimits limits, const data::Tokenizer& tok, Batcher& batcher);
  ~HttpServer();
  // Binds the socket; returns the port. Throws UserError when the address cannot be bound.
  int bind();
  // Serves until stop() (blocks; run it on its own thread).
  void listen();
  void stop();
  // The body of GET /v1/models.
  static std::string models_body(const std::string& name, int64_t created);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace lmforge
