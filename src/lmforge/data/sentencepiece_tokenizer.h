// Subword tokenizer ("bpe" or "unigram") on a sentencepiece model, with encoding and decoding
// written here (libsentencepiece is not linked: see sentencepiece_model.h). Training runs the
// spm_train tool (sentencepiece_train.cpp).
//
// Encoding reproduces spm_encode --output_format=id exactly for the models lmforge trains:
//   normalisation  identity rules (no NFKC: models are trained with normalization_rule_name=
//                  identity), leading/trailing spaces dropped and runs of spaces collapsed, one
//                  dummy "▁" (U+2581) prefix, every ' ' written as "▁"; malformed UTF-8 -> U+FFFD
//   unigram        Viterbi over piece scores (user-defined pieces score -0.1; unknown characters
//                  min_score - 10), first best path on ties, as sentencepiece's optimized encoder
//   bpe            start from characters (user-defined symbols whole and frozen), repeatedly merge
//                  the adjacent pair whose concatenation is a piece of highest score (leftmost on
//                  ties)
//   byte fallback  an unknown piece becomes the ids of its bytes' <0xNN> pieces
// Ids of the models lmforge trains: 0 <pad>, 1 <spm_unk> (sentencepiece's own unknown, never
// produced thanks to byte fallback), 2 </s> (eos), 3 <unk> (a user-defined piece, so WikiText's
// literal "<unk>" is one token; this is unk_id()), 4..259 <0x00>..<0xFF>, then the learned pieces.
// Saved as spm.model (the source of truth) and spm.vocab (piece, exact score, type; for reading).
// decode(encode(x)) == x for text in normal form: no leading/trailing space, no double spaces.
#pragma once
#include <string_view>
#include <unordered_map>

#include "lmforge/data/sentencepiece_model.h"
#include "lmforge/data/tokenizer.h"

namespace lmforge::data {

class SentencePieceTokenizer : public Tokenizer {
 public:
  // model_bytes: the content of a .model file; path is only used in error messages.
  SentencePieceTokenizer(std::string model_bytes, const std::string& path);
  static std::unique_ptr<SentencePieceTokenizer> load(const std::string& dir,
                                                      const std::string& kind);
  static std::unique_ptr<SentencePieceTokenizer> train(const TokenizerOptions& opts,
                                                       const std::string& train_file,
                                                       const std::string& work_dir);

  std::vector<int64_t> encode(const std::string& line) const override;
  std::string decode(const std::vector<int64_t>& ids) const override;
  int64_t vocab_size() const override { return static_cast<int64_t>(model_.pieces.size()); }
  int64_t eos_id() const override { return eos_id_; }
  int64_t unk_id() const override { return user_unk_id_ >= 0 ? user_unk_id_ : spm_unk_id_; }
  int64_t pad_id() const override { return pad_id_; }
  std::string kind() const override;
  std::string piece(int64_t id) const override;
  std::vector<std::pair<std::string, std::string>> files() const override;
  // tokenizer.json, spm.vocab (pieces, exact scores, types) and the normaliser flags: not
  // spm.model, whose trainer_spec records the input and output paths of spm_train.
  std::vector<std::pair<std::string, std::string>> fingerprint_files() const override;

  // The normalised text pieces are matched against (spaces as U+2581, dummy prefix).
  std::string normalize(std::string_view text) const;
  const SpmModel& model() const { return model_; }

 private:
  using Segment = std::pair<std::string_view, int>;  // piece text, id (spm_unk_id_ if unknown)
  void encode_unigram(std::string_view s, std::vector<Segment>& out) const;
  void encode_bpe(std::string_view s, std::vector<Segment>& out) const;
  size_t user_defined_prefix(std::string_view s) const;  // longest match length, 0 if none
  int piece_id(std::string_view p) const;                // reserved, then pieces, else spm unk
  int trie_child(int node, unsigned char byte) const;
  void append_ids(const std::vector<Segment>& segs, std::vector<int64_t>& ids) const;
  void encode_bpe_cached(std::string_view norm, std::vector<int64_t>& ids) const;

  std::string model_bytes_;
  SpmModel model_;
  std::unordered_map<std::string_view, int> pieces_;    // normal, user-defined, unused
  std::unordered_map<std::string_view, int> reserved_;  // control, unknown, byte
  std::vector<std::string> user_defined_;
  // Byte trie over pieces_ for the unigram lattice: edge (node << 8 | byte) -> child node.
  std::unordered_map<uint64_t, int> trie_edges_;
  std::vector<int> trie_value_;  // piece id ending at a node, -1 if none
  int byte_id_[256];
  float min_score_ = 0.0f, max_score_ = 0.0f;
  int spm_unk_id_ = -1, user_unk_id_ = -1, eos_id_ = -1, pad_id_ = -1;
  // BPE only: when no piece holds "▁" past its first character (spm_train's default
  // split_by_whitespace), merges never cross a "▁", so each "▁word" segment is encoded on its
  // own and memoised in a per-thread cache keyed by instance_id_.
  bool segmentable_ = false;
  uint64_t instance_id_ = 0;
};

}  // namespace lmforge::data
