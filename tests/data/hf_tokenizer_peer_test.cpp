// data/hf_tokenizer against the `tokenizers` library run live (peers environment:
// scripts/setup-peers.sh --light; skipped when it is not installed): the same ids on many lines,
// WikiText-103 validation text when ../shared/data is there, else varied generated text. The
// fixture test (hf_tokenizer_test.cpp) pins a few cases without Python; this one covers volume.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "../test_util.h"
#include "lmforge/data/hf_tokenizer.h"

using namespace lmforge;
using namespace lmforge::data;
using lmforge::test::TempDir;

namespace {

std::vector<std::string> sample_lines() {
  std::vector<std::string> lines;
  const std::string wt = test::shared_data("wikitext-103/wiki.valid.tokens");
  if (!wt.empty()) {
    std::istringstream in(test::read_text(wt));
    std::string l;
    while (lines.size() < 400 && std::getline(in, l)) lines.push_back(l);
    return lines;
  }
  const char* words[] = {"the", "Über", "naïve", "日本", "🙂", "it's", "  ", "123456", "x@y.com", "\t", "don't", "ÇA"};
  uint64_t s = 7;
  for (int i = 0; i < 400; ++i) {
    std::string l;
    for (int k = 0; k < 12; ++k) {
      s = s * 6364136223846793005ULL + 1442695040888963407ULL;
      l += words[(s >> 33) % 12];
      l += (s >> 40) % 3 ? " " : "";
    }
    lines.push_back(l);
  }
  return lines;
}

}  // namespace

TEST(HfTokenizerPeer, SameIdsAsTheLibraryOnManyLines) {
  const std::string python = test::peers_python();
  if (python.empty()) GTEST_SKIP() << "no peers environment (scripts/setup-peers.sh --light)";
  TempDir d("hftokpeer");
  const std::vector<std::string> lines = sample_lines();
  test::write_text(d / "lines.json", nlohmann::json(lines).dump());
  std::vector<std::pair<std::string, std::string>> cases;  // name, path
  for (const char* n : {"bytelevel_bpe", "llama2_bpe", "llama3_bpe", "unigram", "wordpiece"})
    cases.emplace_back(n, std::string(LMFORGE_TEST_DATA_DIR) + "/hf_tokenizers/" + n + ".json");
  const std::string gpt2 = test::shared_data("tokenizers/gpt2/encoder.json");
  if (!gpt2.empty()) cases.emplace_back("gpt2", test::shared_data("tokenizers/gpt2"));
  test::write_text(d / "peer.py",
                   "import json, os, sys\n"
                   "from tokenizers import Tokenizer, decoders, models, pre_tokenizers\n"
                   "path, lines = sys.argv[1], json.load(open(sys.argv[2]))\n"
                   "if os.path.isdir(path):\n"
                   "    t = Tokenizer(models.BPE.from_file(path + '/encoder.json', path + '/vocab.bpe'))\n"
                   "    t.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)\n"
                   "    t.add_special_tokens(['<|endoftext|>'])\n"
                   "else:\n"
                   "    t = Tokenizer.from_file(path)\n"
                   "print(json.dumps([t.encode(l, add_special_tokens=False).ids for l in lines]))\n");
  for (const auto& [name, path] : cases) {
    SCOPED_TRACE(name);
    const test::CommandResult r =
        test::run_command("'" + python + "' '" + d / "peer.py" + "' '" + path + "' '" + d / "lines.json" + "'");
    ASSERT_EQ(r.code, 0) << r.output;
    const auto want = nlohmann::json::parse(r.output.substr(r.output.find('['))).get<std::vector<std::vector<int64_t>>>();
    auto tok = HfTokenizer::from_path(path);
    ASSERT_EQ(want.size(), lines.size());
    int mismatches = 0;
    for (size_t i = 0; i < lines.size(); ++i) {
      if (tok->encode(lines[i]) != want[i] && ++mismatches <= 3) {
        ADD_FAILURE() << "line " << i << ": '" << lines[i] << "'";
      }
    }
    EXPECT_EQ(mismatches, 0) << "of " << lines.size() << " lines";
  }
}
