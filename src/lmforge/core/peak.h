// This machine's matmul peak in GFLOP/s (fp32 and bf16), the denominator of MFU.
//
// Why: MFU = achieved FLOP/s / peak FLOP/s needs a peak that this machine, with this BLAS and this
// thread count, really reaches: fp32 at::mm runs on OpenBLAS (~300 GFLOP/s on 2 cores here), bf16
// at::mm on oneDNN with AMX (~1.4 TFLOP/s); a datasheet number would be meaningless.
// Measured with a short timed loop of at::mm (~0.5 s per dtype), then cached in
// ${XDG_CACHE_HOME:-~/.cache}/lmforge/peak.json under the key "cpu model | threads=N | BLAS name",
// so later runs reuse it. LMFORGE_PEAK_GFLOPS overrides everything:
//   "300"                 both dtypes
//   "300,1400"            fp32, bf16
//   "fp32=300,bf16=1400"  by name (a dtype left out takes the other's value)
#pragma once
#include <c10/core/ScalarType.h>

#include <cstdint>
#include <string>

namespace lmforge {

struct Peak {
  double fp32_gflops = 0;
  double bf16_gflops = 0;
  int threads = 0;         // at::get_num_threads() when measured
  std::string cpu;         // cpu_model_name()
  std::string blas;        // blas_info().name
  std::string source;      // "measured", "cache" or "env"
  int64_t fp32_size = 0;   // n of the n x n x n matmul timed (0 when not measured here)
  int64_t bf16_size = 0;
};

// Times at::mm (fp32, then bf16) now, with the current at::get_num_threads(): square matrices of
// size max_size, or smaller when one product would take more than a third of seconds_each (on a
// slow BLAS); warm-up, then repeats for about seconds_each and keeps the fastest repetition.
Peak measure_peak(double seconds_each = 0.5, int64_t max_size = 2048);

// The peak for the current thread count: LMFORGE_PEAK_GFLOPS if set (a malformed value throws
// ConfigError), else the cache, else measure_peak() stored in the cache. refresh=true measures
// even when a cached entry exists. Each call reads the cache file (small, cheap).
Peak machine_peak(bool refresh = false, double seconds_each = 0.5);

// machine_peak()'s GFLOP/s for a compute dtype: bf16 and fp16 use the bf16 peak, others fp32.
double peak_gflops(c10::ScalarType dtype);

// Where the cache lives: ${XDG_CACHE_HOME}/lmforge/peak.json, else ~/.cache/lmforge/peak.json.
std::string peak_cache_path();

// The cache key for the current process: "cpu model | threads=N | BLAS name".
std::string peak_cache_key(int threads);

// Parses an LMFORGE_PEAK_GFLOPS value (exposed for tests); throws ConfigError when malformed.
Peak parse_peak_override(const std::string& value);

}  // namespace lmforge
