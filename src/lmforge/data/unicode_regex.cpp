// PCRE2 wrapper for the tokenizer pre-tokenizers; see unicode_regex.h.
#define PCRE2_CODE_UNIT_WIDTH 8
#include "lmforge/data/unicode_regex.h"

#include <pcre2.h>

#include "lmforge/core/error.h"

namespace lmforge::data {

const char* const kGpt2Pattern = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

struct UnicodeRegex::Impl {
  pcre2_code* code = nullptr;
  std::string origin;
};

UnicodeRegex::UnicodeRegex(const std::string& pattern, const std::string& origin) : impl_(std::make_unique<Impl>()) {
  impl_->origin = origin;
  int err = 0;
  PCRE2_SIZE at = 0;
  impl_->code = pcre2_compile(reinterpret_cast<PCRE2_SPTR>(pattern.data()), pattern.size(), PCRE2_UTF | PCRE2_UCP,
                              &err, &at, nullptr);
  if (!impl_->code) {
    PCRE2_UCHAR msg[256];
    pcre2_get_error_message(err, msg, sizeof(msg));
    throw InputError(str(origin, ": regular expression does not compile at offset ", at, " (",
                         reinterpret_cast<const char*>(msg), "): ", pattern));
  }
  pcre2_jit_compile(impl_->code, PCRE2_JIT_COMPLETE);  // a failure only means the interpreter runs
}

UnicodeRegex::~UnicodeRegex() {
  if (impl_ && impl_->code) pcre2_code_free(impl_->code);
}

std::vector<std::pair<size_t, size_t>> UnicodeRegex::find_all(std::string_view text) const {
  std::vector<std::pair<size_t, size_t>> out;
  pcre2_match_data* md = pcre2_match_data_create_from_pattern(impl_->code, nullptr);
  LMF_REQUIRE(md, InputError, impl_->origin, ": out of memory for a regex match");
  size_t pos = 0;
  uint32_t options = 0;
  while (pos <= text.size()) {
    const int rc = pcre2_match(impl_->code, reinterpret_cast<PCRE2_SPTR>(text.data()), text.size(), pos, options, md,
                               nullptr);
    if (rc == PCRE2_ERROR_NOMATCH) break;
    if (rc < 0) {
      pcre2_match_data_free(md);
      PCRE2_UCHAR msg[256];
      pcre2_get_error_message(rc, msg, sizeof(msg));
      throw InputError(str(impl_->origin, ": cannot match the pre-tokenizer pattern (",
                           reinterpret_cast<const char*>(msg), ")"));
    }
    const PCRE2_SIZE* ov = pcre2_get_ovector_pointer(md);
    const size_t b = ov[0], e = ov[1];
    if (e > b) {
      out.emplace_back(b, e);
      pos = e;
      options = PCRE2_NO_UTF_CHECK;  // checked on the first call
    } else {
      // An empty match: step over one whole UTF-8 character.
      pos = e + 1;
      while (pos < text.size() && (static_cast<unsigned char>(text[pos]) & 0xC0) == 0x80) ++pos;
      options = PCRE2_NO_UTF_CHECK;
    }
  }
  pcre2_match_data_free(md);
  return out;
}

}  // namespace lmforge::data
