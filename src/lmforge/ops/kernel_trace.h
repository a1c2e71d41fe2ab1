// The name of the kernel an operator's last forward / backward ran, kept per (operator, pass).
//
// Why: with run-time dispatch and fallbacks, a test pinned to an ISA can pass on a fallback path
// (equal numbers prove nothing about which kernel ran), so operators whose paths are easy to
// confuse record the kernel they picked and tests read it back. One lock and one map write per
// operator call (not per thread or element): negligible next to the kernel.
#pragma once
#include <string>

namespace lmforge {

// pass: "forward" or "backward"; kernel: a static name such as "avx512bf16_bf16".
void record_kernel(const char* op, const char* pass, const char* kernel);
// The last recorded kernel for (op, pass), or "" if none ran yet in this process.
std::string last_kernel(const std::string& op, const std::string& pass);

}  // namespace lmforge
