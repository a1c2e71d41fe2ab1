// The registry of operator kernel descriptions (kernel_info.h).
#include "lmforge/ops/kernel_info.h"

#include <algorithm>
#include <map>
#include <stdexcept>

namespace lmforge {
namespace {
std::map<std::string, KernelDescriber>& registry() {
  static std::map<std::string, KernelDescriber> r;
  return r;
}
}  // namespace

bool register_kernel_info(const char* op, KernelDescriber describe) {
  if (!registry().emplace(op, describe).second)
    throw std::logic_error(std::string("kernel info registered twice for ") + op);
  return true;
}

std::vector<std::pair<std::string, KernelDescriber>> kernel_infos() {
  return {registry().begin(), registry().end()};
}

}  // namespace lmforge
