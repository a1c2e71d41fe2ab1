// Hugging Face tokenizer.json: parsing into a pipeline and running it; see hf_tokenizer.h.
#include "lmforge/data/hf_tokenizer.h"

#include <algorithm>
#include <cwctype>
#include <filesystem>
#include <functional>
#include <optional>

#include <nlohmann/json.hpp>

#include "lmforge/core/error.h"
#include "lmforge/core/file_io.h"
#include "lmforge/data/byte_level.h"
#include "lmforge/data/hf_models.h"
#include "lmforge/data/text_util.h"
#include "lmforge/data/unicode_regex.h"
#include "lmforge/data/wordpiece.h"

namespace lmforge::data {

namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

// One piece of text on its way through the pipeline.
using Splits = std::vector<std::string>;
using Step = std::function<void(Splits&, bool first)>;  // first: the input's first segment

std::string type_of(const json& j, const std::string& where) {
  LMF_REQUIRE(j.is_object() && j.contains("type") && j["type"].is_string(), InputError, where,
              ": expected an object with a \"type\"");
  return j["type"].get<std::string>();
}

void replace_all(std::string& s, const std::string& from, const std::string& to) {
  if (from.empty()) return;
  for (size_t at = s.find(from); at != std::string::npos; at = s.find(from, at + to.size())) s.replace(at, from.size(), to);
}

std::string lowercase(std::string_view s) {
  std::string out;
  size_t i = 0;
  while (i < s.size()) append_utf8(out, static_cast<uint32_t>(std::towlower(static_cast<wint_t>(utf8_next(s, i)))));
  return out;
}

std::string literal_pattern(const json& p, const std::string& where) {
  LMF_REQUIRE(p.is_object() && p.contains("String") && p["String"].is_string(), InputError, where,
              ": only {\"String\": ...} patterns are supported here");
  return p["String"].get<std::string>();
}

// Splits `s` at the matches of a pattern according to the tokenizers library's SplitDelimiterBehavior.
Splits split_by(const std::string& s, const std::vector<std::pair<size_t, size_t>>& m, const std::string& behavior,
                const std::string& where) {
  Splits out;
  size_t prev = 0;
  std::string carry;  // MergedWithNext: the match waiting for its following text
  for (const auto& [b, e] : m) {
    std::string gap = s.substr(prev, b - prev), match = s.substr(b, e - b);
    if (behavior == "Isolated") {
      if (!gap.empty()) out.push_back(gap);
      out.push_back(match);
    } else if (behavior == "Removed") {
      if (!gap.empty()) out.push_back(gap);
    } else if (behavior == "MergedWithPrevious") {
      out.push_back(gap + match);
    } else if (behavior == "MergedWithNext") {
      if (!(carry + gap).empty()) out.push_back(carry + gap);
      carry = match;
    } else {
      throw InputError(str(where, ": Split behavior '", behavior,
                           "' is not supported (Isolated, Removed, MergedWithPrevious, MergedWithNext)"));
    }
    prev = e;
  }
  std::string tail = carry + s.substr(prev);
  if (!tail.empty()) out.push_back(tail);
  return out;
}

}  // namespace

struct HfTokenizer::Impl {
  std::string origin;
  std::vector<std::pair<std::string, int64_t>> added;  // content -> id, longest first
  std::vector<Step> normalize, pre_tokenize;
  std::vector<std::function<void(std::vector<std::string>&)>> decoders;
  bool has_decoder = false;
  std::unique_ptr<BpeModel> bpe;
  std::unique_ptr<UnigramModel> unigram;
  std::vector<std::string> id_to_piece;
  std::vector<std::unique_ptr<UnicodeRegex>> regexes;  // owned by the steps that use them
  int64_t eos = -1, pad = -1, unk = -1;

  const UnicodeRegex& regex(const std::string& pattern) {
    regexes.push_back(std::make_unique<UnicodeRegex>(pattern, origin));
    return *regexes.back();
  }
  void add_normalizer(const json& j, const std::string& where);
  void add_pre_tokenizer(const json& j, const std::string& where);
  void add_decoder(const json& j, const std::string& where);
  void run_model(const std::string& piece, std::vector<int64_t>& out) const {
    if (bpe) bpe->encode(piece, out);
    else unigram->encode(piece, out);
  }
};

void HfTokenizer::Impl::add_normalizer(const json& j, const std::string& where) {
  if (j.is_null()) return;
  const std::string t = type_of(j, where);
  if (t == "Sequence") {
    for (size_t i = 0; i < j.value("normalizers", json::array()).size(); ++i)
      add_normalizer(j["normalizers"][i], str(where, ".normalizers[", i, "]"));
  } else if (t == "Lowercase") {
    normalize.push_back([](Splits& s, bool) {
      for (auto& x : s) x = lowercase(x);
    });
  } else if (t == "Replace") {
    const std::string from = literal_pattern(j.value("pattern", json()), where), to = j.value("content", "");
    normalize.push_back([from, to](Splits& s, bool) {
      for (auto& x : s) replace_all(x, from, to);
    });
  } else if (t == "Prepend") {
    const std::string p = j.value("prepend", "");
    normalize.push_back([p](Splits& s, bool) {
      for (auto& x : s)
        if (!x.empty()) x = p + x;
    });
  } else if (t == "Strip") {
    const bool left = j.value("strip_left", true), right = j.value("strip_right", true);
    normalize.push_back([left, right](Splits& s, bool) {
      for (auto& x : s) {
        size_t b = 0, e = x.size();
        while (left && b < e && is_space(x[b])) ++b;
        while (right && e > b && is_space(x[e - 1])) --e;
        x = x.substr(b, e - b);
      }
    });
  } else {
    throw InputError(str(where, ": normalizer '", t,
                         "' is not supported (Sequence, Lowercase, Replace, Prepend, Strip; Unicode normal forms and "
                         "sentencepiece's Precompiled charsmap are not implemented)"));
  }
}

void HfTokenizer::Impl::add_pre_tokenizer(const json& j, const std::string& where) {
  if (j.is_null()) return;
  const std::string t = type_of(j, where);
  if (t == "Sequence") {
    for (size_t i = 0; i < j.value("pretokenizers", json::array()).size(); ++i)
      add_pre_tokenizer(j["pretokenizers"][i], str(where, ".pretokenizers[", i, "]"));
  } else if (t == "ByteLevel") {
    const bool prefix = j.value("add_prefix_space", false), use_regex = j.value("use_regex", true);
    const UnicodeRegex* re = use_regex ? &regex(kGpt2Pattern) : nullptr;
    pre_tokenize.push_back([prefix, re](Splits& s, bool) {
      Splits out;
      for (auto& x : s) {
        if (prefix && (x.empty() || x[0] != ' ')) x = " " + x;
        if (!re) {
          out.push_back(bytes_to_byte_level(x));
          continue;
        }
        for (const auto& [b, e] : re->find_all(x)) out.push_back(bytes_to_byte_level(std::string_view(x).substr(b, e - b)));
      }
      s = std::move(out);
    });
  } else if (t == "Split") {
    const json& p = j.value("pattern", json());
    LMF_REQUIRE(!j.value("invert", false), InputError, where, ": Split with invert = true is not supported");
    const std::string behavior = j.value("behavior", "Isolated");
    std::string pattern;
    bool is_regex = p.is_object() && p.contains("Regex");
    pattern = is_regex ? p["Regex"].get<std::string>() : literal_pattern(p, where);
    const UnicodeRegex* re = is_regex ? &regex(pattern) : nullptr;
    const std::string w = where;
    pre_tokenize.push_back([re, pattern, behavior, w](Splits& s, bool) {
      Splits out;
      for (const auto& x : s) {
        std::vector<std::pair<size_t, size_t>> m;
        if (re) {
          m = re->find_all(x);
        } else if (!pattern.empty()) {
          for (size_t at = x.find(pattern); at != std::string::npos; at = x.find(pattern, at + pattern.size()))
            m.emplace_back(at, at + pattern.size());
        }
        for (auto& y : split_by(x, m, behavior, w)) out.push_back(std::move(y));
      }
      s = std::move(out);
    });
  } else if (t == "Metaspace") {
    const std::string rep = j.value("replacement", "\xE2\x96\x81");
    std::string scheme = j.value("prepend_scheme", "");
    if (scheme.empty()) scheme = j.value("add_prefix_space", true) ? "always" : "never";
    LMF_REQUIRE(scheme == "always" || scheme == "first" || scheme == "never", InputError, where,
                ": prepend_scheme must be always, first or never");
    const bool split = j.value("split", true);
    pre_tokenize.push_back([rep, scheme, split](Splits& s, bool first) {
      Splits out;
      for (auto& x : s) {
        replace_all(x, " ", rep);
        if ((scheme == "always" || (scheme == "first" && first)) && x.rfind(rep, 0) != 0) x = rep + x;
        if (!split) {
          out.push_back(x);
          continue;
        }
        size_t b = 0;  // each piece begins at a replacement character (MergedWithNext)
        for (size_t at = x.find(rep, rep.size()); at != std::string::npos; at = x.find(rep, at + rep.size())) {
          out.push_back(x.substr(b, at - b));
          b = at;
        }
        if (b < x.size()) out.push_back(x.substr(b));
      }
      s = std::move(out);
    });
  } else if (t == "Whitespace" || t == "WhitespaceSplit") {
    const UnicodeRegex& re = regex(t == "Whitespace" ? R"(\w+|[^\w\s]+)" : R"(\S+)");
    pre_tokenize.push_back([&re](Splits& s, bool) {
      Splits out;
      for (const auto& x : s)
        for (const auto& [b, e] : re.find_all(x)) out.push_back(x.substr(b, e - b));
      s = std::move(out);
    });
  } else {
    throw InputError(str(where, ": pre-tokenizer '", t,
                         "' is not supported (Sequence, ByteLevel, Split, Metaspace, Whitespace, WhitespaceSplit)"));
  }
}

void HfTokenizer::Impl::add_decoder(const json& j, const std::string& where) {
  if (j.is_null()) return;
  has_decoder = true;
  const std::string t = type_of(j, where);
  using Tokens = std::vector<std::string>;
  if (t == "Sequence") {
    for (size_t i = 0; i < j.value("decoders", json::array()).size(); ++i)
      add_decoder(j["decoders"][i], str(where, ".decoders[", i, "]"));
  } else if (t == "ByteLevel") {
    decoders.push_back([](Tokens& ts) {
      std::string all;
      for (const auto& x : ts) all += x;
      std::string bytes;
      if (!byte_level_to_bytes(all, bytes)) bytes = all;  // a piece outside the alphabet: kept as it is
      ts = {bytes};
    });
  } else if (t == "Metaspace") {
    const std::string rep = j.value("replacement", "\xE2\x96\x81");
    std::string scheme = j.value("prepend_scheme", "");
    if (scheme.empty()) scheme = j.value("add_prefix_space", true) ? "always" : "never";
    decoders.push_back([rep, scheme](Tokens& ts) {
      for (size_t i = 0; i < ts.size(); ++i) {
        replace_all(ts[i], rep, " ");
        if (i == 0 && scheme != "never" && !ts[i].empty() && ts[i][0] == ' ') ts[i].erase(0, 1);
      }
    });
  } else if (t == "Replace") {
    const std::string from = literal_pattern(j.value("pattern", json()), where), to = j.value("content", "");
    decoders.push_back([from, to](Tokens& ts) {
      for (auto& x : ts) replace_all(x, from, to);
    });
  } else if (t == "ByteFallback") {
    decoders.push_back([](Tokens& ts) {
      for (auto& x : ts)
        if (x.size() == 6 && x.rfind("<0x", 0) == 0 && x[5] == '>')
          x = std::string(1, static_cast<char>(std::stoi(x.substr(3, 2), nullptr, 16)));
    });
  } else if (t == "Fuse") {
    decoders.push_back([](Tokens& ts) {
      std::string all;
      for (const auto& x : ts) all += x;
      ts = {all};
    });
  } else if (t == "Strip") {
    const std::string c = j.value("content", " ");
    const int64_t start = j.value("start", int64_t{0}), stop = j.value("stop", int64_t{0});
    decoders.push_back([c, start, stop](Tokens& ts) {
      for (auto& x : ts) {
        for (int64_t k = 0; k < start && x.rfind(c, 0) == 0; ++k) x.erase(0, c.size());
        for (int64_t k = 0; k < stop && x.size() >= c.size() && x.compare(x.size() - c.size(), c.size(), c) == 0; ++k)
          x.erase(x.size() - c.size());
      }
    });
  } else {
    throw InputError(str(where, ": decoder '", t,
                         "' is not supported (ByteLevel, Metaspace, Replace, ByteFallback, Fuse, Strip, Sequence)"));
  }
}

namespace {

json parse_json(const std::string& text, const std::string& origin) {
  try {
    return json::parse(text);
  } catch (const json::exception& e) {
    throw InputError(str(origin, ": not valid JSON (", e.what(), ")"));
  }
}

}  // namespace

// A value of the wrong JSON type (a string where a boolean belongs, ...) makes nlohmann throw a
// type_error from value()/get(); it is the file's fault, so it becomes an InputError naming it
// (found by fuzz/hf_tokenizer_fuzz.cpp). The pipeline is built here only: encode never reads JSON.
HfTokenizer::HfTokenizer(std::string json_text, const std::string& origin) try
    : json_(std::move(json_text)), impl_(std::make_unique<Impl>()) {
  Impl& m = *impl_;
  m.origin = origin;
  const json j = parse_json(json_, origin);
  LMF_REQUIRE(j.is_object() && j.contains("model") && j["model"].is_object(), InputError, origin,
              ": not a Hugging Face tokenizer.json (no \"model\" object)");
  const json& model = j["model"];
  const std::string type = model.value("type", std::string(model.contains("merges") ? "BPE" : ""));
  std::unordered_map<std::string, int64_t> vocab;
  auto note = [&](const std::string& piece, int64_t id) {
    LMF_REQUIRE(id >= 0 && id < (int64_t{1} << 31), InputError, origin, ": token id ", id, " out of range");
    if (static_cast<int64_t>(m.id_to_piece.size()) <= id) m.id_to_piece.resize(id + 1);
    m.id_to_piece[id] = piece;
  };
  if (type == "BPE") {
    LMF_REQUIRE(model.contains("vocab") && model["vocab"].is_object(), InputError, origin, ": model.vocab must be an object");
    LMF_REQUIRE(model.value("continuing_subword_prefix", json()).is_null() || model["continuing_subword_prefix"] == "",
                InputError, origin, ": BPE continuing_subword_prefix is not supported");
    LMF_REQUIRE(model.value("end_of_word_suffix", json()).is_null() || model["end_of_word_suffix"] == "", InputError,
                origin, ": BPE end_of_word_suffix is not supported");
    for (const auto& [piece, id] : model["vocab"].items()) {
      LMF_REQUIRE(id.is_number_integer(), InputError, origin, ": model.vocab['", piece, "'] must be an integer id");
      vocab[piece] = id.get<int64_t>();
      note(piece, id.get<int64_t>());
    }
    std::vector<std::pair<std::string, std::string>> merges;
    for (const auto& mj : model.value("merges", json::array())) {
      if (mj.is_string()) {  // "left right" (the older form)
        const std::string s = mj.get<std::string>();
        const size_t sp = s.find(' ');
        LMF_REQUIRE(sp != std::string::npos, InputError, origin, ": merge '", s, "' is not \"left right\"");
        merges.emplace_back(s.substr(0, sp), s.substr(sp + 1));
      } else {
        LMF_REQUIRE(mj.is_array() && mj.size() == 2 && mj[0].is_string() && mj[1].is_string(), InputError, origin,
                    ": a merge must be \"left right\" or [left, right]");
        merges.emplace_back(mj[0].get<std::string>(), mj[1].get<std::string>());
      }
    }
    const json unk = model.value("unk_token", json());
    if (unk.is_string()) {
      auto it = vocab.find(unk.get<std::string>());
      LMF_REQUIRE(it != vocab.end(), InputError, origin, ": unk_token '", unk.get<std::string>(), "' is not in the vocabulary");
      m.unk = it->second;
    }
    m.bpe = std::make_unique<BpeModel>(vocab, merges, m.unk, model.value("fuse_unk", false),
                                       model.value("byte_fallback", false), model.value("ignore_merges", false), origin);
  } else if (type == "Unigram") {
    std::vector<std::pair<std::string, double>> pieces;
    for (const auto& pj : model.value("vocab", json::array())) {
      LMF_REQUIRE(pj.is_array() && pj.size() == 2 && pj[0].is_string() && pj[1].is_number(), InputError, origin,
                  ": Unigram vocab entries must be [piece, score]");
      note(pj[0].get<std::string>(), static_cast<int64_t>(pieces.size()));
      vocab[pj[0].get<std::string>()] = static_cast<int64_t>(pieces.size());
      pieces.emplace_back(pj[0].get<std::string>(), pj[1].get<double>());
    }
    m.unk = model.value("unk_id", json()).is_number_integer() ? model["unk_id"].get<int64_t>() : -1;
    m.unigram = std::make_unique<UnigramModel>(std::move(pieces), m.unk, model.value("byte_fallback", false), origin);
  } else {
    throw InputError(str(origin, ": model type '", type, "' is not supported here (BPE, Unigram; WordPiece is read by "
                                                         "HfTokenizer::from_path)"));
  }
  for (const auto& a : j.value("added_tokens", json::array())) {
    LMF_REQUIRE(a.is_object() && a.contains("id") && a.contains("content"), InputError, origin,
                ": added_tokens entries need id and content");
    const std::string c = a["content"].get<std::string>();
    m.added.emplace_back(c, a["id"].get<int64_t>());
    note(c, a["id"].get<int64_t>());
    vocab[c] = a["id"].get<int64_t>();
  }
  std::stable_sort(m.added.begin(), m.added.end(),
                   [](const auto& a, const auto& b) { return a.first.size() > b.first.size(); });
  m.add_normalizer(j.value("normalizer", json()), origin + ": normalizer");
  m.add_pre_tokenizer(j.value("pre_tokenizer", json()), origin + ": pre_tokenizer");
  m.add_decoder(j.value("decoder", json()), origin + ": decoder");
  auto find = [&](std::initializer_list<const char*> names) -> int64_t {
    for (const char* n : names) {
      auto it = vocab.find(n);
      if (it != vocab.end()) return it->second;
    }
    return -1;
  };
  m.eos = find({"<|endoftext|>", "</s>", "<|end_of_text|>", "<eos>", "[SEP]"});
  LMF_REQUIRE(m.eos >= 0, InputError, origin,
              ": no end-of-sequence token (<|endoftext|>, </s>, <|end_of_text|>, <eos> or [SEP]) in the vocabulary");
  m.pad = find({"<pad>", "[PAD]", "<|pad|>"});
  if (m.pad < 0) m.pad = m.eos;
} catch (const nlohmann::json::exception& e) {
  throw InputError(str(origin, ": not a valid Hugging Face tokenizer.json (a value has the wrong type: ", e.what(), ")"));
}

HfTokenizer::~HfTokenizer() = default;

std::vector<int64_t> HfTokenizer::encode(const std::string& line) const {
  const Impl& m = *impl_;
  std::vector<int64_t> out;
  size_t seg_start = 0;
  bool first = true;
  auto flush = [&](size_t end) {
    if (end <= seg_start) return;
    Splits s{line.substr(seg_start, end - seg_start)};
    for (const auto& n : m.normalize) n(s, first);
    for (const auto& p : m.pre_tokenize) p(s, first);
    for (const auto& piece : s) m.run_model(piece, out);
    first = false;
  };
  size_t i = 0;
  while (i < line.size()) {
    bool hit = false;
    for (const auto& [content, id] : m.added) {
      if (!content.empty() && line.compare(i, content.size(), content) == 0) {
        flush(i);
        out.push_back(id);
        i += content.size();
        seg_start = i;
        first = false;
        hit = true;
        break;
      }
    }
    if (!hit) ++i;
  }
  flush(line.size());
  return out;
}

std::string HfTokenizer::decode(const std::vector<int64_t>& ids) const {
  const Impl& m = *impl_;
  std::string text;
  std::vector<std::string> run;
  auto flush = [&] {
    if (run.empty()) return;
    for (const auto& d : m.decoders) d(run);
    for (size_t k = 0; k < run.size(); ++k) text += (k > 0 && !m.has_decoder ? " " : "") + run[k];
    run.clear();
  };
  for (int64_t id : ids) {
    LMF_REQUIRE(id >= 0 && id < vocab_size(), InputError, "token id ", id, " is outside the vocabulary (",
                vocab_size(), " ids)");
    if (id == m.eos) {
      flush();
      text += "\n";
    } else if (id != m.pad) {
      run.push_back(m.id_to_piece[id]);
    }
  }
  flush();
  return text;
}

int64_t HfTokenizer::vocab_size() const { return static_cast<int64_t>(impl_->id_to_piece.size()); }
int64_t HfTokenizer::eos_id() const { return impl_->eos; }
int64_t HfTokenizer::unk_id() const { return impl_->unk; }
int64_t HfTokenizer::pad_id() const { return impl_->pad; }

std::string HfTokenizer::piece(int64_t id) const {
  LMF_REQUIRE(id >= 0 && id < vocab_size(), InputError, "token id ", id, " is outside the vocabulary");
  return impl_->id_to_piece[id];
}

std::vector<std::pair<std::string, std::string>> HfTokenizer::files() const {
  return {{"tokenizer.json", tokenizer_json("hf")}, {"hf_tokenizer.json", json_}};
}

std::unique_ptr<Tokenizer> HfTokenizer::load(const std::string& dir) {
  const std::string path = (fs::path(dir) / "hf_tokenizer.json").string();
  LMF_REQUIRE(fs::exists(path), InputError, "file ", path, ": missing (a tokenizer of kind hf)");
  return std::make_unique<HfTokenizer>(read_file(path), path);
}

std::unique_ptr<Tokenizer> HfTokenizer::from_path(const std::string& path) {
  fs::path p(path);
  if (fs::is_directory(p)) {
    if (fs::exists(p / "tokenizer.json")) return from_path((p / "tokenizer.json").string());
    for (auto [v, mg] : {std::pair{"encoder.json", "vocab.bpe"}, std::pair{"vocab.json", "merges.txt"}})
      if (fs::exists(p / v) && fs::exists(p / mg))
        return std::make_unique<HfTokenizer>(gpt2_files_to_tokenizer_json((p / v).string(), (p / mg).string()),
                                             (p / v).string());
    throw InputError(str("tokenizer folder '", path,
                         "' holds none of tokenizer.json, encoder.json + vocab.bpe, vocab.json + merges.txt"));
  }
  LMF_REQUIRE(fs::exists(p), InputError, "tokenizer file '", path, "' does not exist");
  return from_json_text(read_file(path), path);
}

std::unique_ptr<Tokenizer> HfTokenizer::from_json_text(std::string text, const std::string& path) {
  const json j = parse_json(text, path);
  try {
    if (j.is_object() && j.contains("model") && j["model"].is_object() && j["model"].value("type", "") == "WordPiece") {
      const json& model = j["model"];
      std::vector<std::string> vocab;
      const json vocab_json = model.value("vocab", json::object());
      for (const auto& [piece, id] : vocab_json.items()) {
        // Bounded as the other models' ids are: a huge id would size the vocabulary by itself.
        LMF_REQUIRE(id.is_number_integer() && id.get<int64_t>() >= 0 && id.get<int64_t>() < (int64_t{1} << 31),
                    InputError, path, ": model.vocab ids must be integers in [0, 2^31), got ", id.dump(), " for '",
                    piece, "'");
        if (static_cast<int64_t>(vocab.size()) <= id.get<int64_t>()) vocab.resize(id.get<int64_t>() + 1);
        vocab[id.get<int64_t>()] = piece;
      }
      for (size_t i = 0; i < vocab.size(); ++i)
        LMF_REQUIRE(!vocab[i].empty(), InputError, path, ": WordPiece vocabulary has no token with id ", i);
      const json norm = j.value("normalizer", json());
      const bool lower = norm.is_object() && norm.value("lowercase", false);
      return std::make_unique<WordPieceTokenizer>(std::move(vocab), lower, path);
    }
  } catch (const nlohmann::json::exception& e) {
    throw InputError(str(path, ": not a valid Hugging Face tokenizer.json (a value has the wrong type: ", e.what(), ")"));
  }
  return std::make_unique<HfTokenizer>(std::move(text), path);
}

std::string gpt2_files_to_tokenizer_json(const std::string& vocab_json_path, const std::string& merges_path) {
  const json vocab = parse_json(read_file(vocab_json_path), vocab_json_path);
  LMF_REQUIRE(vocab.is_object(), InputError, vocab_json_path, ": expected an object piece -> id");
  json merges = json::array();
  for_each_line(merges_path, [&](std::string_view line, int64_t n) {
    if (line.empty() || line.rfind("#version", 0) == 0) return true;
    const size_t sp = line.find(' ');
    LMF_REQUIRE(sp != std::string_view::npos, InputError, merges_path, ":", n, ": expected \"left right\"");
    merges.push_back(std::string(line));
    return true;
  });
  json j;
  j["version"] = "1.0";
  j["added_tokens"] = json::array();
  if (vocab.contains("<|endoftext|>"))
    j["added_tokens"].push_back({{"id", vocab["<|endoftext|>"]}, {"content", "<|endoftext|>"}, {"single_word", false},
                                 {"lstrip", false}, {"rstrip", false}, {"normalized", true}, {"special", true}});
  j["normalizer"] = nullptr;
  j["pre_tokenizer"] = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", true}};
  j["post_processor"] = {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", false}, {"use_regex", true}};
  j["decoder"] = {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", true}, {"use_regex", true}};
  j["model"] = {{"type", "BPE"},          {"dropout", nullptr},     {"unk_token", nullptr},
                {"continuing_subword_prefix", ""}, {"end_of_word_suffix", ""}, {"fuse_unk", false},
                {"byte_fallback", false}, {"vocab", vocab},         {"merges", merges}};
  return j.dump();
}

}  // namespace lmforge::data
