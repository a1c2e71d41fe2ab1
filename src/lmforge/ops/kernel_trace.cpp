#include "lmforge/ops/kernel_trace.h"

#include <map>
#include <mutex>

namespace lmforge {
namespace {
std::mutex g_mu;
std::map<std::string, const char*>& table() {
  static std::map<std::string, const char*> t;
  return t;
}
}  // namespace

void record_kernel(const char* op, const char* pass, const char* kernel) {
  std::lock_guard<std::mutex> lock(g_mu);
  table()[std::string(op) + "/" + pass] = kernel;
}

std::string last_kernel(const std::string& op, const std::string& pass) {
  std::lock_guard<std::mutex> lock(g_mu);
  auto it = table().find(op + "/" + pass);
  return it == table().end() ? std::string() : std::string(it->second);
}

}  // namespace lmforge
