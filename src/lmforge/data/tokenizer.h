// The tokenizer interface of lmforge and the functions that train, save and load tokenizers.
//
// The kinds share one interface so the rest of the engine never cares which one a run uses:
//   "word"    whitespace-split words of a training file (WikiText word-level LM, fairseq style)
//   "byte"    the 256 byte values (tests, synthetic runs; nothing to train)
//   "bpe"     sentencepiece BPE, trained by the spm_train tool, encoded by our own code
//   "unigram" sentencepiece unigram LM, same
//   "wordpiece" a BERT vocab.txt (data/wordpiece.h)
//   "hf"      a Hugging Face tokenizer.json: byte-level BPE (GPT-2), Unigram (data/hf_tokenizer.h)
// encode() never adds an end-of-sequence id: callers append eos_id() where a line ends.
// save(dir) writes tokenizer.json (kind, format version) plus the kind's own files; load_tokenizer(dir)
// reads them back. fingerprint() is a hash of what save() writes (less incidental bytes, see
// fingerprint_files()), so a token cache built with one tokenizer is never reused with another.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

namespace lmforge::data {

struct TokenizerOptions {
  std::string kind = "bpe";
  int64_t vocab_size = 8192;
  int64_t min_count = 1;
  int64_t max_lines = 0;
  int64_t seed = 1;
  int64_t input_sentence_size = 1000000;
  std::string vocab;        // wordpiece: a BERT vocab.txt
  bool lower_case = true;   // wordpiece: uncased (lower-case + strip accents)

  template <class V>
  void visit(V& v) {
    v("kind", kind, "tokenizer kind: word | bpe | unigram | byte | wordpiece | hf (a Hugging Face tokenizer.json, data/hf_tokenizer.h)");
    v("vocab_size", vocab_size,
      "bpe/unigram: exact vocabulary size (specials and 256 byte pieces included); word: at most "
      "this many entries, 0 = keep every word (fairseq WikiText style); byte: ignored (258)");
    v("min_count", min_count, "word: drop words seen fewer times than this (they become <unk>)");
    v("max_lines", max_lines, "train on the first this many lines of the file only; 0 = all");
    v("seed", seed, "bpe/unigram: spm_train --random_seed (sentence sampling)");
    v("input_sentence_size", input_sentence_size,
      "bpe/unigram: spm_train samples at most this many lines; 0 = all");
    v("vocab", vocab, "wordpiece: path of a BERT vocab.txt; hf: a tokenizer.json or a folder with one (or GPT-2's encoder.json + vocab.bpe); nothing is trained");
    v("lower_case", lower_case, "wordpiece: uncased BERT (lower-case, strip accents)");
  }
  // Throws ConfigError naming the key when a value is out of range.
  void validate() const;
};

class Tokenizer {
 public:
  virtual ~Tokenizer() = default;
  // Ids of one line of text, without an end-of-sequence id. Thread-safe.
  virtual std::vector<int64_t> encode(const std::string& line) const = 0;
  // Text of a sequence of ids: eos_id() becomes "\n", pad_id() nothing. Throws InputError on an
  // id outside [0, vocab_size()).
  virtual std::string decode(const std::vector<int64_t>& ids) const = 0;
  virtual int64_t vocab_size() const = 0;
  virtual int64_t eos_id() const = 0;
  virtual int64_t unk_id() const = 0;  // -1 when the kind has none
  virtual int64_t pad_id() const = 0;
  virtual std::string kind() const = 0;
  // Printable form of one id (a word, a piece, "<0x41>"), for logs and debugging.
  virtual std::string piece(int64_t id) const = 0;

  // Writes files() into dir (created if absent); each file atomically.
  void save(const std::string& dir) const;
  // 16 hex digits: FNV-1a over the names and contents of fingerprint_files().
  std::string fingerprint() const;
  // Every file save() writes, name -> content; tokenizer.json first.
  virtual std::vector<std::pair<std::string, std::string>> files() const = 0;
  // What defines the encoding, hashed by fingerprint(): files() unless a kind's saved files also
  // hold incidental data (spm.model records spm_train's paths, so two identical trainings in
  // different directories would differ).
  virtual std::vector<std::pair<std::string, std::string>> fingerprint_files() const {
    return files();
  }
};

// Reads a directory written by Tokenizer::save. Throws InputError naming the file when it is missing
// or malformed.
std::unique_ptr<Tokenizer> load_tokenizer(const std::string& dir);

// The id of `text` when it is one token under `tok` (tried as is, then after a space, as it
// appears inside running text), else -1. E.g. the sentence end "." for repetition metrics.
int64_t single_token_id(const Tokenizer& tok, const std::string& text);

// Trains a tokenizer of opts.kind on train_file. work_dir holds intermediate files (spm_train's
// input, model and log); it is created if absent. The result is not saved: call save().
std::unique_ptr<Tokenizer> train_tokenizer(const TokenizerOptions& opts,
                                           const std::string& train_file,
                                           const std::string& work_dir);

// The tokenizer.json written by every kind: {"format":"lmforge-tokenizer","version":1,"kind":...}
std::string tokenizer_json(const std::string& kind);

}  // namespace lmforge::data
