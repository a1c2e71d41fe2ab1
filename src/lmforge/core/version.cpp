#include "lmforge/core/version.h"

#include <torch/version.h>

namespace lmforge {
std::string version() { return LMFORGE_VERSION; }
std::string torch_version() { return TORCH_VERSION; }
}  // namespace lmforge
