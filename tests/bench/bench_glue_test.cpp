// The GLUE part of a benchmark suite end to end on tiny files the test writes (seconds): two
// encoder recipes MLM-pretrained for a few steps on the suite's corpus (its corpus file + the
// tasks' training texts), fine-tuned on SST-2 and RTE, a task without data skipped, the dev scores
// in results.json, results.md and the HTML report. Checks plumbing, not accuracy. Also: a decoder
// in a [glue] suite is refused at planning time with a message naming the model.
#include <filesystem>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "../core/tensorboard_reader.h"
#include "../test_util.h"

namespace lmforge {
namespace {

using nlohmann::json;
using test::read_text;
using test::run_lmforge;
using test::TempDir;
using test::write_text;
namespace fs = std::filesystem;

// A data folder with corpus.txt, vocab.txt, glue/SST-2 and glue/RTE (train + dev).
void write_data(const std::string& d) {
  fs::create_directories(d);
  std::string vocab = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n.\n,\n";
  const char* words[] = {"the", "movie", "was", "good", "bad", "great", "awful", "a", "film", "is", "fun", "dull"};
  for (const char* w : words) vocab += std::string(w) + "\n";
  write_text(d + "/vocab.txt", vocab);
  std::string text;
  for (int i = 0; i < 100; ++i) text += std::string("the movie was ") + words[3 + i % 4] + " . a film is " + words[10 + i % 2] + " .\n";
  write_text(d + "/corpus.txt", text);
  fs::create_directories(d + "/glue/SST-2");
  fs::create_directories(d + "/glue/RTE");
  std::string train = "sentence\tlabel\n", dev = "sentence\tlabel\n";
  for (int i = 0; i < 30; ++i) train += std::string("the movie was ") + (i % 2 ? "good" : "bad") + "\t" + (i % 2 ? "1" : "0") + "\n";
  for (int i = 0; i < 6; ++i) dev += std::string("a film is ") + (i % 2 ? "great" : "awful") + "\t" + (i % 2 ? "1" : "0") + "\n";
  write_text(d + "/glue/SST-2/train.tsv", train);
  write_text(d + "/glue/SST-2/dev.tsv", dev);
  std::string rte = "index\tsentence1\tsentence2\tlabel\n";
  for (int i = 0; i < 10; ++i)
    rte += std::to_string(i) + "\tthe film is fun .\ta movie is " + (i % 2 ? "fun" : "dull") + " .\t" +
           (i % 2 ? "entailment" : "not_entailment") + "\n";
  write_text(d + "/glue/RTE/train.tsv", rte);
  write_text(d + "/glue/RTE/dev.tsv", rte);
}

std::string suite_text(const std::string& d, const std::string& second_model) {
  return R"(
description = "tiny glue"
[requires]
data = ["glue/SST-2/train.tsv"]
[budget]
steps = 3
[defaults]
set = ["data.tokenizer.vocab=\")" + d + R"(/vocab.txt\"", "data.valid=\"corpus.txt\"", "model.d_model=32",
       "model.n_layers=1", "model.block.attention.n_heads=2", "train.seq_len=16", "train.batch_size=4",
       "train.warmup_steps=1", "train.precision=\"fp32\"", "train.eval_every=0", "train.eval_batches=1",
       "train.log_every=1", "run.threads=1"]
[[models]]
name = "bert"
configs = ["bert-tiny"]
[[models]]
)" + second_model + R"(
[eval]
infer_seconds = 0.05
[glue]
tasks = ["SST-2", "RTE", "CoLA"]
corpus = ["corpus.txt"]
epochs = 1
batch_size = 8
[glue.task.SST-2]
max_train = 20
)";
}

TEST(BenchGlue, PretrainFinetuneAndReport) {
  TempDir tmp("benchglue");
  const std::string data = tmp / "data";
  write_data(data);
  write_text(tmp / "s.toml", suite_text(data, "name = \"mosaic\"\nconfigs = [\"mosaicbert-tiny\"]\nset = [\"model.block.glu.hidden=64\"]"));
  auto r = run_lmforge("bench --suite " + tmp / "s.toml" + " --data " + data + " --no-progress --out " + tmp / "o");
  ASSERT_EQ(r.code, 0) << r.output;
  const json res = json::parse(read_text(tmp / "o/results.json"));
  // The corpus: 100 lines of corpus.txt + 30 SST-2 sentences + 10 RTE pairs (2 lines each); CoLA has no data.
  EXPECT_EQ(res["suites"][0]["corpus"]["lines"], 100 + 30 + 20);
  ASSERT_EQ(res["runs"].size(), 2u);
  for (const auto& run : res["runs"]) {
    ASSERT_EQ(run["status"], "ok") << run.dump(2);
    const json& m = run["metrics"];
    EXPECT_EQ(m["quality_metric"], "glue_mean");
    EXPECT_FALSE(m.contains("word_ppl")) << "an encoder has no next-word perplexity";
    EXPECT_TRUE(m["glue"]["dev"]["SST-2"].contains("acc")) << m.dump(2);
    EXPECT_TRUE(m["glue"]["dev"]["RTE"].contains("acc")) << m.dump(2);
    EXPECT_EQ(m["glue"]["skipped"], json::array({"CoLA"}));
    const double mean = (m["glue"]["task_score"]["SST-2"].get<double>() + m["glue"]["task_score"]["RTE"].get<double>()) / 2;
    EXPECT_NEAR(m["quality"].get<double>(), mean, 1e-9);
    EXPECT_NE(run["command"].get<std::string>().find("lmforge glue --task SST-2"), std::string::npos);
    EXPECT_NE(run["command"].get<std::string>().find("--max-train 20"), std::string::npos);
    // TensorBoard: the pretraining's events and one file per fine-tuned task, all in the run folder.
    std::vector<test::TbEvent> ev;
    for (const auto& f : test::tb_event_files(run["run_dir"].get<std::string>()))
      for (auto& e : test::read_tb_events(read_text(f))) ev.push_back(std::move(e));
    EXPECT_EQ(test::tb_event_files(run["run_dir"].get<std::string>()).size(), 3u);
    EXPECT_FALSE(test::tb_scalars(ev, "train/loss").empty());
    for (const char* t : {"SST-2", "RTE"}) {
      EXPECT_FALSE(test::tb_scalars(ev, std::string(t) + "/train/loss").empty()) << t;
      const auto acc = test::tb_scalars(ev, std::string(t) + "/dev/acc");
      ASSERT_EQ(acc.size(), 1u) << t;
      EXPECT_EQ(acc[0].second, static_cast<float>(m["glue"]["dev"][t]["acc"].get<double>())) << t;
    }
  }
  EXPECT_NE(read_text(tmp / "o/results.md").find("GLUE dev scores"), std::string::npos);
  EXPECT_NE(read_text(tmp / "o/report.html").find("id=\"glue\""), std::string::npos);
}

TEST(BenchGlue, DecoderModelIsRefusedByName) {
  TempDir tmp("benchglue");
  const std::string data = tmp / "data";
  write_data(data);
  write_text(tmp / "s.toml", suite_text(data, "name = \"gpt\"\nconfigs = [\"mqar\"]"));
  auto r = run_lmforge("bench --suite " + tmp / "s.toml" + " --data " + data + " --no-progress --dry-run --out " + tmp / "o");
  ASSERT_EQ(r.code, 0) << r.output;  // a plan error is recorded per model; the others still run
  const json res = json::parse(read_text(tmp / "o/results.json"));
  ASSERT_EQ(res["runs"].size(), 2u);
  EXPECT_EQ(res["runs"][1]["status"], "failed");
  EXPECT_NE(res["runs"][1]["error"].get<std::string>().find("model 'gpt' has model.kind = \"decoder\""), std::string::npos)
      << res["runs"][1].dump(2);
}

}  // namespace
}  // namespace lmforge
