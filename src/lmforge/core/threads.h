// Thread counts for ATen (and through libgomp, OpenBLAS-openmp), and the CPU's name.
//
// Why: ATen starts with 1 intra-op thread on the project's machines; every command sets the count
// once from `--threads` (0 = all cores the process may run on). The CPU model name keys the cached
// matmul peak (core/peak.h) and is printed in benchmark reports.
#pragma once
#include <string>

namespace lmforge {

// Cores this process may run on: the sched_getaffinity count (honours taskset and cgroup cpusets),
// or std::thread::hardware_concurrency when that fails; at least 1.
int available_cores();

// Sets ATen's intra-op threads to n (n <= 0: available_cores()). The inter-op pool is sized once,
// by the first call only (ATen allows it only before any inter-op work has run); later calls change
// the intra-op count alone. Returns the intra-op count now in force.
int set_threads(int n);

// ATen's intra-op thread count now in force (at::get_num_threads()).
int num_threads();

// The "model name" line of /proc/cpuinfo (e.g. "Intel(R) Xeon(R) Processor"), trimmed;
// falls back to the machine type from uname(2), then to "unknown cpu".
std::string cpu_model_name();

}  // namespace lmforge
