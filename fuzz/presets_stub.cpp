// The fuzz build has no embedded presets (the main build generates them from configs/*.toml):
// config.cpp's load_config() needs these two symbols, and the fuzz targets never name a preset.
#include "lmforge/core/config.h"

namespace lmforge {
std::vector<std::string> preset_names() { return {}; }
const char* preset_text(const std::string&) { return nullptr; }
}  // namespace lmforge
