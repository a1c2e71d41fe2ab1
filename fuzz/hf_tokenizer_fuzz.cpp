// Fuzzes the Hugging Face tokenizer.json reader (data/hf_tokenizer.h): HfTokenizer::from_json_text
// on the input (BPE and Unigram through HfTokenizer, WordPiece files through WordPieceTokenizer),
// then encode of fixed lines (and of the text after a first NUL byte, when there is one), decode of
// the ids and of the first ids of the vocabulary, piece() and the special ids.
// Contract (fuzz_contract.h): a tokenizer that encodes, or InputError naming what is unsupported.
#include "fuzz_contract.h"
#include "lmforge/data/hf_tokenizer.h"

using namespace lmforge::data;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string input = lmforge_fuzz_bytes(data, size);
  const size_t nul = input.find('\0');
  lmforge_fuzz_contract([&] {
    std::unique_ptr<Tokenizer> p = HfTokenizer::from_json_text(input.substr(0, nul), "fuzz/tokenizer.json");
    const Tokenizer& tok = *p;
    const int64_t n = tok.vocab_size();
    (void)tok.eos_id(), (void)tok.pad_id(), (void)tok.unk_id();
    std::vector<std::string> lines = {"", "Hello  world, the cat's 123 sat.",
                                      " caf\xC3\xA9 \xE2\x96\x81 \xF0\x9F\x98\x80 <|endoftext|> [SEP]\t\xFF"};
    if (nul != std::string::npos) lines.push_back(input.substr(nul + 1));
    for (const auto& line : lines) {
      std::vector<int64_t> ids = tok.encode(line);
      for (int64_t id : ids)
        if (id < 0 || id >= n) __builtin_trap();  // encode must stay inside the vocabulary
      (void)tok.decode(ids);
    }
    std::vector<int64_t> first;
    for (int64_t i = 0; i < n && i < 256; ++i) {
      first.push_back(i);
      (void)tok.piece(i);
    }
    (void)tok.decode(first);
  });
  return 0;
}
