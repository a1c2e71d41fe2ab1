// Small text and file helpers shared by the data layer: ASCII whitespace splitting (the WikiText
// convention), UTF-8 character lengths as sentencepiece counts them, a 64-bit FNV-1a hash for
// fingerprints, streaming line reads. Whole-file reads and crash-safe writes are core/file_io.h.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace lmforge::data {

// Space, tab, CR, vertical tab, form feed. Newlines never reach us (files are read by lines).
// Unicode spaces (U+00A0, ...) are not separators; WikiText contains none.
inline bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f' || c == '\n';
}

// Appends the whitespace-separated items of `line` to `out` (views into `line`).
void split_whitespace(std::string_view line, std::vector<std::string_view>& out);
// Number of whitespace-separated items of `line`.
int64_t count_words(std::string_view line);

// Length of the UTF-8 character starting at p, judged from its lead byte only (sentencepiece's
// OneCharLen), clipped to n.
inline size_t utf8_len(const char* p, size_t n) {
  static const unsigned char kLen[16] = {1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 3, 4};
  size_t len = kLen[static_cast<unsigned char>(*p) >> 4];
  return len < n ? len : n;
}
// Length of a well-formed UTF-8 character at p (1..4), or 0 when the bytes are malformed.
size_t utf8_valid_len(const char* p, size_t n);
// Appends the UTF-8 of one code point (< 0x110000).
void append_utf8(std::string& s, uint32_t cp);
// The code point at text[i], advancing i past it; U+FFFD (and one byte) for malformed input.
uint32_t utf8_next(std::string_view text, size_t& i);

// 64-bit FNV-1a; chain calls by passing the previous value as h.
uint64_t fnv1a64(const void* data, size_t n, uint64_t h = 0xcbf29ce484222325ULL);
std::string hex64(uint64_t v);

// Streams a text file line by line (1 MiB reads, never the whole file in memory): calls
// fn(line, line_number) with the line's bytes without its '\n' (line numbers from 1); a last line
// without '\n' still counts. fn returns false to stop early. Returns the number of lines seen.
// Throws InputError naming the file when it cannot be opened or read.
int64_t for_each_line(const std::string& path,
                      const std::function<bool(std::string_view line, int64_t number)>& fn);
// The same over text already in memory (same line numbers, same last line without '\n').
int64_t for_each_line_in(std::string_view text,
                         const std::function<bool(std::string_view line, int64_t number)>& fn);

}  // namespace lmforge::data
