// Word-level tokenizer: the vocabulary is the set of whitespace-separated words of a training file
// (the fairseq WikiText-103 setup: 267,735 types + specials on the full training split).
//
// Ids: 0 = <pad>, 1 = <unk>, 2 = <eos>, then the words sorted by count (descending), ties by byte
// order. The literal word "<unk>" of WikiText counts as (and encodes to) the <unk> id; so do the
// words "<pad>" and "<eos>" should a text contain them. Words below min_count, or beyond the
// vocab_size cap, encode to <unk>. decode() joins words with single spaces; eos is "\n".
// Saved as vocab.txt: one "word<TAB>count" line per id, the three specials first.
#pragma once
#include <string_view>
#include <unordered_map>

#include "lmforge/data/tokenizer.h"

namespace lmforge::data {

class WordTokenizer : public Tokenizer {
 public:
  static constexpr int64_t kPad = 0, kUnk = 1, kEos = 2;

  // words[i] and counts[i] belong to id i; the first three must be <pad>, <unk>, <eos>.
  WordTokenizer(std::vector<std::string> words, std::vector<int64_t> counts);
  static std::unique_ptr<WordTokenizer> train(const TokenizerOptions& opts,
                                              const std::string& train_file);
  static std::unique_ptr<WordTokenizer> load(const std::string& dir);

  std::vector<int64_t> encode(const std::string& line) const override;
  std::string decode(const std::vector<int64_t>& ids) const override;
  int64_t vocab_size() const override { return static_cast<int64_t>(words_.size()); }
  int64_t eos_id() const override { return kEos; }
  int64_t unk_id() const override { return kUnk; }
  int64_t pad_id() const override { return kPad; }
  std::string kind() const override { return "word"; }
  std::string piece(int64_t id) const override;
  std::vector<std::pair<std::string, std::string>> files() const override;

  int64_t count(int64_t id) const { return counts_.at(id); }
  int64_t id_of(std::string_view word) const;  // kUnk when absent

 private:
  std::vector<std::string> words_;
  std::vector<int64_t> counts_;
  std::unordered_map<std::string_view, int64_t> ids_;  // views into words_
};

}  // namespace lmforge::data
