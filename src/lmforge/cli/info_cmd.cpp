// `lmforge info`: version, LibTorch, threads, CPU features, BLAS (loud warning on the reference
// BLAS, which makes fp32 matmul ~30x slower), registered components and the measured peak.
#include <iostream>

#include <ATen/Parallel.h>
#include <nlohmann/json.hpp>

#include "lmforge/cli/subcommand.h"
#include "lmforge/core/blas_info.h"
#include "lmforge/core/cpu_features.h"
#include "lmforge/core/peak.h"
#include "lmforge/core/precision.h"
#include "lmforge/ops/kernel_info.h"
#include "lmforge/core/threads.h"
#include "lmforge/core/version.h"
#include "lmforge/nn/components.h"
#include "lmforge/train/optimizer.h"
#include "lmforge/train/schedule.h"
#include "lmforge/train/task.h"
#include "lmforge/ops/isa.h"

namespace lmforge {
namespace {

struct InfoArgs {
  int threads = 0;
  bool json = false, peak = false;
};

std::string joined(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
  return s;
}

int run_info(const InfoArgs& a) {
  set_threads(a.threads);
  BlasInfo b = blas_info();
  nlohmann::json j = {{"version", version()},
                      {"torch", torch_version()},
                      {"threads", at::get_num_threads()},
                      {"cores", available_cores()},
                      {"cpu", cpu_model_name()},
                      {"cpu_features", cpu_features_string()},
                      {"isa", isa_name(active_isa())},
                      {"blas", b.name},
                      {"blas_path", b.path},
                      {"blas_reference", b.is_reference},
                      {"mixers", MixerRegistry::names()},
                      {"norms", NormRegistry::names()},
                      {"ffns", FfnRegistry::names()},
                      {"optimizers", OptimizerRegistry::names()},
                      {"schedules", ScheduleRegistry::names()},
                      {"tasks", TaskRegistry::names()}};
  nlohmann::json kernels = nlohmann::json::object();
  for (const auto& [op, describe] : kernel_infos())
    kernels[op] = {{"fp32", describe(at::kFloat, active_isa())}, {"bf16", describe(at::kBFloat16, active_isa())}};
  j["kernels"] = kernels;
  if (a.peak) {
    Peak p = machine_peak();
    j["peak_fp32_gflops"] = p.fp32_gflops;
    j["peak_bf16_gflops"] = p.bf16_gflops;
    j["training_precision"] = faster_training_precision() == at::kBFloat16 ? "bf16" : "fp32";
  }
  if (a.json) {
    std::cout << j.dump(2) << std::endl;
  } else {
    std::cout << "lmforge " << version() << " (LibTorch " << torch_version() << ")\n"
              << "cpu:      " << cpu_model_name() << "\n"
              << "features: " << cpu_features_string() << "\n"
              << "ops isa:  " << isa_name(active_isa()) << " (best: " << isa_name(detected_isa()) << "; LMFORGE_ISA pins)\n"
              << "threads:  " << at::get_num_threads() << " intra-op of " << available_cores() << " cores\n"
              << "blas:     " << describe(b) << "\n"
              << "mixers:   " << joined(MixerRegistry::names()) << "\n"
              << "norms:    " << joined(NormRegistry::names()) << "\n"
              << "ffns:     " << joined(FfnRegistry::names()) << "\n"
              << "optimizers: " << joined(OptimizerRegistry::names()) << "\n"
              << "schedules:  " << joined(ScheduleRegistry::names()) << "\n"
              << "tasks:      " << joined(TaskRegistry::names()) << "\n";
    std::cout << "kernels (ops isa " << isa_name(active_isa()) << "):\n";
    for (const auto& [op, k] : kernels.items())
      std::cout << "  " << op << std::string(op.size() < 18 ? 18 - op.size() : 1, ' ') << "fp32: " << k["fp32"].get<std::string>()
                << " | bf16: " << k["bf16"].get<std::string>() << "\n";
    if (a.peak)
      std::cout << "peak:     " << j["peak_fp32_gflops"] << " GFLOP/s fp32, " << j["peak_bf16_gflops"]
                << " GFLOP/s bf16; train.precision = \"auto\" picks " << j["training_precision"].get<std::string>() << "\n";
  }
  if (b.is_reference)
    std::cerr << "\nWARNING: the reference BLAS is in use: fp32 matmul runs ~30x slower than with OpenBLAS.\n"
                 "         Run scripts/setup.sh (selects libopenblas0-openmp with update-alternatives).\n";
  return 0;
}

const bool kRegistered = register_subcommand("info", "print versions, threads, CPU features and the BLAS in use", [](CLI::App& app) {
  auto a = std::make_shared<InfoArgs>();
  app.add_option("--threads", a->threads, "intra-op threads (0 = all cores)");
  app.add_flag("--json", a->json, "print JSON");
  app.add_flag("--peak", a->peak, "also measure (or read the cached) matmul peak in GFLOP/s");
  return [a] { return run_info(*a); };
});

}  // namespace
}  // namespace lmforge
