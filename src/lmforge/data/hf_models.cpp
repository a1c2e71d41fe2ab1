// BPE and Unigram encoding of Hugging Face tokenizer models; the algorithms are stated in
// hf_models.h.
#include "lmforge/data/hf_models.h"

#include <cstdio>
#include <limits>

#include "lmforge/core/error.h"
#include "lmforge/data/text_util.h"

namespace lmforge::data {

namespace {

std::string pair_key(std::string_view a, std::string_view b) {
  std::string k(a);
  k += '\0';
  k += b;
  return k;
}

std::string byte_piece(unsigned char b) {
  char buf[8];
  std::snprintf(buf, sizeof(buf), "<0x%02X>", b);
  return buf;
}

// Splits into UTF-8 characters (a malformed byte is a character of its own).
std::vector<std::string> characters(std::string_view w) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < w.size()) {
    size_t n = utf8_valid_len(w.data() + i, w.size() - i);
    if (n == 0) n = 1;
    out.emplace_back(w.substr(i, n));
    i += n;
  }
  return out;
}

}  // namespace

bool byte_fallback_ids(std::string_view s, const std::unordered_map<std::string, int64_t>& vocab,
                       std::vector<int64_t>& out) {
  for (unsigned char b : s) {
    auto it = vocab.find(byte_piece(b));
    if (it == vocab.end()) return false;
    out.push_back(it->second);
  }
  return true;
}

BpeModel::BpeModel(std::unordered_map<std::string, int64_t> vocab,
                   const std::vector<std::pair<std::string, std::string>>& merges, int64_t unk_id, bool fuse_unk,
                   bool byte_fallback, bool ignore_merges, std::string origin)
    : vocab_(std::move(vocab)),
      unk_id_(unk_id),
      fuse_unk_(fuse_unk),
      byte_fallback_(byte_fallback),
      ignore_merges_(ignore_merges),
      origin_(std::move(origin)) {
  ranks_.reserve(merges.size());
  for (size_t r = 0; r < merges.size(); ++r) ranks_.emplace(pair_key(merges[r].first, merges[r].second), r);
}

void BpeModel::encode(std::string_view word, std::vector<int64_t>& out) const {
  if (word.empty()) return;
  if (ignore_merges_) {
    auto it = vocab_.find(std::string(word));
    if (it != vocab_.end()) {
      out.push_back(it->second);
      return;
    }
  }
  std::vector<std::string> sym = characters(word);
  while (sym.size() > 1) {
    int64_t best = std::numeric_limits<int64_t>::max();
    size_t at = 0;
    for (size_t i = 0; i + 1 < sym.size(); ++i) {
      auto it = ranks_.find(pair_key(sym[i], sym[i + 1]));
      if (it != ranks_.end() && it->second < best) best = it->second, at = i;
    }
    if (best == std::numeric_limits<int64_t>::max()) break;
    const std::string left = sym[at], right = sym[at + 1];
    std::vector<std::string> next;
    next.reserve(sym.size());
    for (size_t i = 0; i < sym.size();) {
      if (i + 1 < sym.size() && sym[i] == left && sym[i + 1] == right) {
        next.push_back(left + right);
        i += 2;
      } else {
        next.push_back(std::move(sym[i]));
        ++i;
      }
    }
    sym = std::move(next);
  }
  bool last_unk = false;
  for (const auto& s : sym) {
    auto it = vocab_.find(s);
    if (it != vocab_.end()) {
      out.push_back(it->second);
      last_unk = false;
    } else if (byte_fallback_ && byte_fallback_ids(s, vocab_, out)) {
      last_unk = false;
    } else {
      LMF_REQUIRE(unk_id_ >= 0, InputError, origin_, ": the BPE symbol '", s,
                  "' is not in the vocabulary and the model has no unk_token");
      if (!(fuse_unk_ && last_unk)) out.push_back(unk_id_);
      last_unk = true;
    }
  }
}

UnigramModel::UnigramModel(std::vector<std::pair<std::string, double>> pieces, int64_t unk_id, bool byte_fallback,
                           std::string origin)
    : pieces_(std::move(pieces)), unk_id_(unk_id), byte_fallback_(byte_fallback), origin_(std::move(origin)) {
  double min_score = 0;
  for (size_t i = 0; i < pieces_.size(); ++i) {
    ids_.emplace(std::string_view(pieces_[i].first), static_cast<int64_t>(i));
    min_score = std::min(min_score, pieces_[i].second);
    max_piece_bytes_ = std::max(max_piece_bytes_, pieces_[i].first.size());
  }
  unk_score_ = min_score - 10.0;  // sentencepiece's kUnkPenalty
  LMF_REQUIRE(unk_id_ >= 0 && unk_id_ < static_cast<int64_t>(pieces_.size()), InputError, origin_,
              ": the Unigram model needs an unk_id inside its vocabulary");
}

void UnigramModel::encode(std::string_view text, std::vector<int64_t>& out) const {
  const size_t n = text.size();
  if (n == 0) return;
  // best[e]: best score of a segmentation of text[0, e); from[e]: (start, id) of its last piece.
  const double kNone = -std::numeric_limits<double>::infinity();
  std::vector<double> best(n + 1, kNone);
  std::vector<std::pair<size_t, int64_t>> from(n + 1, {0, -1});
  best[0] = 0;
  for (size_t b = 0; b < n;) {
    size_t clen = utf8_valid_len(text.data() + b, n - b);
    if (clen == 0) clen = 1;
    if (best[b] != kNone) {
      bool single = false;  // a piece covering exactly this character
      for (size_t len = 1; len <= max_piece_bytes_ && b + len <= n; ++len) {
        auto it = ids_.find(text.substr(b, len));
        if (it == ids_.end() || it->second == unk_id_) continue;
        if (len == clen) single = true;
        const double s = best[b] + pieces_[it->second].second;
        if (best[b + len] == kNone || s > best[b + len]) best[b + len] = s, from[b + len] = {b, it->second};
      }
      if (!single) {
        const double s = best[b] + unk_score_;
        if (best[b + clen] == kNone || s > best[b + clen]) best[b + clen] = s, from[b + clen] = {b, unk_id_};
      }
    }
    b += clen;
  }
  std::vector<std::pair<size_t, int64_t>> path;  // (start, id), from the end
  for (size_t e = n; e > 0; e = from[e].first) path.emplace_back(from[e].first, from[e].second);
  bool last_unk = false;
  for (size_t k = path.size(); k-- > 0;) {
    const auto [start, id] = path[k];
    if (id != unk_id_) {
      out.push_back(id);
      last_unk = false;
      continue;
    }
    const size_t end = k == 0 ? n : path[k - 1].first;
    if (byte_fallback_) {
      bool ok = true;
      for (size_t i = start; i < end && ok; ++i) {
        auto it = ids_.find(byte_piece(static_cast<unsigned char>(text[i])));
        ok = it != ids_.end();
        if (ok) out.push_back(it->second);
      }
      if (ok) {
        last_unk = false;
        continue;
      }
    }
    if (!last_unk) out.push_back(unk_id_);  // consecutive unknowns fused
    last_unk = true;
  }
}

}  // namespace lmforge::data
