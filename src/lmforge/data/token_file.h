// A text file tokenized once into a binary token file that later runs memory-map.
//
// TokenFile::open_or_build(tok, text, cache_dir) looks for
//   cache_dir/<text basename>.<hash of its absolute path>.<tokenizer fingerprint>.tok
// and reuses it when its header matches the tokenizer fingerprint and the text file's size and
// modification time; otherwise (absent, stale, torn, older format) it is rebuilt, written under a
// temporary name and renamed, so a crash never leaves a half-written cache.
// Tokens follow wikitext.h: each line's ids then eos (an empty line is one eos).
//
// Layout (little-endian): a 128-byte header (magic "LMFTOKS\0", version, dtype bytes 2|4 (uint16
// when vocab_size <= 65536), token count, source lines/words/bytes, source size and mtime,
// vocab size, eos id, tokenizer fingerprint, section offsets, file size), the tokens, then
// num_lines + 1 uint64 line starts (line i is tokens [line_start(i), line_start(i+1)), its eos
// last).
#pragma once
#include <ATen/ATen.h>

#include <cstdint>
#include <string>
#include <string_view>

#include "lmforge/data/token_span.h"
#include "lmforge/data/wikitext.h"

namespace lmforge::data {

class Tokenizer;

class TokenFile {
 public:
  // rebuilt (optional) tells whether the cache was (re)written by this call.
  static TokenFile open_or_build(const Tokenizer& tok, const std::string& text_path,
                                 const std::string& cache_dir, bool* rebuilt = nullptr);
  // Maps an existing token file; throws InputError naming it when it is not a valid one.
  static TokenFile open(const std::string& token_path);
  // The same checks over a token file's bytes already in memory (tests, fuzzing): the result
  // points into `bytes` (8-byte aligned), which must outlive it. `name` is what errors call it.
  static TokenFile from_bytes(std::string_view bytes, const std::string& name);
  // Tokenizes text_path into token_path (atomically), whatever is there.
  static void build(const Tokenizer& tok, const std::string& text_path,
                    const std::string& token_path);
  // The cache file name open_or_build uses.
  static std::string cache_path(const Tokenizer& tok, const std::string& text_path,
                                const std::string& cache_dir);

  TokenFile(TokenFile&& o) noexcept;
  TokenFile& operator=(TokenFile&& o) noexcept;
  TokenFile(const TokenFile&) = delete;
  TokenFile& operator=(const TokenFile&) = delete;
  ~TokenFile();

  int64_t size() const { return count_; }        // number of tokens
  int64_t num_lines() const { return counts_.lines; }
  const TextCounts& counts() const { return counts_; }  // of the source text
  int64_t vocab_size() const { return vocab_size_; }
  int64_t eos_id() const { return eos_id_; }
  int dtype_bytes() const { return dtype_bytes_; }
  const std::string& fingerprint() const { return fingerprint_; }
  const std::string& path() const { return path_; }

  int64_t operator[](int64_t i) const { return span()[i]; }
  // Tokens [begin, end) as a new int64 tensor.
  at::Tensor slice(int64_t begin, int64_t end) const;
  // Token offset where 0-based line `line` starts; line_start(num_lines()) == size().
  int64_t line_start(int64_t line) const;
  TokenSpan span() const;

 private:
  TokenFile() = default;
  void unmap();
  // Validates the `size` bytes at data as a token file and points the members into them.
  void parse(const unsigned char* data, size_t size);

  std::string path_;
  void* map_ = nullptr;
  size_t map_size_ = 0;
  const unsigned char* tokens_ = nullptr;
  const uint64_t* line_starts_ = nullptr;
  int64_t count_ = 0;
  TextCounts counts_;
  int64_t vocab_size_ = 0, eos_id_ = 0;
  int dtype_bytes_ = 2;
  std::string fingerprint_;
  int64_t source_size_ = 0, source_mtime_ns_ = 0;
};

}  // namespace lmforge::data
