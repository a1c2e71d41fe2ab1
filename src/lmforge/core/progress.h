// A progress bar with ETA on stderr, drawn only when stderr is a terminal (logs and CI stay clean).
#pragma once
#include <chrono>
#include <cstdint>
#include <string>

namespace lmforge {

class ProgressBar {
 public:
  ProgressBar(std::string label, int64_t total);
  ~ProgressBar();
  void update(int64_t done);
  void finish();

 private:
  std::string label_;
  int64_t total_;
  bool enabled_, finished_ = false;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

}  // namespace lmforge
