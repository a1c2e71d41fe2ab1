// The two subword models of Hugging Face tokenizer.json files that lmforge encodes itself:
//
//   BPE (Sennrich et al. 2016; GPT-2's byte-level variant): a word starts as its characters; the
//     adjacent pair with the lowest merge rank is merged (every non-overlapping occurrence, left to
//     right, as GPT-2's encoder.py), until no pair has a rank; the symbols are then looked up in the
//     vocabulary. `ignore_merges` takes a word that is itself in the vocabulary whole (Llama 3). A
//     symbol missing from the vocabulary becomes its <0xNN> byte pieces with byte_fallback, else
//     the unknown token (consecutive unknowns fused when fuse_unk), else an InputError.
//   Unigram (Kudo 2018): the segmentation of highest total log-probability (Viterbi over character
//     positions, the first best path kept on ties, as sentencepiece's optimized encoder); a
//     character no piece covers is the unknown token with score min_score - 10 (consecutive ones
//     fused), or its <0xNN> byte pieces with byte_fallback.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

namespace lmforge::data {

class BpeModel {
 public:
  BpeModel(std::unordered_map<std::string, int64_t> vocab, const std::vector<std::pair<std::string, std::string>>& merges,
           int64_t unk_id, bool fuse_unk, bool byte_fallback, bool ignore_merges, std::string origin);
  void encode(std::string_view word, std::vector<int64_t>& out) const;

 private:
  std::unordered_map<std::string, int64_t> vocab_;
  std::unordered_map<std::string, int64_t> ranks_;  // "left\0right" -> rank
  int64_t unk_id_;
  bool fuse_unk_, byte_fallback_, ignore_merges_;
  std::string origin_;
};

class UnigramModel {
 public:
  // pieces[i] = (piece, log-probability), id i.
  UnigramModel(std::vector<std::pair<std::string, double>> pieces, int64_t unk_id, bool byte_fallback,
               std::string origin);
  void encode(std::string_view text, std::vector<int64_t>& out) const;

 private:
  std::vector<std::pair<std::string, double>> pieces_;
  std::unordered_map<std::string_view, int64_t> ids_;  // views into pieces_
  int64_t unk_id_;
  bool byte_fallback_;
  double unk_score_ = 0;
  size_t max_piece_bytes_ = 1;
  std::string origin_;
};

// Appends the ids of <0xNN> pieces for the bytes of `s`; false when one is missing.
bool byte_fallback_ids(std::string_view s, const std::unordered_map<std::string, int64_t>& vocab,
                       std::vector<int64_t>& out);

}  // namespace lmforge::data
