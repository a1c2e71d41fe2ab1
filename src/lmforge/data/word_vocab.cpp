// Word-level tokenizer; see word_vocab.h.
#include "lmforge/data/word_vocab.h"

#include <algorithm>
#include <filesystem>

#include "lmforge/core/error.h"
#include "lmforge/data/text_util.h"

namespace lmforge::data {

namespace {
const char* const kSpecials[3] = {"<pad>", "<unk>", "<eos>"};
bool is_special(std::string_view w) { return w == "<pad>" || w == "<unk>" || w == "<eos>"; }
}  // namespace

WordTokenizer::WordTokenizer(std::vector<std::string> words, std::vector<int64_t> counts)
    : words_(std::move(words)), counts_(std::move(counts)) {
  LMF_REQUIRE(words_.size() == counts_.size() && words_.size() >= 3 && words_[0] == kSpecials[0] &&
                  words_[1] == kSpecials[1] && words_[2] == kSpecials[2],
              InputError, "word vocabulary: expected <pad>, <unk>, <eos> as ids 0, 1, 2");
  ids_.reserve(words_.size() * 2);
  for (size_t i = 0; i < words_.size(); ++i) {
    bool fresh = ids_.emplace(std::string_view(words_[i]), static_cast<int64_t>(i)).second;
    LMF_REQUIRE(fresh, InputError, "word vocabulary: word '", words_[i], "' appears twice");
  }
}

std::unique_ptr<WordTokenizer> WordTokenizer::train(const TokenizerOptions& opts,
                                                    const std::string& train_file) {
  std::unordered_map<std::string, int64_t> counts;
  int64_t unk_count = 0;
  std::vector<std::string_view> words;
  for_each_line(train_file, [&](std::string_view line, int64_t number) {
    if (opts.max_lines > 0 && number > opts.max_lines) return false;
    words.clear();
    split_whitespace(line, words);
    for (auto w : words) {
      if (is_special(w)) ++unk_count;
      else ++counts[std::string(w)];
    }
    return true;
  });
  std::vector<std::pair<std::string, int64_t>> sorted;
  sorted.reserve(counts.size());
  for (auto& [w, c] : counts) {
    if (c >= opts.min_count) sorted.emplace_back(w, c);
    else unk_count += c;
  }
  std::sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) {
    return a.second != b.second ? a.second > b.second : a.first < b.first;
  });
  if (opts.vocab_size > 0 && static_cast<int64_t>(sorted.size()) + 3 > opts.vocab_size) {
    size_t keep = static_cast<size_t>(std::max<int64_t>(opts.vocab_size - 3, 0));
    for (size_t i = keep; i < sorted.size(); ++i) unk_count += sorted[i].second;
    sorted.resize(keep);
  }
  std::vector<std::string> ws = {kSpecials[0], kSpecials[1], kSpecials[2]};
  std::vector<int64_t> cs = {0, unk_count, 0};
  for (auto& [w, c] : sorted) {
    ws.push_back(std::move(w));
    cs.push_back(c);
  }
  return std::make_unique<WordTokenizer>(std::move(ws), std::move(cs));
}

std::unique_ptr<WordTokenizer> WordTokenizer::load(const std::string& dir) {
  const std::string path = dir + "/vocab.txt";
  LMF_REQUIRE(std::filesystem::exists(path), InputError, "file ", path,
              ": missing (a word tokenizer directory holds tokenizer.json and vocab.txt)");
  std::vector<std::string> ws;
  std::vector<int64_t> cs;
  for_each_line(path, [&](std::string_view line, int64_t number) {
    size_t tab = line.find('\t');
    LMF_REQUIRE(tab != std::string_view::npos && tab > 0 &&
                    line.find('\t', tab + 1) == std::string_view::npos,
                InputError, "file ", path, ":", number, ": expected 'word<TAB>count'");
    std::string_view word = line.substr(0, tab), num = line.substr(tab + 1);
    int64_t c = 0;
    bool ok = !num.empty();
    for (char ch : num) {
      if (ch < '0' || ch > '9') ok = false;
      else c = c * 10 + (ch - '0');
    }
    LMF_REQUIRE(ok, InputError, "file ", path, ":", number, ": expected a count after the tab, got '",
                std::string(num), "'");
    for (char ch : word)
      LMF_REQUIRE(!is_space(ch), InputError, "file ", path, ":", number,
                  ": a word may not contain whitespace");
    if (number <= 3)
      LMF_REQUIRE(word == kSpecials[number - 1], InputError, "file ", path, ":", number,
                  ": expected the special '", kSpecials[number - 1], "'");
    ws.emplace_back(word);
    cs.push_back(c);
    return true;
  });
  LMF_REQUIRE(ws.size() >= 3, InputError, "file ", path,
              ": expected at least the three specials <pad>, <unk>, <eos>");
  try {
    return std::make_unique<WordTokenizer>(std::move(ws), std::move(cs));
  } catch (const InputError& e) {
    throw InputError(str("file ", path, ": ", e.what()));
  }
}

int64_t WordTokenizer::id_of(std::string_view word) const {
  auto it = ids_.find(word);
  if (it == ids_.end() || it->second == kPad || it->second == kEos) return kUnk;
  return it->second;
}

std::vector<int64_t> WordTokenizer::encode(const std::string& line) const {
  std::vector<std::string_view> words;
  split_whitespace(line, words);
  std::vector<int64_t> ids(words.size());
  for (size_t i = 0; i < words.size(); ++i) ids[i] = id_of(words[i]);
  return ids;
}

std::string WordTokenizer::decode(const std::vector<int64_t>& ids) const {
  std::string out;
  bool line_start = true;
  for (int64_t id : ids) {
    LMF_REQUIRE(id >= 0 && id < vocab_size(), InputError, "word tokenizer: token id ", id,
                " outside [0, ", vocab_size(), ")");
    if (id == kPad) continue;
    if (id == kEos) {
      out += '\n';
      line_start = true;
      continue;
    }
    if (!line_start) out += ' ';
    out += words_[id];
    line_start = false;
  }
  return out;
}

std::string WordTokenizer::piece(int64_t id) const {
  LMF_REQUIRE(id >= 0 && id < vocab_size(), InputError, "word tokenizer: token id ", id,
              " outside [0, ", vocab_size(), ")");
  return words_[id];
}

std::vector<std::pair<std::string, std::string>> WordTokenizer::files() const {
  std::string vocab;
  for (size_t i = 0; i < words_.size(); ++i) {
    vocab += words_[i];
    vocab += '\t';
    vocab += std::to_string(counts_[i]);
    vocab += '\n';
  }
  return {{"tokenizer.json", tokenizer_json("word")}, {"vocab.txt", std::move(vocab)}};
}

}  // namespace lmforge::data
