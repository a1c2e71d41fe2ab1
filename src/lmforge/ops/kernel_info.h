// Which kernel each fused operator runs, for `lmforge info` (issue 18: a user on a machine without
// AMX should see that bf16 takes the AVX-512-BF16 path, not guess it from the ISA name).
//
// Each operator registers, next to its dispatch code in op.cpp, a function that names the kernel it
// picks for a dtype under an ISA; keeping it beside the dispatch is what keeps the two in step.
#pragma once
#include <c10/core/ScalarType.h>

#include <string>
#include <utility>
#include <vector>

#include "lmforge/ops/isa.h"

namespace lmforge {

using KernelDescriber = std::string (*)(at::ScalarType dtype, Isa isa);

// Registers `op` (static initialisation; returns true). A second registration of a name throws.
bool register_kernel_info(const char* op, KernelDescriber describe);

// Every registered operator with its describer, sorted by name.
std::vector<std::pair<std::string, KernelDescriber>> kernel_infos();

}  // namespace lmforge
