// GPT-2's byte <-> character map; see byte_level.h.
#include "lmforge/data/byte_level.h"

#include <array>
#include <cstdint>

#include "lmforge/data/text_util.h"

namespace lmforge::data {

namespace {

struct Tables {
  std::array<std::string, 256> to_char;  // byte -> UTF-8 of its character
  std::array<int, 324> to_byte;          // code point (< 324) -> byte, -1 when not in the alphabet
  Tables() {
    to_byte.fill(-1);
    uint32_t next = 256;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
      const uint32_t cp = printable ? static_cast<uint32_t>(b) : next++;
      append_utf8(to_char[b], cp);
      to_byte[cp] = b;
    }
  }
};

const Tables& tables() {
  static const Tables t;
  return t;
}

}  // namespace

std::string bytes_to_byte_level(std::string_view bytes) {
  const Tables& t = tables();
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char b : bytes) out += t.to_char[b];
  return out;
}

bool byte_level_to_bytes(std::string_view text, std::string& out) {
  const Tables& t = tables();
  size_t i = 0;
  while (i < text.size()) {
    const uint32_t cp = utf8_next(text, i);
    if (cp >= t.to_byte.size() || t.to_byte[cp] < 0) return false;
    out += static_cast<char>(t.to_byte[cp]);
  }
  return true;
}

}  // namespace lmforge::data
