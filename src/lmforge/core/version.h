// Version strings of lmforge and the libraries it was built against.
#pragma once
#include <string>

namespace lmforge {
std::string version();
std::string torch_version();
}  // namespace lmforge
