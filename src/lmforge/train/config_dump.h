// --dump-config: the resolved run config as TOML with each key's help (the third argument of its
// visit()) as a trailing comment, so that the dump documents the keys it shows:
//   schedule_clock = 'auto'    # what warmup and decay follow: steps (...) | time (...) | auto (...)
// The options of registered components ([train.optimizer], [model.block.*]) are printed without:
// their structs live in the registries. Comments do not change what the file means, so the dump
// still loads as a config.
#pragma once
#include <string>

#include "lmforge/train/run_config.h"

namespace lmforge {

std::string run_config_to_commented_toml(const RunConfig& c);

}  // namespace lmforge
