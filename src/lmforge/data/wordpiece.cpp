// BERT's BasicTokenizer + WordpieceTokenizer; see wordpiece.h for the algorithm.
#include "lmforge/data/wordpiece.h"

#include <algorithm>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "lmforge/core/error.h"
#include "lmforge/core/file_io.h"
#include "lmforge/data/text_util.h"

namespace lmforge::data {

namespace {

struct FoldEntry {
  uint32_t cp;
  const char* to;
};
struct Range {
  uint32_t lo, hi;
};
#include "lmforge/data/bert_unicode_tables.inc"

template <size_t N>
bool in_ranges(const Range (&r)[N], uint32_t cp) {
  const Range* it = std::upper_bound(r, r + N, cp, [](uint32_t c, const Range& x) { return c < x.lo; });
  return it != r && cp <= (it - 1)->hi;
}

const char* fold_of(uint32_t cp) {
  const FoldEntry* end = kFold + sizeof(kFold) / sizeof(kFold[0]);
  const FoldEntry* it = std::lower_bound(kFold, end, cp, [](const FoldEntry& e, uint32_t c) { return e.cp < c; });
  return it != end && it->cp == cp ? it->to : nullptr;
}

// Code points of a UTF-8 string; malformed bytes are dropped (BERT decodes with errors="ignore").
std::vector<uint32_t> decode_utf8(const std::string& s) {
  std::vector<uint32_t> out;
  out.reserve(s.size());
  size_t i = 0;
  while (i < s.size()) {
    size_t n = utf8_valid_len(s.data() + i, s.size() - i);
    if (n == 0) {
      ++i;
      continue;
    }
    const auto* p = reinterpret_cast<const unsigned char*>(s.data() + i);
    uint32_t cp = n == 1 ? p[0]
                  : n == 2 ? ((p[0] & 0x1Fu) << 6) | (p[1] & 0x3Fu)
                  : n == 3 ? ((p[0] & 0x0Fu) << 12) | ((p[1] & 0x3Fu) << 6) | (p[2] & 0x3Fu)
                           : ((p[0] & 0x07u) << 18) | ((p[1] & 0x3Fu) << 12) | ((p[2] & 0x3Fu) << 6) | (p[3] & 0x3Fu);
    out.push_back(cp);
    i += n;
  }
  return out;
}

bool is_whitespace(uint32_t cp) {
  return cp == ' ' || cp == '\t' || cp == '\n' || cp == '\r' || in_ranges(kSpace, cp);
}
bool is_control(uint32_t cp) {
  if (cp == '\t' || cp == '\n' || cp == '\r') return false;
  return in_ranges(kCtrl, cp);
}
bool is_punctuation(uint32_t cp) {
  if ((cp >= 33 && cp <= 47) || (cp >= 58 && cp <= 64) || (cp >= 91 && cp <= 96) || (cp >= 123 && cp <= 126))
    return true;
  return in_ranges(kPunct, cp);
}
bool is_cjk(uint32_t cp) {
  return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) || (cp >= 0x20000 && cp <= 0x2A6DF) ||
         (cp >= 0x2A700 && cp <= 0x2B73F) || (cp >= 0x2B740 && cp <= 0x2B81F) || (cp >= 0x2B820 && cp <= 0x2CEAF) ||
         (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
}
// Python's str.split() separators (after clean-up only Zl/Zp and friends remain besides ' ').
bool is_split(uint32_t cp) { return cp == ' ' || in_ranges(kSplit, cp); }

// lower + NFD + drop Mn of one word (code points).
std::vector<uint32_t> fold_word(const std::vector<uint32_t>& w) {
  std::vector<uint32_t> out;
  out.reserve(w.size());
  for (size_t i = 0; i < w.size(); ++i) {
    uint32_t cp = w[i];
    if (cp >= 0xAC00 && cp <= 0xD7A3) {  // Hangul syllable: algorithmic NFD into jamo (kept)
      uint32_t s = cp - 0xAC00;
      out.push_back(0x1100 + s / 588);
      out.push_back(0x1161 + (s % 588) / 28);
      if (s % 28) out.push_back(0x11A7 + s % 28);
      continue;
    }
    if (cp == 0x3A3) {  // Python's Final_Sigma rule: a capital sigma ending a word becomes ς
      size_t j = i, k = i + 1;
      while (j > 0 && in_ranges(kCaseIgnorable, w[j - 1])) --j;
      while (k < w.size() && in_ranges(kCaseIgnorable, w[k])) ++k;
      const bool before = j > 0 && in_ranges(kCasedStop, w[j - 1]);
      const bool after = k < w.size() && in_ranges(kCasedStop, w[k]);
      out.push_back(before && !after ? 0x3C2 : 0x3C3);
      continue;
    }
    if (const char* f = fold_of(cp)) {
      for (uint32_t c : decode_utf8(f)) out.push_back(c);
    } else {
      out.push_back(cp);
    }
  }
  return out;
}

std::string encode_utf8(const std::vector<uint32_t>& cps, size_t b = 0, size_t e = std::string::npos) {
  std::string s;
  e = std::min(e, cps.size());
  for (size_t i = b; i < e; ++i) append_utf8(s, cps[i]);
  return s;
}

}  // namespace

std::vector<std::string> bert_basic_tokenize(const std::string& text, bool lower_case) {
  // _clean_text + _tokenize_chinese_chars
  std::vector<uint32_t> cps;
  for (uint32_t cp : decode_utf8(text)) {
    if (cp == 0 || cp == 0xFFFD || is_control(cp)) continue;
    if (is_whitespace(cp)) {
      cps.push_back(' ');
    } else if (is_cjk(cp)) {
      cps.push_back(' ');
      cps.push_back(cp);
      cps.push_back(' ');
    } else {
      cps.push_back(cp);
    }
  }
  std::vector<std::string> out;
  size_t i = 0;
  while (i < cps.size()) {
    while (i < cps.size() && is_split(cps[i])) ++i;
    size_t j = i;
    while (j < cps.size() && !is_split(cps[j])) ++j;
    if (j == i) break;
    std::vector<uint32_t> w(cps.begin() + static_cast<long>(i), cps.begin() + static_cast<long>(j));
    if (lower_case) w = fold_word(w);
    // _run_split_on_punc
    size_t start = 0;
    for (size_t k = 0; k < w.size(); ++k) {
      if (is_punctuation(w[k])) {
        if (k > start) out.push_back(encode_utf8(w, start, k));
        out.push_back(encode_utf8(w, k, k + 1));
        start = k + 1;
      }
    }
    if (start < w.size()) out.push_back(encode_utf8(w, start));
    i = j;
  }
  return out;
}

WordPieceTokenizer::WordPieceTokenizer(std::vector<std::string> vocab, bool lower_case, std::string origin)
    : vocab_(std::move(vocab)), lower_(lower_case) {
  for (size_t i = 0; i < vocab_.size(); ++i) {
    auto [it, fresh] = index_.emplace(vocab_[i], static_cast<int64_t>(i));
    LMF_REQUIRE(fresh, InputError, "file ", origin, " line ", i + 1, ": piece '", vocab_[i],
                "' repeats line ", it->second + 1);
  }
  auto need = [&](const char* name) {
    auto it = index_.find(name);
    LMF_REQUIRE(it != index_.end(), InputError, "file ", origin, ": no ", name,
                " piece (expected a BERT vocab.txt with [PAD], [UNK], [CLS], [SEP], [MASK])");
    return it->second;
  };
  unk_ = need("[UNK]"), cls_ = need("[CLS]"), sep_ = need("[SEP]"), pad_ = need("[PAD]"), mask_ = need("[MASK]");
}

std::unique_ptr<WordPieceTokenizer> WordPieceTokenizer::from_vocab_file(const std::string& path, bool lower_case) {
  std::vector<std::string> v;
  for_each_line(path, [&](std::string_view line, int64_t) {
    // BERT's load_vocab strips each line (whitespace at both ends).
    size_t b = 0, e = line.size();
    while (b < e && is_space(line[b])) ++b;
    while (e > b && is_space(line[e - 1])) --e;
    v.emplace_back(line.substr(b, e - b));
    return true;
  });
  return std::make_unique<WordPieceTokenizer>(std::move(v), lower_case, path);
}

std::unique_ptr<WordPieceTokenizer> WordPieceTokenizer::load(const std::string& dir) {
  const std::string meta = dir + "/tokenizer.json";
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(read_file(meta));
  } catch (const nlohmann::json::exception& e) {
    throw InputError(str("file ", meta, ": not valid JSON (", e.what(), ")"));
  }
  return from_vocab_file(dir + "/vocab.txt", j.value("lower_case", true));
}

void WordPieceTokenizer::wordpiece(const std::string& word, std::vector<int64_t>& out) const {
  std::vector<uint32_t> cps = decode_utf8(word);
  if (cps.size() > 100) {
    out.push_back(unk_);
    return;
  }
  // Byte offsets of each code point, so candidate substrings are byte ranges.
  std::vector<size_t> off(cps.size() + 1, 0);
  for (size_t i = 0; i < cps.size(); ++i) {
    off[i + 1] = off[i] + (cps[i] < 0x80 ? 1 : cps[i] < 0x800 ? 2 : cps[i] < 0x10000 ? 3 : 4);
  }
  const std::string w = encode_utf8(cps);
  const size_t mark = out.size();
  size_t start = 0;
  std::string cand;
  while (start < cps.size()) {
    size_t end = cps.size();
    int64_t found = -1;
    while (start < end) {
      cand.assign(start > 0 ? "##" : "");
      cand.append(w, off[start], off[end] - off[start]);
      auto it = index_.find(cand);
      if (it != index_.end()) {
        found = it->second;
        break;
      }
      --end;
    }
    if (found < 0) {
      out.resize(mark);
      out.push_back(unk_);
      return;
    }
    out.push_back(found);
    start = end;
  }
}

std::vector<int64_t> WordPieceTokenizer::encode(const std::string& line) const {
  std::vector<int64_t> ids;
  for (const std::string& w : bert_basic_tokenize(line, lower_)) wordpiece(w, ids);
  return ids;
}

std::vector<std::string> WordPieceTokenizer::tokenize(const std::string& text) const {
  std::vector<std::string> out;
  for (int64_t id : encode(text)) out.push_back(vocab_[static_cast<size_t>(id)]);
  return out;
}

std::string WordPieceTokenizer::decode(const std::vector<int64_t>& ids) const {
  std::string out;
  for (int64_t id : ids) {
    LMF_REQUIRE(id >= 0 && id < vocab_size(), InputError, "wordpiece tokenizer: token id ", id, " outside [0, ",
                vocab_size(), ")");
    if (id == pad_ || id == cls_) continue;
    if (id == sep_) {
      out += '\n';
      continue;
    }
    const std::string& p = vocab_[static_cast<size_t>(id)];
    if (p.size() >= 2 && p[0] == '#' && p[1] == '#') {
      out += p.substr(2);
    } else {
      if (!out.empty() && out.back() != '\n') out += ' ';
      out += p;
    }
  }
  return out;
}

std::string WordPieceTokenizer::piece(int64_t id) const {
  return id >= 0 && id < vocab_size() ? vocab_[static_cast<size_t>(id)] : str("<bad id ", id, ">");
}

std::vector<std::pair<std::string, std::string>> WordPieceTokenizer::files() const {
  nlohmann::ordered_json j;
  j["format"] = "lmforge-tokenizer";
  j["version"] = 1;
  j["kind"] = "wordpiece";
  j["lower_case"] = lower_;
  std::string v;
  for (const auto& p : vocab_) v += p + "\n";
  return {{"tokenizer.json", j.dump(2) + "\n"}, {"vocab.txt", v}};
}

EncodedPair WordPieceTokenizer::encode_pair(const std::string& a, const std::string* b, int64_t max_len) const {
  std::vector<int64_t> ta = encode(a), tb;
  if (b) tb = encode(*b);
  const size_t budget = static_cast<size_t>(std::max<int64_t>(max_len - (b ? 3 : 2), 0));
  // _truncate_seq_pair: pop from the longer one.
  while (ta.size() + tb.size() > budget) {
    if (ta.size() > tb.size()) ta.pop_back();
    else tb.pop_back();
  }
  EncodedPair p;
  p.ids.push_back(cls_);
  p.ids.insert(p.ids.end(), ta.begin(), ta.end());
  p.ids.push_back(sep_);
  p.segments.assign(p.ids.size(), 0);
  if (b) {
    p.ids.insert(p.ids.end(), tb.begin(), tb.end());
    p.ids.push_back(sep_);
    p.segments.resize(p.ids.size(), 1);
  }
  return p;
}

}  // namespace lmforge::data
