// eval/perturb.h: word swaps over a text file.
#include "lmforge/eval/perturb.h"

#include <fstream>
#include <random>
#include <sstream>
#include <vector>

#include "lmforge/core/error.h"
#include "lmforge/core/file_io.h"

namespace lmforge {

SwapStats write_word_swapped(const std::string& in, const std::string& out, double p, uint64_t seed, int64_t max_lines) {
  LMF_REQUIRE(p >= 0 && p <= 1, UserError, "word-swap rate ", p, " is outside [0, 1]");
  std::ifstream f(in, std::ios::binary);
  LMF_REQUIRE(f, InputError, "text file '", in, "' cannot be read");
  // Two passes over what is kept: the words (the pool to draw from), then the rewrite.
  std::vector<std::string> lines;
  std::vector<std::string> pool;
  std::string line;
  while ((max_lines <= 0 || static_cast<int64_t>(lines.size()) < max_lines) && std::getline(f, line)) {
    std::istringstream ws(line);
    std::string w;
    while (ws >> w) pool.push_back(w);
    lines.push_back(std::move(line));
  }
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> coin(0.0, 1.0);
  std::uniform_int_distribution<size_t> pick(0, pool.empty() ? 0 : pool.size() - 1);
  SwapStats st;
  {
    AtomicFile file(out);
    std::string o;  // one line at a time
    for (const auto& l : lines) {
      // Keep the line's own spacing (WikiText's " = Title = " lines, leading blanks): only the
      // words between the separators change.
      size_t i = 0;
      while (i < l.size()) {
        if (l[i] == ' ' || l[i] == '\t') {
          o += l[i++];
          continue;
        }
        size_t j = i;
        while (j < l.size() && l[j] != ' ' && l[j] != '\t') ++j;
        ++st.words;
        if (p > 0 && coin(rng) < p) {
          o += pool[pick(rng)];
          ++st.swapped;
        } else {
          o.append(l, i, j - i);
        }
        i = j;
      }
      o += '\n';
      ++st.lines;
      file.write(o);
      o.clear();
    }
    file.commit();
  }
  return st;
}

}  // namespace lmforge
