#include "lmforge/serve/http_server.h"

#include <ctime>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include "lmforge/core/error.h"
#include "lmforge/serve/api_error.h"
#include "lmforge/serve/batcher.h"
#include "lmforge/serve/tokenize_api.h"

namespace lmforge {

struct HttpServer::Impl {
  HttpOptions o;
  RequestLimits limits;
  const data::Tokenizer& tok;
  Batcher& batcher;
  httplib::Server svr;
  int64_t created = static_cast<int64_t>(std::time(nullptr));
  socket_t listen_fd = INVALID_SOCKET;

  HttpReply completions(const std::string& body) {
    try {
      CompletionRequest r = parse_completion_request(body, tok, limits);
      std::optional<std::future<HttpReply>> f = batcher.submit(std::move(r));
      if (!f) throw ApiError(503, "server busy, retry: the request queue is full", "", "server_error");
      return f->get();
    } catch (const ApiError& e) {
      return error_reply(e);
    } catch (const std::exception& e) {
      return {500, error_body(std::string("internal error: ") + e.what(), "server_error")};
    }
  }
};

namespace {
void send(httplib::Response& res, const HttpReply& r) {
  res.status = r.status;
  res.set_content(r.body, "application/json");
}
}  // namespace

std::string HttpServer::models_body(const std::string& name, int64_t created) {
  nlohmann::json m = {{"id", name}, {"object", "model"}, {"created", created}, {"owned_by", "lmforge"}};
  return nlohmann::json{{"object", "list"}, {"data", {m}}}.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

HttpServer::HttpServer(HttpOptions o, RequestLimits limits, const data::Tokenizer& tok, Batcher& batcher)
    : impl_(new Impl{std::move(o), std::move(limits), tok, batcher}) {
  Impl& im = *impl_;
  const int threads = std::max(1, im.o.threads);
  im.svr.new_task_queue = [threads] { return new httplib::ThreadPool(static_cast<size_t>(threads)); };
  im.svr.set_payload_max_length(im.o.max_body_bytes);
  // httplib's default also sets SO_REUSEPORT, with which a second server on a port in use binds
  // silently and the two share the connections; SO_REUSEADDR alone (restart right after a stop)
  // makes a port in use a clear error.
  im.svr.set_socket_options([&im](socket_t sock) {
    int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, reinterpret_cast<const char*>(&yes), sizeof(yes));
    im.listen_fd = sock;  // the listening socket (accepted ones do not come here); see bind()
  });
  im.svr.Post("/v1/completions", [&im](const httplib::Request& req, httplib::Response& res) {
    send(res, im.completions(req.body));
  });
  im.svr.Get("/v1/models", [&im](const httplib::Request&, httplib::Response& res) {
    send(res, {200, models_body(im.limits.model_name, im.created)});
  });
  // The tokenizer, for clients that count tokens with the run's own (lm-evaluation-harness).
  im.svr.Get("/tokenizer_info", [&im](const httplib::Request&, httplib::Response& res) {
    send(res, {200, tokenizer_info_body(im.tok, im.limits)});
  });
  im.svr.Post("/tokenize", [&im](const httplib::Request& req, httplib::Response& res) {
    send(res, tokenize_reply(req.body, im.tok, im.limits));
  });
  im.svr.Post("/detokenize", [&im](const httplib::Request& req, httplib::Response& res) {
    send(res, detokenize_reply(req.body, im.tok, im.limits));
  });
  auto wrong_method = [](const char* allowed) {
    return [allowed](const httplib::Request& req, httplib::Response& res) {
      send(res, {405, error_body("method " + req.method + " is not allowed on " + req.path + " (use " + allowed + ")")});
    };
  };
  im.svr.Get("/v1/completions", wrong_method("POST"));
  im.svr.Post("/v1/models", wrong_method("GET"));
  // Called for every status >= 400; it fills in only the replies that have no body yet (an
  // unknown path, a wrong method, a body too large, a malformed HTTP request).
  im.svr.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    std::string msg;
    if (res.status == 404) msg = "unknown path '" + req.path + "' (served: POST /v1/completions, GET /v1/models, GET /tokenizer_info, POST /tokenize, POST /detokenize)";
    else if (res.status == 413) msg = "the request body is too large";
    else msg = "HTTP error " + std::to_string(res.status);
    res.set_content(error_body(msg), "application/json");
  });
  im.svr.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr ep) {
    std::string what = "unknown exception";
    try {
      std::rethrow_exception(ep);
    } catch (const std::exception& e) {
      what = e.what();
    } catch (...) {
    }
    res.status = 500;
    res.set_content(error_body("internal error: " + what, "server_error"), "application/json");
  });
}

HttpServer::~HttpServer() { stop(); }

int HttpServer::bind() {
  Impl& im = *impl_;
  int port = im.o.port;
  if (port == 0) {
    port = im.svr.bind_to_any_port(im.o.host);
    LMF_REQUIRE(port > 0, UserError, "cannot bind a free port on ", im.o.host);
  } else {
    LMF_REQUIRE(im.svr.bind_to_port(im.o.host, port), UserError, "cannot listen on ", im.o.host, ":", port,
                " (in use, or not an address of this machine)");
  }
  // httplib listens with a backlog of 5: 16 clients connecting at once overflow it, and the
  // kernel then drops connections (a load test lost a few requests to "connection closed"
  // before any handler saw them). listen() again on the same socket raises the backlog.
  if (im.listen_fd != INVALID_SOCKET) ::listen(im.listen_fd, SOMAXCONN);
  return port;
}

void HttpServer::listen() { impl_->svr.listen_after_bind(); }

void HttpServer::stop() {
  if (impl_ && impl_->svr.is_running()) impl_->svr.stop();
}

}  // namespace lmforge
