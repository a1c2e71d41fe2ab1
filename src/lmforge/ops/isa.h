// Which fast path the fused operators take: ref (plain ATen), avx2, avx512, avx512bf16 or amx.
//
// Why: DESIGN.md "Operators" -- every fast path is chosen at run time from the CPU's features, with
// fallback to the next lower one when an operator has no kernel for the best ISA, and the choice can
// be pinned (LMFORGE_ISA=ref|avx2|avx512|avx512bf16|amx, or ScopedIsa in tests) so each path gets
// tested. The order ref < avx2 < avx512 < avx512bf16 < amx is meaningful: an op dispatches with
// `isa >= Isa::avx512`. avx512bf16 (VDPBF16PS dot products, fp32 accumulation) is the bf16 route of
// the AMD EPYC machines, which have it but no AMX; every AMX machine has it too, so both get tested.
#pragma once
#include <string>
#include <vector>

namespace lmforge {

enum class Isa { ref = 0, avx2 = 1, avx512 = 2, avx512bf16 = 3, amx = 4 };

const char* isa_name(Isa isa);
// "ref" | "avx2" | "avx512" | "avx512bf16" | "amx"; anything else throws UserError naming `where`.
Isa parse_isa(const std::string& name, const std::string& where = "LMFORGE_ISA");
// Whether this machine can run the ISA (for amx: including the kernel's tile permission).
bool isa_supported(Isa isa);
// The best ISA this machine runs.
Isa detected_isa();
// Every ISA this machine runs, ref first.
std::vector<Isa> supported_isas();
// The ISAs this machine cannot run, lowest first (what `ops test --isa all` skipped).
std::vector<Isa> unsupported_isas();
// The ISA the operators use now: a ScopedIsa override, else LMFORGE_ISA, else detected_isa().
// Pinning an ISA the CPU lacks, or an unknown name, throws UserError.
Isa active_isa();

// Pins the active ISA for its lifetime (process-wide; nestable). Throws UserError when unsupported.
class ScopedIsa {
 public:
  explicit ScopedIsa(Isa isa);
  ~ScopedIsa();
  ScopedIsa(const ScopedIsa&) = delete;
  ScopedIsa& operator=(const ScopedIsa&) = delete;

 private:
  int previous_;
};

}  // namespace lmforge
