// Second-order passes: differentiating a backward (Hessian-vector products, AdaHessian).
//
// Why: a fused operator's fast path is a custom autograd Function whose backward runs raw kernels
// on data pointers. Autograd cannot differentiate through that backward, and when asked to
// (create_graph = true) it would not fail: the gradient would come back without a graph, and the
// Hessian-vector product would silently miss every term through that operator. So:
//   - while a SecondOrderScope is alive, every fused operator dispatches to its reference path
//     (plain ATen, twice differentiable) and the first fallback of each operator is logged once;
//   - every fast backward calls require_first_order_backward(), which throws a UserError naming
//     the operator when autograd is recording through it (create_graph), so an operator without a
//     reference path (PowerNorm's approximate backward) is a clear error, never a wrong answer.
#pragma once
#include <string>
#include <vector>

#include "lmforge/ops/isa.h"

namespace lmforge {

// Marks a second-order pass (forward and both backwards) for its lifetime. Process-wide, nestable.
class SecondOrderScope {
 public:
  SecondOrderScope();
  ~SecondOrderScope();
  SecondOrderScope(const SecondOrderScope&) = delete;
  SecondOrderScope& operator=(const SecondOrderScope&) = delete;
};

bool second_order_active();

// The ISA an operator dispatches on: active_isa(), or Isa::ref inside a SecondOrderScope (then the
// first time per operator: "warning: second-order pass: operator '<op>' uses its reference path").
Isa dispatch_isa(const char* op);

// Operators that fell back so far in this process (for tests and the log), in first-use order.
std::vector<std::string> second_order_fallbacks();

// Call first in a fast path's backward: throws UserError when that backward is being recorded
// for a second differentiation (autograd runs backward with grad mode on only for create_graph).
// `what` names the operator and, where it helps, the module that uses it.
void require_first_order_backward(const char* what);

}  // namespace lmforge
