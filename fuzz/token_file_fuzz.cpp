// Fuzzes the token cache reader (data/token_file.h): TokenFile::from_bytes on the input (the same
// checks TokenFile::open runs on a mapped file), then reads every token and every line start.
// Contract (fuzz_contract.h): a token file whose every read stays inside the input, or InputError
// naming the file.
#include "fuzz_contract.h"
#include "lmforge/data/token_file.h"

using namespace lmforge::data;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // The reader casts the line table to uint64_t: a mapped file is page-aligned, so is this copy.
  std::string bytes = lmforge_fuzz_bytes(data, size);
  lmforge_fuzz_contract([&] {
    TokenFile t = TokenFile::from_bytes(bytes, "fuzz.tok");
    int64_t sum = 0;
    for (int64_t i = 0; i < t.size(); ++i) sum += t[i];
    for (int64_t l = 0; l <= t.num_lines(); ++l) {
      const int64_t s = t.line_start(l);
      if (s < 0 || s > t.size()) __builtin_trap();  // line starts must index the tokens
    }
    if (t.size() > 0) (void)t.slice(0, t.size());
    (void)sum;
  });
  return 0;
}
