// A compiled Unicode regular expression (PCRE2, 8-bit, UTF + Unicode properties, JIT where the
// machine has it): the pre-tokenizer patterns of Hugging Face tokenizers, such as GPT-2's
//   's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
// which need \p{..} classes and lookahead that std::regex lacks. Matching is thread-safe (each call
// has its own match data).
#pragma once
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace lmforge::data {

class UnicodeRegex {
 public:
  // Throws InputError naming `origin` and the position when the pattern does not compile.
  UnicodeRegex(const std::string& pattern, const std::string& origin);
  ~UnicodeRegex();
  UnicodeRegex(const UnicodeRegex&) = delete;
  UnicodeRegex& operator=(const UnicodeRegex&) = delete;

  // Every non-overlapping match of the pattern in `text`, left to right, as [begin, end) byte
  // offsets (empty matches skipped). Malformed UTF-8 in `text` is an InputError.
  std::vector<std::pair<size_t, size_t>> find_all(std::string_view text) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// GPT-2's pre-tokenizer pattern (the ByteLevel pre-tokenizer's use_regex = true).
extern const char* const kGpt2Pattern;

}  // namespace lmforge::data
