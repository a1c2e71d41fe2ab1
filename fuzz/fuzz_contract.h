// The contract every fuzzed reader keeps: any input either parses or throws one of the project's
// error types (core/error.h: UserError and its ConfigError / InputError). Only those are caught
// here; anything else (another exception, a crash, a sanitizer report, a hang, a huge allocation)
// escapes to libFuzzer, which records it as a finding.
#pragma once
#include <cstddef>
#include <cstdint>
#include <string>

#include "lmforge/core/error.h"

// Runs body(); a project error is an accepted outcome for malformed input.
template <class F>
void lmforge_fuzz_contract(F&& body) {
  try {
    body();
  } catch (const lmforge::UserError&) {
  }
}

inline std::string lmforge_fuzz_bytes(const uint8_t* data, size_t size) {
  return std::string(reinterpret_cast<const char*>(data), size);
}
