// Run logging: one console line per logging step (rank 0 only) and a JSONL record per step and
// per evaluation in the run directory. Records are flushed as written so a crash loses nothing.
#pragma once
#include <cstdio>
#include <string>

#include <nlohmann/json.hpp>

namespace lmforge {

class JsonlLog {
 public:
  JsonlLog() = default;
  // Appends to path (resuming keeps earlier records).
  explicit JsonlLog(const std::string& path);
  ~JsonlLog();
  JsonlLog(const JsonlLog&) = delete;
  JsonlLog& operator=(const JsonlLog&) = delete;
  void write(const nlohmann::json& record);

 private:
  std::FILE* f_ = nullptr;
};

// Prints to stderr (progress) or stdout (results) on rank 0 only.
void set_log_rank(int rank);
void log_line(const std::string& line);
// "warning: <message>" once per distinct message per process (deprecations, fallbacks).
void log_warning_once(const std::string& message);

}  // namespace lmforge
