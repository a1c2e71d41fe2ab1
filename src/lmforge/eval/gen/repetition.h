// Repetition and diversity of generated token sequences, the measures of the degeneration
// literature, computed on token ids (what DITTO's and Welleck et al.'s scripts count):
//
//   seq-rep-n   (Welleck et al. 2020, "Neural text degeneration with unlikelihood training"; DITTO's
//               rep-n): per continuation 1 - |unique n-grams| / |n-grams|, averaged over the
//               continuations that have at least one n-gram.
//   rep@l       (Welleck et al.'s token-level rep/l): the share of continuation tokens that already
//               occur among the l tokens before them (the prefix counts as context).
//   distinct-n  (Li et al. 2016): |unique n-grams| / |n-grams| pooled over all continuations.
//   rep-sen     (DITTO): the continuation split into sentences at a sentence-end token (the token
//               ends its sentence); the share of sentences equal to an earlier sentence of the same
//               continuation, and the share equal to the sentence right before (consecutive
//               repetition, the 0.02% of human WikiText-103 in DITTO's abstract). A trailing piece
//               without a sentence end is not a sentence.
#pragma once
#include <cstdint>
#include <vector>

namespace lmforge::eval {

using TokenSeq = std::vector<int64_t>;

double seq_rep_n(const std::vector<TokenSeq>& continuations, int n);
double distinct_n(const std::vector<TokenSeq>& continuations, int n);
// prefixes[i] is the context of continuations[i] (may be empty; the sizes must match).
double rep_at_l(const std::vector<TokenSeq>& prefixes, const std::vector<TokenSeq>& continuations, int64_t l);

struct SentenceRepetition {
  int64_t sentences = 0;
  double repeated = 0;     // share of sentences equal to an earlier one in the same continuation
  double consecutive = 0;  // share of sentences equal to the one right before
};
SentenceRepetition sentence_repetition(const std::vector<TokenSeq>& continuations, int64_t sentence_end);

// Splits a sequence into sentences that each end with `sentence_end` (a trailing rest is dropped).
std::vector<TokenSeq> split_sentences(const TokenSeq& s, int64_t sentence_end);

}  // namespace lmforge::eval
