// Text helpers of the data layer; see text_util.h.
#include "lmforge/data/text_util.h"

#include <cstdio>

#include "lmforge/core/error.h"

namespace lmforge::data {

void split_whitespace(std::string_view line, std::vector<std::string_view>& out) {
  size_t i = 0, n = line.size();
  while (i < n) {
    while (i < n && is_space(line[i])) ++i;
    size_t b = i;
    while (i < n && !is_space(line[i])) ++i;
    if (i > b) out.push_back(line.substr(b, i - b));
  }
}

int64_t count_words(std::string_view line) {
  int64_t c = 0;
  bool in_word = false;
  for (char ch : line) {
    bool sp = is_space(ch);
    if (!sp && !in_word) ++c;
    in_word = !sp;
  }
  return c;
}

size_t utf8_valid_len(const char* p, size_t n) {
  auto u = [&](size_t i) { return static_cast<unsigned char>(p[i]); };
  auto cont = [&](size_t i) { return i < n && (u(i) & 0xC0) == 0x80; };
  if (n == 0) return 0;
  unsigned char c = u(0);
  if (c < 0x80) return 1;
  if (c >= 0xC2 && c <= 0xDF) return cont(1) ? 2 : 0;
  if (c >= 0xE0 && c <= 0xEF) {
    if (!cont(1) || !cont(2)) return 0;
    if (c == 0xE0 && u(1) < 0xA0) return 0;   // overlong
    if (c == 0xED && u(1) >= 0xA0) return 0;  // surrogates
    return 3;
  }
  if (c >= 0xF0 && c <= 0xF4) {
    if (!cont(1) || !cont(2) || !cont(3)) return 0;
    if (c == 0xF0 && u(1) < 0x90) return 0;
    if (c == 0xF4 && u(1) >= 0x90) return 0;
    return 4;
  }
  return 0;
}

uint64_t fnv1a64(const void* data, size_t n, uint64_t h) {
  const unsigned char* p = static_cast<const unsigned char*>(data);
  for (size_t i = 0; i < n; ++i) {
    h ^= p[i];
    h *= 0x100000001b3ULL;
  }
  return h;
}

std::string hex64(uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

int64_t for_each_line(const std::string& path,
                      const std::function<bool(std::string_view, int64_t)>& fn) {
  std::FILE* f = std::fopen(path.c_str(), "rb");
  LMF_REQUIRE(f != nullptr, InputError, "file ", path, ": cannot be opened for reading");
  std::vector<char> buf(1 << 20);
  std::string carry;  // the unfinished line of the previous read
  int64_t number = 0;
  bool go_on = true;
  while (go_on) {
    size_t got = std::fread(buf.data(), 1, buf.size(), f);
    if (got == 0) break;
    size_t start = 0;
    for (size_t i = 0; i < got && go_on; ++i) {
      if (buf[i] != '\n') continue;
      std::string_view piece(buf.data() + start, i - start);
      if (!carry.empty()) {
        carry.append(piece);
        go_on = fn(carry, ++number);
        carry.clear();
      } else {
        go_on = fn(piece, ++number);
      }
      start = i + 1;
    }
    if (go_on) carry.append(buf.data() + start, got - start);
  }
  bool failed = std::ferror(f) != 0;
  std::fclose(f);
  LMF_REQUIRE(!failed, InputError, "file ", path, ": read error");
  if (go_on && !carry.empty()) fn(carry, ++number);
  return number;
}

void append_utf8(std::string& s, uint32_t cp) {
  if (cp < 0x80) {
    s += static_cast<char>(cp);
  } else if (cp < 0x800) {
    s += static_cast<char>(0xC0 | (cp >> 6));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    s += static_cast<char>(0xE0 | (cp >> 12));
    s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    s += static_cast<char>(0xF0 | (cp >> 18));
    s += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

uint32_t utf8_next(std::string_view text, size_t& i) {
  const size_t len = utf8_valid_len(text.data() + i, text.size() - i);
  if (len == 0) {
    ++i;
    return 0xFFFD;
  }
  const auto* p = reinterpret_cast<const unsigned char*>(text.data() + i);
  uint32_t cp = len == 1 ? p[0] : len == 2 ? p[0] & 0x1F : len == 3 ? p[0] & 0x0F : p[0] & 0x07;
  for (size_t k = 1; k < len; ++k) cp = (cp << 6) | (p[k] & 0x3F);
  i += len;
  return cp;
}

int64_t for_each_line_in(std::string_view text, const std::function<bool(std::string_view, int64_t)>& fn) {
  int64_t number = 0;
  size_t start = 0;
  while (start < text.size()) {
    const size_t nl = text.find('\n', start);
    const size_t end = nl == std::string_view::npos ? text.size() : nl;
    if (!fn(text.substr(start, end - start), ++number)) break;
    start = end + 1;
  }
  return number;
}

}  // namespace lmforge::data
