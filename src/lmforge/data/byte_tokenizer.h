// Byte-level tokenizer: ids 0..255 are the bytes of the UTF-8 text, 256 is <eos>, 257 is <pad>.
// Nothing to train and nothing unknown; decode(encode(x)) == x for every byte string. Used by tests
// and synthetic runs where a real vocabulary would only slow things down.
#pragma once
#include "lmforge/data/tokenizer.h"

namespace lmforge::data {

class ByteTokenizer : public Tokenizer {
 public:
  static constexpr int64_t kEos = 256;
  static constexpr int64_t kPad = 257;

  std::vector<int64_t> encode(const std::string& line) const override;
  std::string decode(const std::vector<int64_t>& ids) const override;
  int64_t vocab_size() const override { return 258; }
  int64_t eos_id() const override { return kEos; }
  int64_t unk_id() const override { return -1; }
  int64_t pad_id() const override { return kPad; }
  std::string kind() const override { return "byte"; }
  std::string piece(int64_t id) const override;
  std::vector<std::pair<std::string, std::string>> files() const override;
};

}  // namespace lmforge::data
