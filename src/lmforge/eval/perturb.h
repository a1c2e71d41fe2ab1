// Perturbed evaluation text for robustness tests: random word swaps, as in the word-swap attack
// MomentumSMoE (Teo & Nguyen 2024) evaluates on WikiText-103 (after Han et al. 2023): each
// whitespace-separated word is, with probability p, replaced by a word drawn uniformly from the
// file's own running text (so by its unigram frequency). Line structure and the word count are kept,
// so word-level perplexities of the clean and the attacked file are over the same number of words.
#pragma once
#include <cstdint>
#include <string>

namespace lmforge {

struct SwapStats {
  int64_t words = 0;    // words in the output (= in the input's first `max_lines` lines)
  int64_t swapped = 0;  // positions that received a drawn word (it may equal the original)
  int64_t lines = 0;
};

// Copies the first `max_lines` lines (all when <= 0) of `in` to `out`, swapping words with
// probability p (0 <= p <= 1, else UserError) under `seed`. Deterministic for (file, p, seed).
SwapStats write_word_swapped(const std::string& in, const std::string& out, double p, uint64_t seed, int64_t max_lines = 0);

}  // namespace lmforge
