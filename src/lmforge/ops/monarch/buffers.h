// Memory the Monarch CPU path reuses across calls (ops/monarch/op.cpp): a per-thread workspace for
// the intermediates that are neither saved nor returned, and a pool of page-backed blocks for the
// activations that outlive the call. Why: fresh 16 MB buffers are handed back to the kernel by
// glibc on free and fault in again on the next call (~3 ms of kernel time each; the forward alone
// measured 15 ms sys per call at B 4096, d 1024 without reuse). LMFORGE_MONARCH_NO_WORKSPACE=1 turns
// both off (plain at::empty), for measuring.
#pragma once
#include <ATen/ATen.h>

namespace lmforge {
namespace monarch_detail {

// The op's measuring switches (LMFORGE_MONARCH_NO_WORKSPACE, LMFORGE_MONARCH_GENERIC): true when the
// variable is set to anything but "" or "0".
bool env_switch(const char* name);

// Slot 0 or 1 of this thread's workspace for the dtype of `opt`, viewed as `sizes`. Grows to the
// largest request and is kept for the thread's lifetime. The view is valid until the next call
// with the same slot and dtype on this thread.
at::Tensor scratch(int slot, at::IntArrayRef sizes, const at::TensorOptions& opt);

// Like at::empty, but blocks of 1 MB or more come from (and return to, when the tensor dies) a
// process-wide pool keeping at most 256 MB of free blocks (exact-size reuse).
at::Tensor pooled_empty(at::IntArrayRef sizes, const at::TensorOptions& opt);

}  // namespace monarch_detail
}  // namespace lmforge
