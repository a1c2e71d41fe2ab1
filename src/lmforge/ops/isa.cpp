// Run-time ISA selection for the operators (see isa.h).
#include "lmforge/ops/isa.h"

#include <atomic>
#include <cstdlib>

#include "lmforge/core/cpu_features.h"
#include "lmforge/core/error.h"

namespace lmforge {
namespace {
std::atomic<int> g_override{-1};
// Every ISA, in order (ref first); the one list the functions below walk.
constexpr Isa kAll[] = {Isa::ref, Isa::avx2, Isa::avx512, Isa::avx512bf16, Isa::amx};
}  // namespace

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::ref: return "ref";
    case Isa::avx2: return "avx2";
    case Isa::avx512: return "avx512";
    case Isa::avx512bf16: return "avx512bf16";
    case Isa::amx: return "amx";
  }
  return "?";
}

Isa parse_isa(const std::string& name, const std::string& where) {
  for (Isa i : kAll)
    if (name == isa_name(i)) return i;
  throw UserError(str(where, ": unknown instruction set '", name, "' (expected ref, avx2, avx512, avx512bf16 or amx)"));
}

bool isa_supported(Isa isa) {
  const CpuFeatures& f = cpu_features();
  switch (isa) {
    case Isa::ref: return true;
    case Isa::avx2: return f.has_avx2();
    case Isa::avx512: return f.has_avx512();
    case Isa::avx512bf16: return f.has_avx512() && f.avx512bf16;
    case Isa::amx: return f.has_amx() && request_amx_permission();
  }
  return false;
}

Isa detected_isa() {
  static const Isa best = supported_isas().back();
  return best;
}

std::vector<Isa> supported_isas() {
  std::vector<Isa> v;
  for (Isa i : kAll)
    if (isa_supported(i)) v.push_back(i);
  return v;
}

std::vector<Isa> unsupported_isas() {
  std::vector<Isa> v;
  for (Isa i : kAll)
    if (!isa_supported(i)) v.push_back(i);
  return v;
}

static void require_supported(Isa isa, const std::string& where) {
  LMF_REQUIRE(isa_supported(isa), UserError, where, "=", isa_name(isa), ": this CPU cannot run it (features: ",
              cpu_features_string(), "; best available: ", isa_name(detected_isa()), ")");
}

Isa active_isa() {
  int o = g_override.load(std::memory_order_relaxed);
  if (o >= 0) return static_cast<Isa>(o);
  const char* env = std::getenv("LMFORGE_ISA");
  if (env && *env) {
    Isa isa = parse_isa(env, "LMFORGE_ISA");
    require_supported(isa, "LMFORGE_ISA");
    return isa;
  }
  return detected_isa();
}

ScopedIsa::ScopedIsa(Isa isa) {
  require_supported(isa, "ScopedIsa");
  previous_ = g_override.exchange(static_cast<int>(isa));
}

ScopedIsa::~ScopedIsa() { g_override.store(previous_); }

}  // namespace lmforge
