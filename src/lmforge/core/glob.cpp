#include "lmforge/core/glob.h"

namespace lmforge {

// Greedy matching with one backtrack point (the last `*`): linear in practice, never exponential.
bool glob_match(const std::string& pattern, const std::string& text) {
  size_t p = 0, t = 0, star = std::string::npos, resume = 0;
  while (t < text.size()) {
    if (p < pattern.size() && (pattern[p] == '?' || pattern[p] == text[t])) {
      ++p, ++t;
    } else if (p < pattern.size() && pattern[p] == '*') {
      star = p++, resume = t;
    } else if (star != std::string::npos) {
      p = star + 1, t = ++resume;
    } else {
      return false;
    }
  }
  while (p < pattern.size() && pattern[p] == '*') ++p;
  return p == pattern.size();
}

bool glob_match_any(const std::vector<std::string>& patterns, const std::string& text) {
  for (const auto& p : patterns)
    if (glob_match(p, text)) return true;
  return false;
}

}  // namespace lmforge
