#include "lmforge/serve/batcher.h"

#include <algorithm>

namespace lmforge {

Batcher::Batcher(size_t queue_size, size_t max_batch, std::chrono::milliseconds queue_timeout, BatchFn fn)
    : queue_size_(std::max<size_t>(1, queue_size)), max_batch_(std::max<size_t>(1, max_batch)),
      timeout_(queue_timeout), fn_(std::move(fn)) {
  worker_ = std::thread([this] { work(); });
}

Batcher::~Batcher() { stop(); }

std::optional<std::future<HttpReply>> Batcher::submit(CompletionRequest r) {
  auto job = std::make_unique<Job>();
  job->request = std::move(r);
  job->enqueued = std::chrono::steady_clock::now();
  std::future<HttpReply> f = job->reply.get_future();
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (stopping_ || queue_.size() >= queue_size_) {
      ++stats_.rejected_full;
      return std::nullopt;
    }
    ++stats_.submitted;
    queue_.push_back(std::move(job));
  }
  cv_.notify_one();
  return f;
}

void Batcher::stop() {
  std::deque<std::unique_ptr<Job>> left;
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (stopping_ && !worker_.joinable()) return;
    stopping_ = true;
    left.swap(queue_);
  }
  cv_.notify_all();
  for (auto& j : left) j->reply.set_value(error_reply(ApiError(503, "the server is shutting down", "", "server_error")));
  if (worker_.joinable() && worker_.get_id() != std::this_thread::get_id()) worker_.join();
}

BatcherStats Batcher::stats() const {
  std::lock_guard<std::mutex> lk(mu_);
  return stats_;
}

void Batcher::work() {
  for (;;) {
    std::vector<std::unique_ptr<Job>> batch;
    {
      std::unique_lock<std::mutex> lk(mu_);
      cv_.wait(lk, [&] { return stopping_ || !queue_.empty(); });
      if (stopping_) return;
      const auto now = std::chrono::steady_clock::now();
      while (!queue_.empty() && batch.size() < max_batch_) {
        std::unique_ptr<Job> j = std::move(queue_.front());
        queue_.pop_front();
        if (now - j->enqueued > timeout_) {
          ++stats_.timed_out;
          j->reply.set_value(error_reply(ApiError(
              503, "server busy, retry: the request waited more than " + std::to_string(timeout_.count()) +
                       " ms in the queue", "", "server_error")));
          continue;
        }
        batch.push_back(std::move(j));
      }
      if (batch.empty()) continue;
      ++stats_.batches;
      stats_.max_batch_seen = std::max<int64_t>(stats_.max_batch_seen, static_cast<int64_t>(batch.size()));
    }
    std::vector<const CompletionRequest*> reqs;
    for (auto& j : batch) reqs.push_back(&j->request);
    std::vector<HttpReply> replies;
    try {
      replies = fn_(reqs);
      if (replies.size() != batch.size()) throw std::logic_error("the batch function returned a wrong number of replies");
    } catch (const std::exception& e) {
      // Not the client's fault: a 500 for each, and the server goes on.
      replies.assign(batch.size(), HttpReply{500, error_body(std::string("internal error: ") + e.what(), "server_error")});
    }
    for (size_t i = 0; i < batch.size(); ++i) batch[i]->reply.set_value(std::move(replies[i]));
    std::lock_guard<std::mutex> lk(mu_);
    stats_.completed += static_cast<int64_t>(batch.size());
  }
}

}  // namespace lmforge
