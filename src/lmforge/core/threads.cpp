// Thread counts for ATen and the CPU's name: see threads.h.
#include "lmforge/core/threads.h"

#include <sched.h>
#include <sys/utsname.h>

#include <ATen/Parallel.h>

#include <algorithm>
#include <fstream>
#include <mutex>
#include <thread>

namespace lmforge {

int available_cores() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    int n = CPU_COUNT(&set);
    if (n > 0) return n;
  }
  return std::max(1u, std::thread::hardware_concurrency());
}

int set_threads(int n) {
  if (n <= 0) n = available_cores();
  static std::once_flag interop_once;
  std::call_once(interop_once, [n] {
    try {
      at::set_num_interop_threads(n);
    } catch (const std::exception&) {
      // The inter-op pool already started (someone ran inter-op work first): keep its size.
    }
  });
  at::set_num_threads(n);
  return at::get_num_threads();
}

int num_threads() { return at::get_num_threads(); }

namespace {
std::string trim(const std::string& s) {
  const char* ws = " \t\r\n";
  size_t b = s.find_first_not_of(ws);
  if (b == std::string::npos) return "";
  size_t e = s.find_last_not_of(ws);
  return s.substr(b, e - b + 1);
}
}  // namespace

std::string cpu_model_name() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("model name", 0) == 0) {
      size_t colon = line.find(':');
      if (colon != std::string::npos) {
        std::string name = trim(line.substr(colon + 1));
        if (!name.empty()) return name;
      }
    }
  }
  struct utsname u;
  if (uname(&u) == 0 && u.machine[0] != '\0') return u.machine;
  return "unknown cpu";
}

}  // namespace lmforge
