// Repetition and diversity measures; see repetition.h for the definitions and their sources.
#include "lmforge/eval/gen/repetition.h"

#include <set>
#include <unordered_map>

#include "lmforge/core/error.h"

namespace lmforge::eval {

namespace {

void check_n(int n) { LMF_REQUIRE(n >= 1, UserError, "n-gram order must be >= 1, got ", n); }

// Counts a sequence's n-grams into `seen`; returns how many there were.
int64_t add_ngrams(const TokenSeq& s, int n, std::set<TokenSeq>& seen) {
  if (static_cast<int64_t>(s.size()) < n) return 0;
  for (size_t i = 0; i + n <= s.size(); ++i) seen.emplace(s.begin() + i, s.begin() + i + n);
  return static_cast<int64_t>(s.size()) - n + 1;
}

}  // namespace

double seq_rep_n(const std::vector<TokenSeq>& continuations, int n) {
  check_n(n);
  double sum = 0;
  int64_t counted = 0;
  for (const auto& s : continuations) {
    std::set<TokenSeq> seen;
    const int64_t total = add_ngrams(s, n, seen);
    if (total == 0) continue;
    sum += 1.0 - static_cast<double>(seen.size()) / static_cast<double>(total);
    ++counted;
  }
  return counted ? sum / static_cast<double>(counted) : 0.0;
}

double distinct_n(const std::vector<TokenSeq>& continuations, int n) {
  check_n(n);
  std::set<TokenSeq> seen;
  int64_t total = 0;
  for (const auto& s : continuations) total += add_ngrams(s, n, seen);
  return total ? static_cast<double>(seen.size()) / static_cast<double>(total) : 0.0;
}

double rep_at_l(const std::vector<TokenSeq>& prefixes, const std::vector<TokenSeq>& continuations, int64_t l) {
  LMF_REQUIRE(l >= 1, UserError, "rep@l: l must be >= 1, got ", l);
  LMF_REQUIRE(prefixes.size() == continuations.size(), UserError, "rep@l: ", prefixes.size(), " prefixes for ",
              continuations.size(), " continuations");
  int64_t repeats = 0, tokens = 0;
  for (size_t i = 0; i < continuations.size(); ++i) {
    TokenSeq all = prefixes[i];
    all.insert(all.end(), continuations[i].begin(), continuations[i].end());
    // A sliding count of the last l tokens: O(length) per sequence.
    std::unordered_map<int64_t, int64_t> window;
    const int64_t start = static_cast<int64_t>(prefixes[i].size());
    for (int64_t t = 0; t < static_cast<int64_t>(all.size()); ++t) {
      if (t >= start) {
        repeats += window.count(all[t]) && window[all[t]] > 0;
        ++tokens;
      }
      ++window[all[t]];
      if (t - l >= 0) --window[all[t - l]];
    }
  }
  return tokens ? static_cast<double>(repeats) / static_cast<double>(tokens) : 0.0;
}

std::vector<TokenSeq> split_sentences(const TokenSeq& s, int64_t sentence_end) {
  std::vector<TokenSeq> out;
  TokenSeq cur;
  for (int64_t t : s) {
    cur.push_back(t);
    if (t == sentence_end) out.push_back(std::move(cur)), cur.clear();
  }
  return out;
}

SentenceRepetition sentence_repetition(const std::vector<TokenSeq>& continuations, int64_t sentence_end) {
  SentenceRepetition r;
  int64_t repeated = 0, consecutive = 0;
  for (const auto& c : continuations) {
    std::vector<TokenSeq> sents = split_sentences(c, sentence_end);
    std::set<TokenSeq> seen;
    for (size_t i = 0; i < sents.size(); ++i) {
      repeated += !seen.insert(sents[i]).second;
      consecutive += i > 0 && sents[i] == sents[i - 1];
    }
    r.sentences += static_cast<int64_t>(sents.size());
  }
  if (r.sentences) {
    r.repeated = static_cast<double>(repeated) / static_cast<double>(r.sentences);
    r.consecutive = static_cast<double>(consecutive) / static_cast<double>(r.sentences);
  }
  return r;
}

}  // namespace lmforge::eval
