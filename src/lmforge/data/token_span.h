// A read-only view of a token array whatever its storage: a memory-mapped token file (uint16 or
// uint32) or an in-memory 1-D tensor (int64 or int32). Samplers read windows through it, so they
// work the same on a 100 M-token cache and on a test's tiny tensor. The view does not own the
// memory: the file or tensor must outlive it.
#pragma once
#include <ATen/ATen.h>

#include <cstdint>
#include <cstring>

#include "lmforge/core/error.h"

namespace lmforge::data {

struct TokenSpan {
  const void* data = nullptr;
  int64_t size = 0;
  int elem_bytes = 8;  // 2 (uint16), 4 (uint32 or int32 tensor), 8 (int64)
  bool is_signed32 = false;

  int64_t operator[](int64_t i) const {
    switch (elem_bytes) {
      case 2: return static_cast<const uint16_t*>(data)[i];
      case 4:
        return is_signed32 ? static_cast<const int32_t*>(data)[i]
                           : static_cast<int64_t>(static_cast<const uint32_t*>(data)[i]);
      default: return static_cast<const int64_t*>(data)[i];
    }
  }
  // out[k] = (*this)[begin + k] for k < n; the caller keeps [begin, begin + n) inside [0, size).
  void copy(int64_t begin, int64_t n, int64_t* out) const {
    if (elem_bytes == 8) {
      std::memcpy(out, static_cast<const int64_t*>(data) + begin, n * sizeof(int64_t));
      return;
    }
    for (int64_t k = 0; k < n; ++k) out[k] = (*this)[begin + k];
  }
};

// A view of a contiguous 1-D int64 or int32 CPU tensor.
inline TokenSpan span_of(const at::Tensor& t) {
  LMF_REQUIRE(t.dim() == 1 && t.is_contiguous() && t.device().is_cpu() &&
                  (t.scalar_type() == at::kLong || t.scalar_type() == at::kInt),
              InputError, "token span: expected a contiguous 1-D int64/int32 CPU tensor, got ",
              t.toString(), " of shape ", t.sizes());
  TokenSpan s;
  s.data = t.data_ptr();
  s.size = t.numel();
  s.elem_bytes = t.scalar_type() == at::kLong ? 8 : 4;
  s.is_signed32 = t.scalar_type() == at::kInt;
  return s;
}

}  // namespace lmforge::data
