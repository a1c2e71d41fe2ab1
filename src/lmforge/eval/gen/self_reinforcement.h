// The self-reinforcement analysis of DITTO (Xu et al. 2022, section 3): a sentence repeated R times
// after a line start; how the model's probability of each token changes with the number of
// earlier repetitions. For repetition k = 1..R (token j of the sentence at every k):
//   TP(k)  mean probability of the sentence's tokens in repetition k;
//   IP(k)  share of tokens whose probability in repetition k is higher than in repetition 1;
//   WR(k)  share of tokens that are the model's argmax in repetition k (the "winner rate" as the
//          reference script counts it: argmax only).
// A language model trained by maximum likelihood shows TP rising with k (repetition reinforces
// itself); DITTO's training is meant to make it fall.
#pragma once
#include <cstdint>
#include <vector>

#include "lmforge/data/token_span.h"
#include "lmforge/eval/gen/repetition.h"

namespace lmforge {
class LanguageModel;
}

namespace lmforge::eval {

struct SelfReinforcement {
  int64_t sentences = 0, repeats = 0;
  std::vector<double> tp, ip, wr;  // index k - 1
};

// `start` is the token that opens each sequence (the line start, eos); sentences are scored with
// their own end token.
SelfReinforcement self_reinforcement(LanguageModel& model, const std::vector<TokenSeq>& sentences, int64_t repeats,
                                     int64_t start, int64_t batch = 16);

// The first `count` sentences of a token stream (each ending with sentence_end, not crossing a line
// end `eos`) whose length lies in [min_len, max_len].
std::vector<TokenSeq> pick_sentences(const data::TokenSpan& text, int64_t sentence_end, int64_t eos, int64_t count,
                                     int64_t min_len, int64_t max_len);

}  // namespace lmforge::eval
