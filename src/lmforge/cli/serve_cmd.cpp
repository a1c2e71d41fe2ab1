// `lmforge serve --checkpoint RUN [--host 127.0.0.1 --port 8000 --model-name NAME --max-batch 8
//  --queue-size 64 --queue-timeout-ms 60000 --context N --precision P --threads N]`:
// an OpenAI-compatible completions server (POST /v1/completions, GET /v1/models) over one trained
// run, for lm-evaluation-harness's local-completions model and any OpenAI client (docs/serve.md).
// Prints "listening on http://HOST:PORT" once it accepts connections (--port 0 picks a free port);
// SIGINT/SIGTERM stop it: no new connections, waiting requests answered 503, then exit 0.
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <thread>

#include "lmforge/cli/subcommand.h"
#include "lmforge/core/precision.h"
#include "lmforge/core/signals.h"
#include "lmforge/core/threads.h"
#include "lmforge/serve/batcher.h"
#include "lmforge/serve/completion_engine.h"
#include "lmforge/serve/http_server.h"
#include "lmforge/train/load_run.h"

namespace lmforge {
namespace {

struct ServeArgs {
  std::string checkpoint, model_name, device, precision;
  HttpOptions http;
  int64_t max_batch = 8, queue_size = 64, queue_timeout_ms = 60000, context = 0, max_prompts = 256;
  int threads = 0;
};

// The run directory's name: the checkpoint folder's parent when given the checkpoint itself.
std::string default_model_name(const std::string& path) {
  std::filesystem::path p = std::filesystem::weakly_canonical(path);
  if (p.filename() == "checkpoint" || p.filename() == "checkpoint.old") p = p.parent_path();
  return p.filename().string();
}

int run_serve(ServeArgs& a) {
  LMF_REQUIRE(a.max_batch >= 1, UserError, "--max-batch must be >= 1");
  LMF_REQUIRE(a.queue_size >= 1, UserError, "--queue-size must be >= 1");
  LMF_REQUIRE(a.queue_timeout_ms >= 1, UserError, "--queue-timeout-ms must be >= 1");
  LMF_REQUIRE(a.http.port >= 0 && a.http.port <= 65535, UserError, "--port must be in 0..65535");
  LMF_REQUIRE(a.http.threads >= 1, UserError, "--http-threads must be >= 1");
  LMF_REQUIRE(a.max_prompts >= 1, UserError, "--max-prompts must be >= 1");
  set_threads(a.threads);
  LoadedRun run = load_run(a.checkpoint, a.device);
  LMF_REQUIRE(run.tokenizer, UserError, "serve needs a text model; '", a.checkpoint, "' was trained on task '",
              run.config.data.task, "'");
  LMF_REQUIRE(run.config.model.kind == "decoder", UserError, "serve needs a decoder (causal LM); '", a.checkpoint,
              "' is an ", run.config.model.kind);
  const int64_t max_len = run.config.model.max_seq_len;
  RequestLimits lim;
  lim.model_name = a.model_name.empty() ? default_model_name(a.checkpoint) : a.model_name;
  lim.context = a.context > 0 ? a.context : max_len;
  lim.vocab_size = run.tokenizer->vocab_size();
  lim.max_prompts = static_cast<size_t>(a.max_prompts);
  // Learned position embeddings end at max_seq_len; rope/alibi extrapolate, at the user's risk.
  LMF_REQUIRE(run.config.model.position != "learned" || lim.context <= max_len, UserError, "--context ",
              lim.context, " exceeds the model's max_seq_len ", max_len, " (learned positions)");

  EngineOptions eo;
  eo.model_name = lim.model_name;
  eo.max_batch = a.max_batch;
  eo.dtype = parse_precision(a.precision.empty() ? run.config.train.precision : a.precision, "--precision");
  CompletionEngine engine(run.model, *run.tokenizer, eo);
  Batcher batcher(static_cast<size_t>(a.queue_size), static_cast<size_t>(a.max_batch),
                  std::chrono::milliseconds(a.queue_timeout_ms),
                  [&engine](const std::vector<const CompletionRequest*>& r) { return engine.run(r); });
  HttpServer server(a.http, lim, *run.tokenizer, batcher);
  const int port = server.bind();
  install_stop_handlers("\nlmforge serve: stop requested, finishing the running batch (signal again to abort)\n");
  std::thread listener([&server] { server.listen(); });
  std::printf("lmforge serve: model '%s' (context %lld tokens), listening on http://%s:%d\n", lim.model_name.c_str(),
              static_cast<long long>(lim.context), a.http.host.c_str(), port);
  std::fflush(stdout);
  while (!stop_requested()) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  std::printf("lmforge serve: stopping\n");
  std::fflush(stdout);
  server.stop();
  listener.join();
  batcher.stop();
  BatcherStats s = batcher.stats();
  std::printf("lmforge serve: %lld requests done in %lld batches (largest %lld); %lld refused (queue full), %lld timed out\n",
              static_cast<long long>(s.completed), static_cast<long long>(s.batches),
              static_cast<long long>(s.max_batch_seen), static_cast<long long>(s.rejected_full),
              static_cast<long long>(s.timed_out));
  return 0;
}

const bool kRegistered = register_subcommand(
    "serve", "OpenAI-compatible completions server over a trained run (docs/serve.md)", [](CLI::App& app) {
      auto a = std::make_shared<ServeArgs>();
      app.add_option("--checkpoint", a->checkpoint, "run directory (or its checkpoint folder)")->required();
      app.add_option("--host", a->http.host, "address to listen on (default 127.0.0.1: this machine only)");
      app.add_option("--port", a->http.port, "TCP port (0 = any free port, printed at start)");
      app.add_option("--model-name", a->model_name, "model id in the API (default: the run directory's name)");
      app.add_option("--max-batch", a->max_batch, "requests (and rows per forward) run together");
      app.add_option("--queue-size", a->queue_size, "requests waiting at most; more are answered 503");
      app.add_option("--queue-timeout-ms", a->queue_timeout_ms, "a request waiting longer is answered 503");
      app.add_option("--context", a->context, "longest prompt + completion in tokens (default: model.max_seq_len)");
      app.add_option("--max-prompts", a->max_prompts, "prompts in one request at most");
      app.add_option("--max-body-bytes", a->http.max_body_bytes, "larger request bodies are answered 413");
      app.add_option("--http-threads", a->http.threads, "connections handled at once");
      app.add_option("--precision", a->precision, "fp32 | bf16 (default: the run's)");
      app.add_option("--device", a->device, "cpu | cuda (default: the run's)");
      app.add_option("--threads", a->threads, "intra-op threads (0 = all cores)");
      return [a] { return run_serve(*a); };
    });

}  // namespace
}  // namespace lmforge
