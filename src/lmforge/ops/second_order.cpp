// See second_order.h: reference paths during second-order passes, one log line per operator.
#include "lmforge/ops/second_order.h"

#include <algorithm>
#include <atomic>
#include <mutex>

#include <ATen/core/grad_mode.h>

#include "lmforge/core/error.h"
#include "lmforge/core/log.h"

namespace lmforge {
namespace {

std::atomic<int> g_depth{0};
std::mutex g_mutex;
std::vector<std::string> g_fallbacks;  // guarded by g_mutex

}  // namespace

SecondOrderScope::SecondOrderScope() { g_depth.fetch_add(1); }
SecondOrderScope::~SecondOrderScope() { g_depth.fetch_sub(1); }

bool second_order_active() { return g_depth.load(std::memory_order_relaxed) > 0; }

Isa dispatch_isa(const char* op) {
  const Isa isa = active_isa();
  if (isa == Isa::ref || !second_order_active()) return isa;
  bool first = false;
  {
    std::lock_guard<std::mutex> lock(g_mutex);
    if (std::find(g_fallbacks.begin(), g_fallbacks.end(), op) == g_fallbacks.end()) {
      g_fallbacks.emplace_back(op);
      first = true;
    }
  }
  if (first)
    log_warning_once(str("second-order pass: operator '", op, "' uses its reference path (its fast backward is not "
                         "differentiable; the active ISA is ", isa_name(isa), ")"));
  return Isa::ref;
}

std::vector<std::string> second_order_fallbacks() {
  std::lock_guard<std::mutex> lock(g_mutex);
  return g_fallbacks;
}

void require_first_order_backward(const char* what) {
  LMF_REQUIRE(!at::GradMode::is_enabled(), UserError, "cannot differentiate twice through ", what,
              ": its backward is a hand-written kernel that autograd cannot differentiate (a second-order "
              "pass, e.g. train.optimizer.name = \"adahessian\", needs every operator on the path to be twice "
              "differentiable; use another optimizer or another component for this module)");
}

}  // namespace lmforge
