// Hugging Face tokenizers (`tokenizer.json`, the tokenizers library's format) read and run by our own
// code (data.tokenizer.kind = "hf", data.tokenizer.vocab = a tokenizer.json or a folder with one).
//
// Encoding follows the library's pipeline: added tokens split out of the raw text (their ids
// directly) -> normalizer -> pre-tokenizer -> model on each piece. Supported parts, each refused
// with an InputError naming it when a file uses another:
//   normalizer     none, Sequence, Lowercase (per code point), Replace (String), Prepend, Strip
//   pre_tokenizer  none, Sequence, ByteLevel (GPT-2 regex through PCRE2, add_prefix_space),
//                  Split (String or Regex; Isolated, Removed, MergedWithPrevious/Next),
//                  Metaspace (replacement, prepend_scheme / add_prefix_space, split),
//                  Whitespace, WhitespaceSplit
//   model          BPE and Unigram (data/hf_models.h); WordPiece files become our WordPiece
//                  tokenizer (data/wordpiece.h: BERT's basic tokenizer, lower_case from the
//                  normalizer)
//   decoder        ByteLevel, Metaspace, Replace, ByteFallback, Fuse, Strip, Sequence
// GPT-2's original files (encoder.json + vocab.bpe, or HF's vocab.json + merges.txt) are read as the
// tokenizer.json they are equivalent to (byte-level BPE, <|endoftext|> as an added token).
// eos_id(): the first of <|endoftext|>, </s>, <|end_of_text|>, <eos>, [SEP] the file has; pad_id():
// <pad>, [PAD], <|pad|>, else the eos id; unk_id(): the model's unknown token, else -1.
// Saved as tokenizer.json (lmforge's header, kind "hf") + hf_tokenizer.json (the file, verbatim),
// so `lmforge export-hf` writes it back unchanged.
#pragma once
#include <memory>
#include <string>

#include "lmforge/data/tokenizer.h"

namespace lmforge::data {

class HfTokenizer : public Tokenizer {
 public:
  // json_text: the content of a tokenizer.json; origin names it in errors.
  HfTokenizer(std::string json_text, const std::string& origin);
  ~HfTokenizer() override;
  // A tokenizer.json file, or a folder holding tokenizer.json, encoder.json + vocab.bpe, or
  // vocab.json + merges.txt. WordPiece models come back as a WordPieceTokenizer.
  static std::unique_ptr<Tokenizer> from_path(const std::string& path);
  // The same from a tokenizer.json's text already in memory (tests, fuzzing); `origin` names it.
  static std::unique_ptr<Tokenizer> from_json_text(std::string text, const std::string& origin);
  // A folder written by save().
  static std::unique_ptr<Tokenizer> load(const std::string& dir);

  std::vector<int64_t> encode(const std::string& line) const override;
  std::string decode(const std::vector<int64_t>& ids) const override;
  int64_t vocab_size() const override;
  int64_t eos_id() const override;
  int64_t unk_id() const override;
  int64_t pad_id() const override;
  std::string kind() const override { return "hf"; }
  std::string piece(int64_t id) const override;
  std::vector<std::pair<std::string, std::string>> files() const override;

  struct Impl;

 private:
  std::string json_;
  std::unique_ptr<Impl> impl_;
};

// GPT-2's vocabulary (encoder.json / vocab.json: piece -> id) and merges (vocab.bpe / merges.txt:
// "#version" line, then "left right" per line) as tokenizer.json text.
std::string gpt2_files_to_tokenizer_json(const std::string& vocab_json_path, const std::string& merges_path);

}  // namespace lmforge::data
