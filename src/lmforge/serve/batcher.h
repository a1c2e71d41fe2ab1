// The request queue of `lmforge serve`: HTTP threads submit parsed requests, one worker thread
// takes up to max_batch of them at a time and hands them to the model together.
//
// Bounded: submit() refuses (the caller answers 503 "server busy") when queue_size requests are
// already waiting, so a flood of clients costs memory for at most queue_size requests. A request
// that waited longer than queue_timeout when the worker reaches it is answered 503 without being
// run (its client has likely given up). stop() answers every waiting request 503 and joins the
// worker; a batch already running finishes first. Batches form by themselves under load: while
// the worker runs one batch, the next requests wait in the queue.
#pragma once
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "lmforge/serve/api_error.h"
#include "lmforge/serve/completion_request.h"

namespace lmforge {

struct BatcherStats {
  int64_t submitted = 0, rejected_full = 0, timed_out = 0, batches = 0, completed = 0, max_batch_seen = 0;
};

class Batcher {
 public:
  // Runs a batch: one reply per request, in order. May throw: every request of the batch is then
  // answered 500 with the message.
  using BatchFn = std::function<std::vector<HttpReply>(const std::vector<const CompletionRequest*>&)>;

  Batcher(size_t queue_size, size_t max_batch, std::chrono::milliseconds queue_timeout, BatchFn fn);
  ~Batcher();
  Batcher(const Batcher&) = delete;
  Batcher& operator=(const Batcher&) = delete;

  // The reply to come, or nullopt when the queue is full or the batcher is stopping.
  std::optional<std::future<HttpReply>> submit(CompletionRequest r);
  void stop();
  BatcherStats stats() const;

 private:
  struct Job {
    CompletionRequest request;
    std::chrono::steady_clock::time_point enqueued;
    std::promise<HttpReply> reply;
  };
  void work();

  const size_t queue_size_, max_batch_;
  const std::chrono::milliseconds timeout_;
  BatchFn fn_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::unique_ptr<Job>> queue_;
  bool stopping_ = false;
  BatcherStats stats_;
  std::thread worker_;
};

}  // namespace lmforge
