// Byte-level tokenizer; see byte_tokenizer.h.
#include "lmforge/data/byte_tokenizer.h"

#include <cstdio>

#include "lmforge/core/error.h"

namespace lmforge::data {

std::vector<int64_t> ByteTokenizer::encode(const std::string& line) const {
  std::vector<int64_t> ids(line.size());
  for (size_t i = 0; i < line.size(); ++i) ids[i] = static_cast<unsigned char>(line[i]);
  return ids;
}

std::string ByteTokenizer::decode(const std::vector<int64_t>& ids) const {
  std::string out;
  out.reserve(ids.size());
  for (int64_t id : ids) {
    LMF_REQUIRE(id >= 0 && id < vocab_size(), InputError, "byte tokenizer: token id ", id,
                " outside [0, ", vocab_size(), ")");
    if (id == kEos) out += '\n';
    else if (id != kPad) out += static_cast<char>(id);
  }
  return out;
}

std::string ByteTokenizer::piece(int64_t id) const {
  if (id == kEos) return "<eos>";
  if (id == kPad) return "<pad>";
  char buf[8];
  std::snprintf(buf, sizeof buf, "<0x%02X>", static_cast<unsigned>(id & 0xFF));
  return buf;
}

std::vector<std::pair<std::string, std::string>> ByteTokenizer::files() const {
  return {{"tokenizer.json", tokenizer_json("byte")}};
}

}  // namespace lmforge::data
