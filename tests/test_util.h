// Helpers shared by the tests: temporary folders, running the lmforge binary, shared data paths.
#pragma once
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "lmforge/bench/suite.h"

namespace lmforge::test {

// A fresh folder under the system temp dir, removed when the object dies.
class TempDir {
 public:
  explicit TempDir(const std::string& tag = "t") {
    std::string tmpl = (std::filesystem::temp_directory_path() / ("lmforge-" + tag + "-XXXXXX")).string();
    path_ = ::mkdtemp(tmpl.data());
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string operator/(const std::string& name) const { return (std::filesystem::path(path_) / name).string(); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

inline void write_text(const std::string& path, const std::string& text) {
  std::ofstream f(path, std::ios::binary);
  f << text;
}

inline std::string read_text(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

struct CommandResult {
  int code = -1;
  std::string output;  // stdout and stderr together
};

// Runs a shell command line and captures its stdout and stderr together and its exit code.
inline CommandResult run_command(const std::string& cmd) {
  CommandResult r;
  FILE* p = ::popen((cmd + " 2>&1").c_str(), "r");
  if (!p) return r;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), p)) > 0) r.output.append(buf, n);
  int status = ::pclose(p);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

// Runs `lmforge ARGS` (ARGS is shell-quoted by the caller) and captures its output and exit code.
inline CommandResult run_lmforge(const std::string& args) { return run_command(std::string(LMFORGE_BINARY) + " " + args); }

// The training losses a run logged (log.jsonl records of type "train"), in order.
inline std::vector<double> train_losses(const std::string& run_dir) {
  std::vector<double> v;
  std::ifstream f(run_dir + "/log.jsonl");
  std::string line;
  while (std::getline(f, line)) {
    auto j = nlohmann::json::parse(line);
    if (j["type"] == "train") v.push_back(j["loss"].get<double>());
  }
  return v;
}

// The message of the E that f() throws, or "" when it throws none.
template <class E, class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  }
  return "";
}

// The python of the peers environment (scripts/setup-peers.sh: $LMFORGE_PEERS, default
// ~/.cache/lmforge/peers), or "" (the test should GTEST_SKIP) when it is not installed.
inline std::string peers_python() { return peers_env_python(); }

// A file of ../shared/data, or "" (the test should GTEST_SKIP) when absent.
inline std::string shared_data(const std::string& rel) {
  std::filesystem::path p = std::filesystem::path(LMFORGE_SHARED_DATA_DIR) / rel;
  return std::filesystem::exists(p) ? p.string() : "";
}

// Causality check: changing inputs at positions >= t must leave the outputs before t alone and
// change the outputs from t on. "Alone" is a tolerance, not bit-equality: kernels may sum in a
// different order when the sequence differs (the banded routing kernel differs by ~2e-9 on the AMD
// machines), while a real leak moves past outputs by O(1e-2) or more, orders of magnitude above it.
// Returns a failure message, or "" when causal.
inline std::string causality_violation(const at::Tensor& a, const at::Tensor& b, int64_t t, double tol = 1e-5) {
  const double past = (a.narrow(1, 0, t) - b.narrow(1, 0, t)).abs().max().item<double>();
  const int64_t n = a.size(1) - t;
  const double future = (a.narrow(1, t, n) - b.narrow(1, t, n)).abs().max().item<double>();
  std::ostringstream os;
  if (past > tol) os << "past outputs moved by " << past << " (tolerance " << tol << "): a leak from the future";
  else if (future <= 100 * tol) os << "future outputs moved by only " << future << ": the check cannot see a leak";
  return os.str();
}

}  // namespace lmforge::test
