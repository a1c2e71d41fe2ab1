// Tokenizer plumbing shared by every kind: options validation, save/fingerprint, and the
// load/train dispatch on the kind name. The kinds themselves live in byte_tokenizer.cpp,
// word_vocab.cpp and sentencepiece_tokenizer.cpp.
#include "lmforge/data/tokenizer.h"

#include <filesystem>

#include <nlohmann/json.hpp>

#include "lmforge/core/error.h"
#include "lmforge/core/file_io.h"
#include "lmforge/data/byte_tokenizer.h"
#include "lmforge/data/hf_tokenizer.h"
#include "lmforge/data/sentencepiece_tokenizer.h"
#include "lmforge/data/text_util.h"
#include "lmforge/data/word_vocab.h"
#include "lmforge/data/wordpiece.h"

namespace lmforge::data {

namespace fs = std::filesystem;

void TokenizerOptions::validate() const {
  LMF_REQUIRE(kind == "word" || kind == "bpe" || kind == "unigram" || kind == "byte" || kind == "wordpiece" ||
                  kind == "hf",
              ConfigError, "tokenizer key 'kind': expected word, bpe, unigram, byte, wordpiece or hf, got '", kind, "'");
  LMF_REQUIRE(kind != "wordpiece" || !vocab.empty(), ConfigError,
              "tokenizer key 'vocab': kind wordpiece needs the path of a BERT vocab.txt");
  LMF_REQUIRE(kind != "hf" || !vocab.empty(), ConfigError,
              "tokenizer key 'vocab': kind hf needs a Hugging Face tokenizer.json (or a folder with one, or with "
              "GPT-2's encoder.json + vocab.bpe)");
  LMF_REQUIRE(vocab_size >= 0, ConfigError, "tokenizer key 'vocab_size': expected >= 0, got ",
              vocab_size);
  if (kind == "bpe" || kind == "unigram")
    LMF_REQUIRE(vocab_size >= 300, ConfigError, "tokenizer key 'vocab_size': ", kind,
                " needs at least 300 (4 specials + 256 byte pieces + some merges), got ",
                vocab_size);
  LMF_REQUIRE(min_count >= 1, ConfigError, "tokenizer key 'min_count': expected >= 1, got ",
              min_count);
  LMF_REQUIRE(max_lines >= 0, ConfigError, "tokenizer key 'max_lines': expected >= 0, got ",
              max_lines);
  LMF_REQUIRE(seed >= 0 && seed <= 0xFFFFFFFFLL, ConfigError,
              "tokenizer key 'seed': expected 0 .. 4294967295, got ", seed);
  LMF_REQUIRE(input_sentence_size >= 0, ConfigError,
              "tokenizer key 'input_sentence_size': expected >= 0, got ", input_sentence_size);
}

std::string tokenizer_json(const std::string& kind) {
  nlohmann::ordered_json j;
  j["format"] = "lmforge-tokenizer";
  j["version"] = 1;
  j["kind"] = kind;
  return j.dump(2) + "\n";
}

void Tokenizer::save(const std::string& dir) const {
  std::error_code ec;
  fs::create_directories(dir, ec);
  LMF_REQUIRE(!ec && fs::is_directory(dir), InputError, "directory ", dir,
              ": cannot be created (", ec.message(), ")");
  for (const auto& [name, content] : files()) write_file_atomic(dir + "/" + name, content);
}

std::string Tokenizer::fingerprint() const {
  uint64_t h = fnv1a64("lmforge-tokenizer", 17);
  for (const auto& [name, content] : fingerprint_files()) {
    uint64_t n = content.size();
    h = fnv1a64(name.data(), name.size(), h);
    h = fnv1a64(&n, sizeof n, h);
    h = fnv1a64(content.data(), content.size(), h);
  }
  return hex64(h);
}

std::unique_ptr<Tokenizer> load_tokenizer(const std::string& dir) {
  const std::string path = dir + "/tokenizer.json";
  LMF_REQUIRE(fs::exists(path), InputError, "file ", path,
              ": missing (expected a tokenizer directory written by Tokenizer::save)");
  std::string text = read_file(path);
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const std::exception& e) {
    throw InputError(str("file ", path, ": not valid JSON (", e.what(), ")"));
  }
  LMF_REQUIRE(j.is_object() && j.value("format", "") == "lmforge-tokenizer", InputError, "file ",
              path, ": expected an object with \"format\": \"lmforge-tokenizer\"");
  LMF_REQUIRE(j.value("version", 0) == 1, InputError, "file ", path,
              ": unsupported version (expected 1)");
  std::string kind = j.value("kind", "");
  if (kind == "byte") return std::make_unique<ByteTokenizer>();
  if (kind == "word") return WordTokenizer::load(dir);
  if (kind == "bpe" || kind == "unigram") return SentencePieceTokenizer::load(dir, kind);
  if (kind == "wordpiece") return WordPieceTokenizer::load(dir);
  if (kind == "hf") return HfTokenizer::load(dir);
  throw InputError(str("file ", path, ": \"kind\" must be word, bpe, unigram, byte, wordpiece or hf, got '",
                       kind, "'"));
}

std::unique_ptr<Tokenizer> train_tokenizer(const TokenizerOptions& opts,
                                           const std::string& train_file,
                                           const std::string& work_dir) {
  opts.validate();
  LMF_REQUIRE(fs::is_regular_file(train_file), InputError, "file ", train_file,
              ": missing (tokenizer training file)");
  if (opts.kind == "byte") return std::make_unique<ByteTokenizer>();
  if (opts.kind == "wordpiece") return WordPieceTokenizer::from_vocab_file(opts.vocab, opts.lower_case);
  if (opts.kind == "hf") return HfTokenizer::from_path(opts.vocab);
  if (opts.kind == "word") return WordTokenizer::train(opts, train_file);
  return SentencePieceTokenizer::train(opts, train_file, work_dir);
}

int64_t single_token_id(const Tokenizer& tok, const std::string& text) {
  for (const std::string& t : {text, " " + text}) {
    std::vector<int64_t> ids = tok.encode(t);
    if (ids.size() == 1) return ids[0];
  }
  return -1;
}

}  // namespace lmforge::data
