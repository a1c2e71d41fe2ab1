// What this CPU (and the OS) lets us run: AVX2/FMA, AVX-512 F/BW/VL/BF16, AMX tile/bf16.
//
// Why: the fused operators (ops/*) pick a fast path at run time, so the binary is built for the
// baseline x86-64 and each fast path lives in its own translation unit with its own -m flags.
// A feature counts only when cpuid reports it AND the OS saves its register state (XGETBV): a
// kernel without AVX-512/AMX state support would fault on the first instruction.
// AMX additionally needs the Linux permission request arch_prctl(ARCH_REQ_XCOMP_PERM,
// XFEATURE_XTILEDATA = 18) once per process before the first tile instruction (Linux >= 5.16);
// request_amx_permission() does it once and remembers the answer.
#pragma once
#include <string>

namespace lmforge {

struct CpuFeatures {
  bool avx2 = false, fma = false;
  bool avx512f = false, avx512bw = false, avx512vl = false, avx512dq = false, avx512bf16 = false;
  bool amx_tile = false, amx_bf16 = false;
  // The usable groups (cpuid AND OS state): what the operator dispatch looks at.
  bool has_avx2() const { return avx2 && fma; }
  bool has_avx512() const { return avx512f && avx512bw && avx512vl && avx512dq; }
  bool has_amx() const { return has_avx512() && avx512bf16 && amx_tile && amx_bf16; }
};

// Detected once (cpuid + xgetbv), then cached.
const CpuFeatures& cpu_features();

// Asks Linux for the AMX tile-data permission, once per process; true when granted (or already
// granted). False when the CPU has no AMX or the kernel refuses (too old, seccomp).
bool request_amx_permission();

// One line for `lmforge info`, e.g. "avx2 fma avx512f avx512bw avx512vl avx512bf16 amx-tile amx-bf16".
std::string cpu_features_string();

}  // namespace lmforge
