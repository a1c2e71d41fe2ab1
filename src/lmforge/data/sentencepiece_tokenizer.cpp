// Subword encoding and decoding on a sentencepiece model; see sentencepiece_tokenizer.h.
// Training (running spm_train) is in sentencepiece_train.cpp.
#include "lmforge/data/sentencepiece_tokenizer.h"

#include <atomic>
#include <cfloat>
#include <cstdio>
#include <filesystem>
#include <queue>

#include "lmforge/core/error.h"
#include "lmforge/core/file_io.h"
#include "lmforge/data/text_util.h"

namespace lmforge::data {

namespace {
const char kSpace[] = "\xE2\x96\x81";  // U+2581, sentencepiece's whitespace symbol
constexpr float kUnkPenalty = 10.0f;
}  // namespace

SentencePieceTokenizer::SentencePieceTokenizer(std::string model_bytes, const std::string& path)
    : model_bytes_(std::move(model_bytes)), model_(parse_spm_model(model_bytes_, path)) {
  LMF_REQUIRE(model_.model_type == SpmModel::kUnigram || model_.model_type == SpmModel::kBpe,
              InputError, "file ", path, ": model type ", model_.model_type,
              " is not supported (expected unigram or bpe)");
  LMF_REQUIRE(!model_.has_charsmap, InputError, "file ", path, ": the model uses the '",
              model_.normalizer_name,
              "' normalisation table; lmforge encodes only models trained with "
              "--normalization_rule_name=identity");
  std::fill(std::begin(byte_id_), std::end(byte_id_), -1);
  min_score_ = FLT_MAX;
  max_score_ = FLT_MIN;
  trie_value_.push_back(-1);  // root
  for (int id = 0; id < static_cast<int>(model_.pieces.size()); ++id) {
    const SpmPiece& p = model_.pieces[id];
    std::string_view w(p.piece);
    bool fresh;
    if (p.type == SpmPiece::kNormal || p.type == SpmPiece::kUserDefined ||
        p.type == SpmPiece::kUnused) {
      fresh = pieces_.emplace(w, id).second;
      int node = 0;
      for (unsigned char c : w) {
        uint64_t key = static_cast<uint64_t>(node) << 8 | c;
        auto it = trie_edges_.find(key);
        if (it == trie_edges_.end()) {
          trie_value_.push_back(-1);
          it = trie_edges_.emplace(key, static_cast<int>(trie_value_.size()) - 1).first;
        }
        node = it->second;
      }
      trie_value_[node] = id;
    } else {
      fresh = reserved_.emplace(w, id).second;
    }
    LMF_REQUIRE(fresh, InputError, "file ", path, ": piece '", p.piece, "' appears twice");
    if (p.type == SpmPiece::kNormal) {
      min_score_ = std::min(min_score_, p.score);
      max_score_ = std::max(max_score_, p.score);
    }
    if (p.type == SpmPiece::kUserDefined) user_defined_.push_back(p.piece);
    if (p.type == SpmPiece::kUnknown) spm_unk_id_ = id;
    if (p.type == SpmPiece::kUserDefined && p.piece == "<unk>") user_unk_id_ = id;
    if (p.type == SpmPiece::kControl && p.piece == "</s>") eos_id_ = id;
    if (p.type == SpmPiece::kControl && p.piece == "<pad>") pad_id_ = id;
    unsigned b;
    char tail;
    if (p.type == SpmPiece::kByte && p.piece.size() == 6 &&
        std::sscanf(p.piece.c_str(), "<0x%2X%c", &b, &tail) == 2 && tail == '>' && b < 256)
      byte_id_[b] = id;
  }
  static std::atomic<uint64_t> next_instance{1};
  instance_id_ = next_instance++;
  segmentable_ = model_.model_type == SpmModel::kBpe;
  for (const auto& [w, id] : pieces_)
    if (w.size() > 3 && w.find(kSpace, 1) != std::string_view::npos) segmentable_ = false;
  LMF_REQUIRE(spm_unk_id_ >= 0, InputError, "file ", path, ": the model has no unknown piece");
  LMF_REQUIRE(eos_id_ >= 0 && pad_id_ >= 0, InputError, "file ", path,
              ": expected control pieces </s> and <pad> (train with --eos_id and --pad_id)");
  if (model_.byte_fallback)
    for (int b = 0; b < 256; ++b)
      LMF_REQUIRE(byte_id_[b] >= 0, InputError, "file ", path,
                  ": byte_fallback is set but a <0xNN> byte piece is missing");
}

std::unique_ptr<SentencePieceTokenizer> SentencePieceTokenizer::load(const std::string& dir,
                                                                     const std::string& kind) {
  const std::string path = dir + "/spm.model";
  LMF_REQUIRE(std::filesystem::exists(path), InputError, "file ", path,
              ": missing (a ", kind, " tokenizer directory holds tokenizer.json and spm.model)");
  auto tok = std::make_unique<SentencePieceTokenizer>(read_file(path), path);
  LMF_REQUIRE(tok->kind() == kind, InputError, "file ", path, ": holds a ", tok->kind(),
              " model but ", dir, "/tokenizer.json says ", kind);
  return tok;
}

std::string SentencePieceTokenizer::kind() const {
  return model_.model_type == SpmModel::kBpe ? "bpe" : "unigram";
}

std::string SentencePieceTokenizer::piece(int64_t id) const {
  LMF_REQUIRE(id >= 0 && id < vocab_size(), InputError, kind(), " tokenizer: token id ", id,
              " outside [0, ", vocab_size(), ")");
  return model_.pieces[id].piece;
}

std::vector<std::pair<std::string, std::string>> SentencePieceTokenizer::files() const {
  static const char* const kTypes[] = {"", "normal", "unknown", "control", "user_defined",
                                       "unused", "byte"};
  std::string vocab;
  char buf[32];
  for (const auto& p : model_.pieces) {
    std::snprintf(buf, sizeof buf, "\t%.9g\t", static_cast<double>(p.score));
    vocab += p.piece;
    vocab += buf;
    vocab += kTypes[p.type];
    vocab += '\n';
  }
  return {{"tokenizer.json", tokenizer_json(kind())},
          {"spm.model", model_bytes_},
          {"spm.vocab", std::move(vocab)}};
}

std::vector<std::pair<std::string, std::string>> SentencePieceTokenizer::fingerprint_files() const {
  auto all = files();
  std::string flags = str("model_type ", model_.model_type, "\nbyte_fallback ", model_.byte_fallback,
                          "\nnormalizer ", model_.normalizer_name, "\nadd_dummy_prefix ",
                          model_.add_dummy_prefix, "\nremove_extra_whitespaces ",
                          model_.remove_extra_whitespaces, "\nescape_whitespaces ",
                          model_.escape_whitespaces, "\n");
  return {all[0], all[2], {"normalizer", flags}};
}

size_t SentencePieceTokenizer::user_defined_prefix(std::string_view s) const {
  size_t best = 0;
  for (const auto& u : user_defined_)
    if (u.size() > best && s.substr(0, u.size()) == u) best = u.size();
  return best;
}

std::string SentencePieceTokenizer::normalize(std::string_view in) const {
  const bool squeeze = model_.remove_extra_whitespaces;
  std::string out;
  out.reserve(in.size() + in.size() / 4 + 4);
  if (squeeze)
    while (!in.empty() && in.front() == ' ') in.remove_prefix(1);
  if (in.empty()) return out;
  auto put = [&](std::string_view sp) {
    for (char c : sp) {
      if (c == ' ' && model_.escape_whitespaces) out += kSpace;
      else out += c;
    }
  };
  if (model_.add_dummy_prefix) put(" ");
  bool prev_space = squeeze;
  while (!in.empty()) {
    std::string_view sp;
    size_t consumed = user_defined_prefix(in);
    if (consumed > 0) {
      sp = in.substr(0, consumed);
    } else {
      consumed = utf8_valid_len(in.data(), in.size());
      if (consumed == 0) {
        consumed = 1;
        sp = "\xEF\xBF\xBD";  // U+FFFD for one malformed byte, as sentencepiece does
      } else {
        sp = in.substr(0, consumed);
      }
    }
    if (prev_space && squeeze)
      while (!sp.empty() && sp.front() == ' ') sp.remove_prefix(1);
    if (!sp.empty()) {
      put(sp);
      prev_space = sp.back() == ' ';
    }
    in.remove_prefix(consumed);
    if (!squeeze) prev_space = false;
  }
  if (squeeze) {
    std::string_view tail = model_.escape_whitespaces ? std::string_view(kSpace, 3) : " ";
    while (out.size() >= tail.size() &&
           std::string_view(out).substr(out.size() - tail.size()) == tail)
      out.resize(out.size() - tail.size());
  }
  return out;
}

int SentencePieceTokenizer::piece_id(std::string_view p) const {
  auto r = reserved_.find(p);
  if (r != reserved_.end()) return r->second;
  auto it = pieces_.find(p);
  return it != pieces_.end() ? it->second : spm_unk_id_;
}

int SentencePieceTokenizer::trie_child(int node, unsigned char byte) const {
  auto it = trie_edges_.find(static_cast<uint64_t>(node) << 8 | byte);
  return it == trie_edges_.end() ? -1 : it->second;
}

void SentencePieceTokenizer::encode_unigram(std::string_view s, std::vector<Segment>& out) const {
  struct Best {
    int id = -1;
    float score = 0.0f;
    int start = -1;
  };
  const int size = static_cast<int>(s.size());
  const float unk_score = min_score_ - kUnkPenalty;
  std::vector<Best> best(size + 1);
  for (int start = 0; start < size;) {
    const float till = best[start].score;
    const int mblen = static_cast<int>(utf8_len(s.data() + start, size - start));
    bool has_single = false;
    int node = 0;
    for (int end = start; end < size;) {
      node = trie_child(node, static_cast<unsigned char>(s[end]));
      ++end;
      if (node < 0) break;
      int id = trie_value_[node];
      if (id < 0 || model_.pieces[id].type == SpmPiece::kUnused) continue;
      Best& target = best[end];
      const int length = end - start;
      // Mirrors sentencepiece's arithmetic: its score is `user_defined ? length * max - 0.1 :
      // score`, a double expression, so the sum and the comparison happen in double and only the
      // stored best score is rounded to float.
      const double score = model_.pieces[id].type == SpmPiece::kUserDefined
                               ? static_cast<double>(static_cast<float>(length) * max_score_) - 0.1
                               : static_cast<double>(model_.pieces[id].score);
      const double candidate = score + static_cast<double>(till);
      if (target.start == -1 || candidate > static_cast<double>(target.score)) {
        target.score = static_cast<float>(candidate);
        target.start = start;
        target.id = id;
      }
      if (length == mblen) has_single = true;
    }
    if (!has_single) {
      Best& target = best[start + mblen];
      const float candidate = unk_score + till;
      if (target.start == -1 || candidate > target.score) {
        target.score = candidate;
        target.start = start;
        target.id = spm_unk_id_;
      }
    }
    start += mblen;
  }
  size_t first = out.size();
  for (int end = size; end > 0;) {
    const Best& b = best[end];
    out.emplace_back(s.substr(b.start, end - b.start), b.id);
    end = b.start;
  }
  std::reverse(out.begin() + first, out.end());
}

void SentencePieceTokenizer::encode_bpe(std::string_view s, std::vector<Segment>& out) const {
  struct Symbol {
    int prev, next;
    size_t begin, len;
    bool freeze;
  };
  struct Pair {
    float score;
    int left, right;
    size_t size;
  };
  // Highest score first; on equal scores the leftmost pair (sentencepiece's comparator).
  auto lower = [](const Pair& a, const Pair& b) {
    return a.score < b.score || (a.score == b.score && a.left > b.left);
  };
  std::vector<Symbol> sym;
  for (size_t pos = 0; pos < s.size();) {
    size_t len = user_defined_prefix(s.substr(pos));
    bool freeze = len > 0;
    if (!freeze) len = utf8_len(s.data() + pos, s.size() - pos);
    int index = static_cast<int>(sym.size());
    sym.push_back({index - 1, pos + len < s.size() ? index + 1 : -1, pos, len, freeze});
    pos += len;
  }
  if (sym.empty()) return;
  std::priority_queue<Pair, std::vector<Pair>, decltype(lower)> agenda(lower);
  auto maybe_add = [&](int left, int right) {
    if (left == -1 || right == -1 || sym[left].freeze || sym[right].freeze) return;
    std::string_view merged = s.substr(sym[left].begin, sym[left].len + sym[right].len);
    auto it = pieces_.find(merged);
    if (it == pieces_.end()) return;
    agenda.push({model_.pieces[it->second].score, left, right, merged.size()});
  };
  for (size_t i = 1; i < sym.size(); ++i) maybe_add(static_cast<int>(i) - 1, static_cast<int>(i));
  while (!agenda.empty()) {
    Pair top = agenda.top();
    agenda.pop();
    Symbol& l = sym[top.left];
    Symbol& r = sym[top.right];
    if (l.len == 0 || r.len == 0 || l.len + r.len != top.size) continue;  // stale pair
    l.len += r.len;
    l.next = r.next;
    if (r.next >= 0) sym[r.next].prev = top.left;
    r.len = 0;
    maybe_add(l.prev, top.left);
    maybe_add(top.left, l.next);
  }
  for (int i = 0; i != -1; i = sym[i].next) {
    std::string_view p = s.substr(sym[i].begin, sym[i].len);
    out.emplace_back(p, piece_id(p));
  }
}

void SentencePieceTokenizer::append_ids(const std::vector<Segment>& segs,
                                        std::vector<int64_t>& ids) const {
  for (const auto& [p, id] : segs) {
    if (id == spm_unk_id_ && model_.byte_fallback) {
      for (unsigned char c : p) ids.push_back(byte_id_[c]);
    } else {
      ids.push_back(id);
    }
  }
}

void SentencePieceTokenizer::encode_bpe_cached(std::string_view norm,
                                               std::vector<int64_t>& ids) const {
  struct Cache {
    uint64_t owner = 0;
    std::unordered_map<std::string, std::vector<int64_t>> map;
  };
  thread_local Cache cache;
  if (cache.owner != instance_id_) {
    cache.map.clear();
    cache.owner = instance_id_;
  }
  std::vector<Segment> segs;
  for (size_t begin = 0; begin < norm.size();) {
    size_t end = norm.find(kSpace, begin + 1);
    if (end == std::string_view::npos) end = norm.size();
    std::string key(norm.substr(begin, end - begin));
    auto it = cache.map.find(key);
    if (it == cache.map.end()) {
      segs.clear();
      encode_bpe(norm.substr(begin, end - begin), segs);
      std::vector<int64_t> seg_ids;
      append_ids(segs, seg_ids);
      if (cache.map.size() >= (1u << 18)) cache.map.clear();  // bound the memory (~20 MB)
      it = cache.map.emplace(std::move(key), std::move(seg_ids)).first;
    }
    ids.insert(ids.end(), it->second.begin(), it->second.end());
    begin = end;
  }
}

std::vector<int64_t> SentencePieceTokenizer::encode(const std::string& line) const {
  const std::string norm = normalize(line);
  std::vector<int64_t> ids;
  ids.reserve(norm.size() / 3 + 8);
  if (segmentable_) {
    encode_bpe_cached(norm, ids);
    return ids;
  }
  std::vector<Segment> segs;
  if (model_.model_type == SpmModel::kBpe) encode_bpe(norm, segs);
  else encode_unigram(norm, segs);
  append_ids(segs, ids);
  return ids;
}

std::string SentencePieceTokenizer::decode(const std::vector<int64_t>& ids) const {
  std::string out, line;  // line: the current line's surface, U+2581 not yet replaced
  auto flush = [&] {
    std::string_view v(line);
    if (model_.add_dummy_prefix && v.substr(0, 3) == kSpace) v.remove_prefix(3);
    for (size_t i = 0; i < v.size();) {
      if (v.substr(i, 3) == kSpace) {
        out += ' ';
        i += 3;
      } else {
        out += v[i++];
      }
    }
    line.clear();
  };
  for (int64_t id : ids) {
    LMF_REQUIRE(id >= 0 && id < vocab_size(), InputError, kind(), " tokenizer: token id ", id,
                " outside [0, ", vocab_size(), ")");
    const SpmPiece& p = model_.pieces[id];
    if (id == eos_id_) {
      flush();
      out += '\n';
    } else if (p.type == SpmPiece::kByte) {
      unsigned b = 0;
      std::sscanf(p.piece.c_str(), "<0x%2X>", &b);
      line += static_cast<char>(b);
    } else if (p.type == SpmPiece::kUnknown) {
      line += " \xE2\x81\x87 ";  // sentencepiece's unk surface " ⁇ "
    } else if (p.type != SpmPiece::kControl) {
      line += p.piece;
    }
  }
  flush();
  return out;
}

}  // namespace lmforge::data
