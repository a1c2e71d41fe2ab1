// The Monarch CPU path's reused memory (buffers.h says why).
#include "lmforge/ops/monarch/buffers.h"

#include <array>
#include <cstdlib>
#include <mutex>
#include <string>
#include <unordered_map>

#include "lmforge/core/error.h"

namespace lmforge {
namespace monarch_detail {

bool env_switch(const char* name) {
  const char* e = std::getenv(name);
  return e && *e && std::string(e) != "0";
}

namespace {

bool reuse_disabled() {
  static const bool disabled = env_switch("LMFORGE_MONARCH_NO_WORKSPACE");
  return disabled;
}

}  // namespace

// Per-thread scratch for intermediates that are neither saved nor returned (slot 0/1, per dtype).
// Grows to the largest request and is kept (at most two activations' worth per thread that runs
// Monarch forward/backward). LMFORGE_MONARCH_NO_WORKSPACE=1 allocates fresh ones (for measuring).
at::Tensor scratch(int slot, at::IntArrayRef sizes, const at::TensorOptions& opt) {
  if (reuse_disabled()) return at::empty(sizes, opt);
  thread_local std::array<std::array<at::Tensor, 2>, static_cast<size_t>(at::ScalarType::NumOptions)> bufs;
  int64_t numel = 1;
  for (int64_t d : sizes) numel *= d;
  at::Tensor& buf = bufs[static_cast<size_t>(opt.dtype().toScalarType())][static_cast<size_t>(slot)];
  if (!buf.defined() || buf.numel() < numel) {
    buf = at::Tensor();  // free the old one first
    buf = at::empty({numel}, opt);
  }
  return buf.narrow(0, 0, numel).view(sizes);
}

namespace {

// The activations that outlive the call (X1, X2 saved for backward; y and dx returned) come from
// a small pool of page-backed blocks: glibc hands 16 MB requests back to the kernel on free, and
// faulting a fresh 16 MB buffer in costs ~3 ms of kernel time per buffer (4096 x 4 KB pages; the
// forward alone measured 15 ms sys per call without reuse). A tensor's deleter returns its block;
// at most kPoolCap bytes are kept free (exact-size reuse: a model has a handful of Monarch shapes).
class BlockPool {
 public:
  static constexpr size_t kPoolCap = size_t{256} << 20;
  static constexpr size_t kMinBytes = size_t{1} << 20;  // smaller ones: the allocator does fine
  void* take(size_t bytes) {
    {
      std::lock_guard<std::mutex> g(mu_);
      auto it = free_.find(bytes);
      if (it != free_.end()) {
        void* p = it->second;
        free_.erase(it);
        free_bytes_ -= bytes;
        return p;
      }
    }
    void* p = std::aligned_alloc(64, (bytes + 63) / 64 * 64);
    LMF_REQUIRE(p != nullptr, UserError, "monarch_linear: out of memory allocating ", bytes, " bytes");
    return p;
  }
  void give(void* p, size_t bytes) {
    {
      std::lock_guard<std::mutex> g(mu_);
      if (free_bytes_ + bytes <= kPoolCap) {
        free_.emplace(bytes, p);
        free_bytes_ += bytes;
        return;
      }
    }
    std::free(p);
  }

 private:
  std::mutex mu_;
  std::unordered_multimap<size_t, void*> free_;
  size_t free_bytes_ = 0;
};

}  // namespace

at::Tensor pooled_empty(at::IntArrayRef sizes, const at::TensorOptions& opt) {
  int64_t numel = 1;
  for (int64_t d : sizes) numel *= d;
  const size_t bytes = static_cast<size_t>(numel) * opt.dtype().itemsize();
  if (reuse_disabled() || bytes < BlockPool::kMinBytes) return at::empty(sizes, opt);
  static BlockPool* pool = new BlockPool();  // never destroyed: tensors may outlive static teardown
  void* p = pool->take(bytes);
  return at::from_blob(p, sizes, [bytes](void* q) { pool->give(q, bytes); }, opt);
}

}  // namespace monarch_detail
}  // namespace lmforge
