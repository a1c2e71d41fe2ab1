// Fuzzes the sentencepiece .model reader (data/sentencepiece_model.h, a hand-written protobuf
// reader) and the tokenizer built on it (data/sentencepiece_tokenizer.h): parse_spm_model, then
// SentencePieceTokenizer on the same bytes, encode of a few fixed lines, decode of the result
// and of every id, and piece() of each id.
// Contract (fuzz_contract.h): a model that encodes, or InputError naming the file and byte.
#include "fuzz_contract.h"
#include "lmforge/data/sentencepiece_model.h"
#include "lmforge/data/sentencepiece_tokenizer.h"

using namespace lmforge::data;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string bytes = lmforge_fuzz_bytes(data, size);
  lmforge_fuzz_contract([&] { (void)parse_spm_model(bytes, "fuzz.model"); });
  lmforge_fuzz_contract([&] {
    SentencePieceTokenizer tok(bytes, "fuzz.model");
    const int64_t n = tok.vocab_size();
    for (const char* line : {"", "Hello  world, the cat sat.", " \xE2\x96\x81 caf\xC3\xA9 \xF0\x9F\x98\x80 \xFF\xFE 123"}) {
      std::vector<int64_t> ids = tok.encode(line);
      for (int64_t id : ids)
        if (id < 0 || id >= n) __builtin_trap();  // encode must stay inside the vocabulary
      (void)tok.decode(ids);
    }
    std::vector<int64_t> all;
    for (int64_t i = 0; i < n && i < 512; ++i) {
      all.push_back(i);
      (void)tok.piece(i);
    }
    (void)tok.decode(all);
  });
  return 0;
}
