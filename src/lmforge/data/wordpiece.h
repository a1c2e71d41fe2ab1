// WordPiece tokenization exactly as Google's BERT does it (google-research/bert tokenization.py,
// FullTokenizer = BasicTokenizer then WordpieceTokenizer), from a vocab.txt (one piece per line,
// id = line number).
//
// BasicTokenizer: drop U+0000, U+FFFD and control characters (Cc/Cf except tab, newline, CR),
// turn whitespace (Zs, tab, newline, CR) into spaces, put spaces around CJK ideographs, split on
// whitespace; then per word (uncased only) Python's str.lower(), NFD and removal of nonspacing marks
// (Mn); then split off every punctuation character (category P* and the ASCII symbols) as its own
// word. The Unicode facts come from Python's unicodedata through a generated table
// (bert_unicode_tables.inc, scripts/gen_bert_unicode.py), so no ICU is needed.
// WordpieceTokenizer: a word of more than 100 code points is [UNK]; otherwise greedy longest match
// from the left, continuation pieces prefixed "##"; if any position has no match the whole word is
// [UNK].
//
// As an lmforge Tokenizer: eos_id() is [SEP], pad_id() is [PAD], unk_id() is [UNK]; encode() adds
// no special tokens (encode_pair does: [CLS] A [SEP] B [SEP] with segment ids, truncating the longer
// side first, as BERT's run_classifier does).
#pragma once
#include <string>
#include <unordered_map>
#include <vector>

#include "lmforge/data/tokenizer.h"

namespace lmforge::data {

// The basic (pre-WordPiece) tokenization of BERT; exposed for tests.
std::vector<std::string> bert_basic_tokenize(const std::string& text, bool lower_case);

struct EncodedPair {
  std::vector<int64_t> ids;       // [CLS] a.. [SEP] (b.. [SEP])
  std::vector<int64_t> segments;  // 0 for [CLS], A and its [SEP]; 1 for B and its [SEP]
};

class WordPieceTokenizer : public Tokenizer {
 public:
  // vocab: the lines of vocab.txt. Throws InputError when [UNK], [CLS], [SEP], [PAD] or [MASK] is
  // missing or a piece is repeated.
  WordPieceTokenizer(std::vector<std::string> vocab, bool lower_case, std::string origin = "vocab.txt");
  // Reads a BERT vocab.txt.
  static std::unique_ptr<WordPieceTokenizer> from_vocab_file(const std::string& path, bool lower_case = true);
  // Reads a directory written by save() (tokenizer.json + vocab.txt).
  static std::unique_ptr<WordPieceTokenizer> load(const std::string& dir);

  std::vector<int64_t> encode(const std::string& line) const override;
  std::string decode(const std::vector<int64_t>& ids) const override;
  int64_t vocab_size() const override { return static_cast<int64_t>(vocab_.size()); }
  int64_t eos_id() const override { return sep_; }
  int64_t unk_id() const override { return unk_; }
  int64_t pad_id() const override { return pad_; }
  std::string kind() const override { return "wordpiece"; }
  std::string piece(int64_t id) const override;
  std::vector<std::pair<std::string, std::string>> files() const override;

  int64_t cls_id() const { return cls_; }
  int64_t sep_id() const { return sep_; }
  int64_t mask_id() const { return mask_; }
  bool lower_case() const { return lower_; }
  // Pieces of one text (strings), for tests and debugging.
  std::vector<std::string> tokenize(const std::string& text) const;
  // WordPiece of one basic-tokenized word: ids appended to out.
  void wordpiece(const std::string& word, std::vector<int64_t>& out) const;
  // [CLS] a [SEP] (b [SEP]), at most max_len ids: pops from the longer of a, b until it fits.
  EncodedPair encode_pair(const std::string& a, const std::string* b, int64_t max_len) const;

 private:
  std::vector<std::string> vocab_;
  std::unordered_map<std::string, int64_t> index_;
  bool lower_;
  int64_t unk_ = -1, cls_ = -1, sep_ = -1, pad_ = -1, mask_ = -1;
};

}  // namespace lmforge::data
