// This machine's matmul peak in GFLOP/s: see peak.h.
#include "lmforge/core/peak.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <nlohmann/json.hpp>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <sstream>

#include "lmforge/core/blas_info.h"
#include "lmforge/core/error.h"
#include "lmforge/core/file_io.h"
#include "lmforge/core/threads.h"

namespace lmforge {

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// One timed product c = a @ b of size n, in seconds.
double time_mm(at::Tensor& c, const at::Tensor& a, const at::Tensor& b) {
  auto t0 = Clock::now();
  at::mm_out(c, a, b);
  return seconds_since(t0);
}

// Best GFLOP/s of at::mm for dtype; *size_out gets the n used.
double measure_mm(at::ScalarType dtype, double seconds, int64_t max_size, int64_t* size_out) {
  auto opts = at::TensorOptions().dtype(dtype);
  // Probe a small product to pick a size that keeps one repetition under a third of the budget.
  // (256 underestimates: small products do not reach the kernels' speed.)
  int64_t n = std::min<int64_t>(512, std::max<int64_t>(max_size, 16));
  {
    auto a = at::randn({n, n}, opts), b = at::randn({n, n}, opts), c = at::empty({n, n}, opts);
    time_mm(c, a, b);  // warm-up: thread pools, oneDNN primitive creation
    double t = std::max(std::min(time_mm(c, a, b), time_mm(c, a, b)), 1e-9);
    double rate = 2.0 * n * n * n / t;  // FLOP/s
    int64_t size = std::max<int64_t>(max_size, n);
    while (size > n && 2.0 * size * size * size / rate > seconds / 3) size /= 2;
    n = size;
  }
  auto a = at::randn({n, n}, opts), b = at::randn({n, n}, opts), c = at::empty({n, n}, opts);
  time_mm(c, a, b);  // warm-up at the final size
  double best = 1e30;
  int reps = 0;
  auto t0 = Clock::now();
  while (reps < 3 || (seconds_since(t0) < seconds && reps < 100000)) {
    best = std::min(best, time_mm(c, a, b));
    ++reps;
  }
  if (size_out) *size_out = n;
  return 2.0 * n * n * n / best / 1e9;
}

std::string getenv_str(const char* name) {
  const char* v = std::getenv(name);
  return v ? std::string(v) : std::string();
}

bool parse_number(const std::string& s, double* out) {
  std::string t = s;
  t.erase(0, t.find_first_not_of(" \t"));
  t.erase(t.find_last_not_of(" \t") + 1);
  if (t.empty()) return false;
  char* end = nullptr;
  double v = std::strtod(t.c_str(), &end);
  if (end == nullptr || *end != '\0' || !(v > 0) || v > 1e9) return false;
  *out = v;
  return true;
}

nlohmann::json read_cache(const std::string& path, bool warn = true) {
  std::ifstream in(path);
  if (!in) return nlohmann::json::object();
  try {
    nlohmann::json j = nlohmann::json::parse(in);
    if (j.is_object()) return j;
  } catch (const std::exception&) {
  }
  if (warn) std::cerr << "lmforge: warning: ignoring malformed peak cache " << path << "\n";
  return nlohmann::json::object();
}

// Written atomically (core/file_io.h), so a crash or a concurrent writer never leaves a torn file.
void write_cache(const std::string& path, const nlohmann::json& j) {
  try {
    fs::create_directories(fs::path(path).parent_path());
    write_file_atomic(path, j.dump(2) + "\n");
  } catch (const std::exception& e) {
    std::cerr << "lmforge: warning: cannot write peak cache " << path << ": " << e.what() << "\n";
  }
}

}  // namespace

Peak measure_peak(double seconds_each, int64_t max_size) {
  Peak p;
  p.threads = at::get_num_threads();
  p.cpu = cpu_model_name();
  p.blas = blas_info().name;
  p.source = "measured";
  p.fp32_gflops = measure_mm(at::kFloat, seconds_each, max_size, &p.fp32_size);
  p.bf16_gflops = measure_mm(at::kBFloat16, seconds_each, max_size, &p.bf16_size);
  return p;
}

Peak parse_peak_override(const std::string& value) {
  const std::string expected =
      "LMFORGE_PEAK_GFLOPS='" + value +
      "': expected positive GFLOP/s as \"300\", \"300,1400\" (fp32,bf16) or \"fp32=300,bf16=1400\"";
  Peak p;
  p.source = "env";
  std::vector<std::string> parts;
  for (size_t start = 0;;) {  // split on ',' keeping empty pieces ("300," is malformed)
    size_t comma = value.find(',', start);
    parts.push_back(value.substr(start, comma == std::string::npos ? std::string::npos : comma - start));
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  LMF_REQUIRE(!parts.empty() && parts.size() <= 2, ConfigError, expected);
  bool named = parts[0].find('=') != std::string::npos;
  if (!named) {
    LMF_REQUIRE(parse_number(parts[0], &p.fp32_gflops), ConfigError, expected);
    p.bf16_gflops = p.fp32_gflops;
    if (parts.size() == 2)
      LMF_REQUIRE(parse_number(parts[1], &p.bf16_gflops), ConfigError, expected);
  } else {
    for (const auto& part : parts) {
      size_t eq = part.find('=');
      LMF_REQUIRE(eq != std::string::npos, ConfigError, expected);
      std::string key = part.substr(0, eq);
      key.erase(0, key.find_first_not_of(" \t"));
      key.erase(key.find_last_not_of(" \t") + 1);
      double v = 0;
      LMF_REQUIRE(parse_number(part.substr(eq + 1), &v), ConfigError, expected);
      if (key == "fp32") p.fp32_gflops = v;
      else if (key == "bf16") p.bf16_gflops = v;
      else LMF_REQUIRE(false, ConfigError, expected, " (unknown dtype '", key, "')");
    }
    if (p.fp32_gflops == 0) p.fp32_gflops = p.bf16_gflops;
    if (p.bf16_gflops == 0) p.bf16_gflops = p.fp32_gflops;
  }
  return p;
}

std::string peak_cache_path() {
  std::string base = getenv_str("XDG_CACHE_HOME");
  if (base.empty() || base[0] != '/') {
    std::string home = getenv_str("HOME");
    base = home.empty() ? std::string("/tmp") : home + "/.cache";
  }
  return base + "/lmforge/peak.json";
}

std::string peak_cache_key(int threads) {
  return cpu_model_name() + " | threads=" + std::to_string(threads) + " | " + blas_info().name;
}

Peak machine_peak(bool refresh, double seconds_each) {
  static std::mutex mu;  // one measurement at a time in this process
  std::lock_guard<std::mutex> lock(mu);

  std::string env = getenv_str("LMFORGE_PEAK_GFLOPS");
  int threads = at::get_num_threads();
  if (!env.empty()) {
    Peak p = parse_peak_override(env);
    p.threads = threads;
    p.cpu = cpu_model_name();
    p.blas = blas_info().name;
    return p;
  }

  std::string path = peak_cache_path();
  std::string key = peak_cache_key(threads);
  if (!refresh) {
    nlohmann::json j = read_cache(path);
    Peak p;
    try {
      const auto& e = j.at("entries").at(key);
      p.fp32_gflops = e.at("fp32_gflops").get<double>();
      p.bf16_gflops = e.at("bf16_gflops").get<double>();
    } catch (const std::exception&) {
      p = Peak();  // no entry, or a malformed one: measure again
    }
    if (p.fp32_gflops > 0 && p.bf16_gflops > 0) {
      p.threads = threads;
      p.cpu = cpu_model_name();
      p.blas = blas_info().name;
      p.source = "cache";
      return p;
    }
  }

  Peak p = measure_peak(seconds_each);
  // Re-read just before writing: another process may have added entries meanwhile.
  nlohmann::json j = read_cache(path, /*warn=*/false);
  if (!j.contains("entries") || !j["entries"].is_object()) j["entries"] = nlohmann::json::object();
  j["version"] = 1;
  j["entries"][key] = {{"fp32_gflops", p.fp32_gflops},
                       {"bf16_gflops", p.bf16_gflops},
                       {"fp32_size", p.fp32_size},
                       {"bf16_size", p.bf16_size},
                       {"seconds_each", seconds_each},
                       {"measured_unix", static_cast<int64_t>(std::time(nullptr))}};
  write_cache(path, j);
  return p;
}

double peak_gflops(c10::ScalarType dtype) {
  Peak p = machine_peak();
  if (dtype == c10::ScalarType::BFloat16 || dtype == c10::ScalarType::Half) return p.bf16_gflops;
  return p.fp32_gflops;
}

}  // namespace lmforge
