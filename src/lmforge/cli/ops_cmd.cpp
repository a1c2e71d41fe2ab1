// `lmforge ops test|grad|perf [--op NAME] [--shape SUBSTR] [--isa X|all] [--json]`: runs the
// registered operator cases through the harness (ops/harness.h). Why a subcommand: the same checks
// the test suite runs can be repeated on any machine and for any ISA, and `perf` gives the numbers
// for docs/BENCHMARKS.md. Exit code 1 when a case fails.
#include <iostream>
#include <memory>

#include <nlohmann/json.hpp>

#include "lmforge/cli/subcommand.h"
#include "lmforge/core/error.h"
#include "lmforge/core/threads.h"
#include "lmforge/ops/harness.h"
#include "lmforge/ops/isa.h"

namespace lmforge {
namespace {

struct OpsArgs {
  std::string mode, op, shape, isa;
  bool json = false, no_ref = false;
  int threads = 0;
  double seconds = 0.3;
};

int run_ops(const OpsArgs& a) {
  set_threads(a.threads);
  HarnessMode mode = a.mode == "test" ? HarnessMode::test : a.mode == "grad" ? HarnessMode::grad : HarnessMode::perf;
  std::vector<Isa> isas;
  if (a.isa == "all") {
    isas = supported_isas();
  } else if (!a.isa.empty()) {
    Isa i = parse_isa(a.isa, "--isa");
    LMF_REQUIRE(isa_supported(i), UserError, "--isa ", a.isa, ": this CPU cannot run it (best: ", isa_name(detected_isa()), ")");
    isas = {i};
  } else if (mode == HarnessMode::perf) {
    isas = {active_isa()};
  } else {
    isas = supported_isas();
  }
  std::vector<const OpCase*> cases = select_op_cases(a.op, a.shape);
  if (cases.empty()) {
    std::string ops;
    for (const auto& c : op_cases())
      if (ops.find(c.op) == std::string::npos) ops += (ops.empty() ? "" : ", ") + c.op;
    throw UserError(str("no operator case matches --op '", a.op, "' --shape '", a.shape, "' (operators: ", ops, ")"));
  }
  HarnessOptions o;
  o.perf_seconds = a.seconds;
  o.perf_ref = !a.no_ref;
  nlohmann::json all = nlohmann::json::array();
  if (!a.json) std::cout << result_header(mode) << std::endl;
  int failed = 0, ran = 0;
  for (const OpCase* c : cases) {
    bool wanted = mode == HarnessMode::test ? c->test : mode == HarnessMode::grad ? c->grad : c->perf;
    if (!wanted) continue;
    for (Isa isa : isas) {
      for (const CaseResult& r : run_op_case(*c, mode, isa, o)) {
        ++ran;
        failed += !r.pass;
        if (a.json) {
          all.push_back({{"op", r.op}, {"shape", r.shape}, {"dtype", r.dtype}, {"isa", r.isa}, {"mode", r.mode},
                         {"pass", r.pass}, {"worst_share", r.worst_share}, {"message", r.message}, {"ms", r.ms},
                         {"ref_ms", r.ref_ms}, {"gflops", r.gflops}, {"gbps", r.gbps}, {"ms_fb", r.ms_fb},
                         {"ref_ms_fb", r.ref_ms_fb}, {"gflops_fb", r.gflops_fb}, {"peak_mb", r.peak_mb},
                         {"ref_peak_mb", r.ref_peak_mb}});
        } else {
          std::cout << format_result(r) << std::endl;
        }
      }
    }
  }
  // The ISAs this CPU cannot run were not tested here: say so, so "0 failed" is not read as
  // "every path passed" (e.g. an AMD machine skips amx; run the suite on an AMX machine too).
  std::string skipped;
  if (a.isa == "all" || (a.isa.empty() && mode != HarnessMode::perf))
    for (Isa i : unsupported_isas()) skipped += (skipped.empty() ? "" : ", ") + std::string(isa_name(i));
  if (a.json) {
    std::cout << all.dump(2) << std::endl;
    if (!skipped.empty()) std::cerr << "skipped (this CPU cannot run them): " << skipped << std::endl;
  } else {
    std::cout << ran << " results, " << failed << " failed" << std::endl;
    if (!skipped.empty()) std::cout << "skipped (this CPU cannot run them): " << skipped << std::endl;
  }
  return failed ? 1 : 0;
}

const bool kRegistered = register_subcommand("ops", "test, gradient-check or time the fused operators", [](CLI::App& app) {
  auto a = std::make_shared<OpsArgs>();
  app.add_option("mode", a->mode, "test | grad | perf")->required()->check(CLI::IsMember({"test", "grad", "perf"}));
  app.add_option("--op", a->op, "only this operator");
  app.add_option("--shape", a->shape, "only cases whose shape name contains this");
  app.add_option("--isa", a->isa, "ref | avx2 | avx512 | avx512bf16 | amx | all (test/grad default: all supported; perf: active)");
  app.add_flag("--json", a->json, "print the results as JSON");
  app.add_option("--threads", a->threads, "intra-op threads (0 = all cores)");
  app.add_option("--seconds", a->seconds, "perf: timing budget per measured function");
  app.add_flag("--no-ref", a->no_ref, "perf: time only the fast path, not the ATen reference");
  return [a] { return run_ops(*a); };
});

}  // namespace
}  // namespace lmforge
