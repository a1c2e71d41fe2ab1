// data/hf_tokenizer: Hugging Face tokenizer.json files give the ids and text that the reference
// library (tokenizers 0.21) gives. The fixtures were written by bench/peers/hf_tokenizer_reference.py:
// four small tokenizers trained by the library (GPT-2-style byte-level BPE; Llama-2-style BPE with
// Metaspace normalizers and byte fallback; Llama-3-style regex Split + byte-level BPE with
// ignore_merges; Unigram with Metaspace; BERT-style WordPiece) and the library's encodings of 15 strings; plus GPT-2's
// own encoder.json + vocab.bpe from ../shared/data (skipped when absent).
#include <filesystem>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "../test_util.h"
#include "lmforge/core/error.h"
#include "lmforge/data/hf_tokenizer.h"

using namespace lmforge;
using namespace lmforge::data;
using lmforge::test::TempDir;
namespace fs = std::filesystem;

namespace {

const std::string kFixtures = std::string(LMFORGE_TEST_DATA_DIR) + "/hf_tokenizers";

nlohmann::json expected() { return nlohmann::json::parse(test::read_text(kFixtures + "/expected.json")); }

// Our decode() writes the end-of-sequence token as "\n" (the engine's line convention).
std::string as_we_decode(std::string s, const Tokenizer& t) {
  const std::string eos = t.piece(t.eos_id());
  for (size_t at = s.find(eos); at != std::string::npos; at = s.find(eos, at + 1)) s.replace(at, eos.size(), "\n");
  return s;
}

void check_cases(const Tokenizer& t, const nlohmann::json& cases, bool check_decode) {
  for (const auto& c : cases) {
    const std::string text = c["text"].get<std::string>();
    SCOPED_TRACE("text '" + text + "'");
    const std::vector<int64_t> want = c["ids"].get<std::vector<int64_t>>();
    EXPECT_EQ(t.encode(text), want);
    if (check_decode) {
      EXPECT_EQ(t.decode(want), as_we_decode(c["decoded"].get<std::string>(), t));
    }
  }
}

}  // namespace

TEST(HfTokenizer, EncodesAndDecodesAsTheReferenceLibrary) {
  const nlohmann::json e = expected();
  for (const char* name : {"bytelevel_bpe", "llama2_bpe", "llama3_bpe", "unigram"}) {
    SCOPED_TRACE(name);
    auto t = HfTokenizer::from_path(kFixtures + "/" + name + ".json");
    EXPECT_EQ(t->kind(), "hf");
    check_cases(*t, e[name], true);
  }
  // A WordPiece file becomes our WordPiece tokenizer (BERT's basic tokenizer, lower-cased here);
  // its decode() follows our WordPiece's convention, so only the ids are compared.
  auto wp = HfTokenizer::from_path(kFixtures + "/wordpiece.json");
  EXPECT_EQ(wp->kind(), "wordpiece");
  check_cases(*wp, e["wordpiece"], false);
}

TEST(HfTokenizer, SpecialIdsComeFromTheFile) {
  auto bpe = HfTokenizer::from_path(kFixtures + "/bytelevel_bpe.json");
  EXPECT_EQ(bpe->piece(bpe->eos_id()), "<|endoftext|>");
  EXPECT_EQ(bpe->pad_id(), bpe->eos_id());  // no pad token: padding uses the eos id
  EXPECT_EQ(bpe->unk_id(), -1);             // byte-level BPE has no unknowns
  auto uni = HfTokenizer::from_path(kFixtures + "/unigram.json");
  EXPECT_EQ(uni->piece(uni->eos_id()), "</s>");
  EXPECT_EQ(uni->piece(uni->pad_id()), "<pad>");
  EXPECT_EQ(uni->piece(uni->unk_id()), "<unk>");
}

TEST(HfTokenizer, Gpt2FilesGiveGpt2Ids) {
  const std::string dir = test::shared_data("tokenizers/gpt2/encoder.json").empty() ? "" : test::shared_data("tokenizers/gpt2");
  if (dir.empty()) GTEST_SKIP() << "no ../shared/data/tokenizers/gpt2";
  auto t = HfTokenizer::from_path(dir);
  EXPECT_EQ(t->vocab_size(), 50257);
  EXPECT_EQ(t->eos_id(), 50256);
  check_cases(*t, expected()["gpt2"], true);
}

TEST(HfTokenizer, SavedAndLoadedItEncodesTheSame) {
  TempDir d("hftok");
  auto t = HfTokenizer::from_path(kFixtures + "/llama3_bpe.json");
  t->save(d / "tok");
  auto back = load_tokenizer(d / "tok");
  EXPECT_EQ(back->kind(), "hf");
  EXPECT_EQ(back->fingerprint(), t->fingerprint());
  // The Hugging Face file is kept verbatim (export-hf writes it back).
  EXPECT_EQ(test::read_text(d / "tok/hf_tokenizer.json"), test::read_text(kFixtures + "/llama3_bpe.json"));
  check_cases(*back, expected()["llama3_bpe"], true);
}

TEST(HfTokenizer, UnsupportedOrBrokenFilesAreClearErrors) {
  TempDir d("hftok");
  nlohmann::json j = nlohmann::json::parse(test::read_text(kFixtures + "/unigram.json"));
  j["normalizer"] = {{"type", "NFKC"}};
  test::write_text(d / "nfkc.json", j.dump());
  std::string msg = test::error_of<InputError>([&] { HfTokenizer::from_path(d / "nfkc.json"); });
  EXPECT_NE(msg.find("normalizer 'NFKC' is not supported"), std::string::npos) << msg;
  EXPECT_NE(msg.find(d / "nfkc.json"), std::string::npos) << msg;
  test::write_text(d / "broken.json", "{\"model\": {\"type\": \"BPE\", \"vocab\": ");
  msg = test::error_of<InputError>([&] { HfTokenizer::from_path(d / "broken.json"); });
  EXPECT_NE(msg.find("not valid JSON"), std::string::npos) << msg;
  j = nlohmann::json::parse(test::read_text(kFixtures + "/bytelevel_bpe.json"));
  j["added_tokens"] = nlohmann::json::array();
  j["model"]["vocab"].erase("<|endoftext|>");
  test::write_text(d / "noeos.json", j.dump());
  msg = test::error_of<InputError>([&] { HfTokenizer::from_path(d / "noeos.json"); });
  EXPECT_NE(msg.find("no end-of-sequence token"), std::string::npos) << msg;
  msg = test::error_of<InputError>([&] { HfTokenizer::from_path(d.path()); });
  EXPECT_NE(msg.find("holds none of tokenizer.json"), std::string::npos) << msg;
}

// Fuzz regressions (fuzz/hf_tokenizer_fuzz.cpp). A value of the wrong JSON type ("byte_fallback":
// "BPE") made nlohmann throw a type_error out of the reader ("internal error"); now an InputError
// naming the file. A WordPiece id of 2^62 sized the vocabulary by itself; now refused.
TEST(HfTokenizer, FuzzWrongJsonTypesAreInputErrors) {
  const std::string crash =
      R"({"version": "1.0", "added_tokens": [{"id": 0, "content": "<|zndoftext|>", "special": true, )"
      R"("single_word": false, "lstrip": false, "rstrip": false, "normalized": false}], "normalizer": null, )"
      R"("pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "trim_offsets": true, "use_regex": true}, )"
      R"("model": {"type": "BPE", "dropout": null, "unk_token": null, "continuing_subword_prefix": null, "": null, )"
      R"("fuse_unk": false, "byte_fallback": "BPE", "dropout": null, "unk_token": null, )"
      R"("continu@ing_subword_prefix": null, "end_of_word_suffix": null, "futoken": false, "vocab": {"<|endoftext|>": 0, )"
      R"("a": 1, "b": 2, "ab": 3, "\u0120": 4, "\u0120ab": 5}, "merges": ["a b", "\u0120 ab"]}, "decoder": )"
      R"({"type": "ByteLevel", "add_prefix_space": true, "trim_offsets": true, "use_regex": true}})";
  std::string msg = test::error_of<InputError>([&] { HfTokenizer t(crash, "crash/tokenizer.json"); });
  EXPECT_NE(msg.find("crash/tokenizer.json: not a valid Hugging Face tokenizer.json (a value has the wrong type"),
            std::string::npos)
      << msg;
  EXPECT_NE(msg.find("type must be boolean, but is string"), std::string::npos) << msg;
  msg = test::error_of<InputError>([&] { HfTokenizer::from_json_text(crash, "crash/tokenizer.json"); });
  EXPECT_NE(msg.find("a value has the wrong type"), std::string::npos) << msg;
  // The WordPiece branch of from_json_text: a type error there, and an id past 2^31.
  msg = test::error_of<InputError>(
      [&] { HfTokenizer::from_json_text(
        R"({"model": {"type": "WordPiece", "vocab": {"[UNK]": 0}}, "normalizer": {"lowercase": "yes"}})", "wp.json");
  });
  EXPECT_NE(msg.find("wp.json: not a valid Hugging Face tokenizer.json"), std::string::npos) << msg;
  msg = test::error_of<InputError>([&] {
    HfTokenizer::from_json_text(R"({"model": {"type": "WordPiece", "vocab": {"[UNK]": 4611686018427387904}}})", "wp.json");
  });
  EXPECT_NE(msg.find("wp.json: model.vocab ids must be integers in [0, 2^31), got 4611686018427387904 for '[UNK]'"),
            std::string::npos)
      << msg;
}
