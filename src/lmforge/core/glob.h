// Shell-style name patterns for choosing parameters and modules by name in a config
// ("layers.*.mixer.qkv.weight", "*.ffn.*"): `*` matches any run of characters (dots included),
// `?` exactly one character, everything else itself.
#pragma once
#include <string>
#include <vector>

namespace lmforge {

bool glob_match(const std::string& pattern, const std::string& text);
// True when any pattern matches.
bool glob_match_any(const std::vector<std::string>& patterns, const std::string& text);

}  // namespace lmforge
