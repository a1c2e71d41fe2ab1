#include "lmforge/core/log.h"

#include <mutex>
#include <set>

#include <cerrno>
#include <cstring>
#include <iostream>

#include "lmforge/core/error.h"

namespace lmforge {

static int g_rank = 0;

JsonlLog::JsonlLog(const std::string& path) {
  f_ = std::fopen(path.c_str(), "a");
  if (!f_) throw InputError(str("cannot open log file '", path, "' for writing: ", std::strerror(errno)));
}

JsonlLog::~JsonlLog() {
  if (f_) std::fclose(f_);
}

void JsonlLog::write(const nlohmann::json& record) {
  if (!f_ || g_rank != 0) return;
  std::string s = record.dump() + "\n";
  std::fwrite(s.data(), 1, s.size(), f_);
  std::fflush(f_);
}

void set_log_rank(int rank) { g_rank = rank; }

void log_line(const std::string& line) {
  if (g_rank != 0) return;
  std::cerr << line << std::endl;
}

void log_warning_once(const std::string& message) {
  static std::mutex mu;
  static std::set<std::string> seen;
  std::lock_guard<std::mutex> lock(mu);
  if (!seen.insert(message).second) return;
  log_line("warning: " + message);
}

}  // namespace lmforge
