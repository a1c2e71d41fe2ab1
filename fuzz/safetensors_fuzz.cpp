// Fuzzes the safetensors reader (core/safetensors.h): read_safetensors(bytes, name) on the input
// as a whole file (8-byte header size, JSON header, data), then touches every tensor it returns
// so that a tensor pointing outside the data would be caught by ASan.
// Contract (fuzz_contract.h): returns tensors that lie inside the input, or throws InputError.
#include <string_view>

#include "fuzz_contract.h"
#include "lmforge/core/safetensors.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  lmforge_fuzz_contract([&] {
    std::string_view bytes(reinterpret_cast<const char*>(data), size);
    (void)lmforge::looks_like_safetensors(bytes);
    auto tensors = lmforge::read_safetensors(bytes, "fuzz.safetensors");
    for (const auto& [name, t] : tensors) {
      (void)name;
      // Sums the raw bytes: every byte of every tensor is read once.
      const auto* p = static_cast<const unsigned char*>(t.data_ptr());
      const size_t n = t.numel() * t.element_size();
      unsigned sum = 0;
      for (size_t i = 0; i < n; ++i) sum += p[i];
      (void)sum;
    }
  });
  return 0;
}
