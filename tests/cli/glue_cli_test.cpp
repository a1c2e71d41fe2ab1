// End to end on tiny synthetic files: `lmforge pretrain` (MLM, MosaicBERT preset shrunk), `lmforge
// glue` (fine-tune, dev metrics, --out, --predict in the submission format), `lmforge advglue`
// with the saved model. Checks plumbing and file formats, not accuracy.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "../core/tensorboard_reader.h"
#include "../test_util.h"

using lmforge::test::run_lmforge;
using lmforge::test::TempDir;
using lmforge::test::write_text;

TEST(GlueCli, PretrainFinetunePredictAdvglue) {
  TempDir d("gluecli");
  std::string vocab = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n.\n,\n";
  const char* words[] = {"the", "movie", "was", "good", "bad", "great", "awful", "a", "film", "is", "fun", "dull"};
  for (const char* w : words) vocab += std::string(w) + "\n";
  write_text(d / "vocab.txt", vocab);
  std::string text;
  for (int i = 0; i < 200; ++i) text += std::string("the movie was ") + words[3 + i % 4] + " . a film is " + words[10 + i % 2] + " .\n";
  write_text(d / "text.txt", text);
  const std::string sets =
      " --set data.train=" + (d / "text.txt") + " --set data.valid=" + (d / "text.txt") + " --set data.tokenizer.vocab=" +
      (d / "vocab.txt") + " --set data.cache_dir=" + (d / "cache") +
      " --set model.d_model=32 --set model.n_layers=1 --set model.block.attention.n_heads=2"
      " --set model.block.glu.hidden=64 --set train.steps=4 --set train.batch_size=4 --set train.seq_len=16"
      " --set train.warmup_steps=1 --set train.precision=fp32 --set train.eval_every=0 --set train.eval_batches=1"
      " --set train.log_every=2 --set run.threads=1";
  auto r = run_lmforge("pretrain -q" + sets + " --out " + (d / "run"));
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("mlm_accuracy"), std::string::npos) << r.output;

  std::string glue = d / "glue";
  std::filesystem::create_directories(glue + "/SST-2");
  std::string train = "sentence\tlabel\n", dev = "sentence\tlabel\n", test = "index\tsentence\n";
  for (int i = 0; i < 40; ++i) train += std::string("the movie was ") + (i % 2 ? "good" : "bad") + " \t" + (i % 2 ? "1" : "0") + "\n";
  for (int i = 0; i < 8; ++i) dev += std::string("a film is ") + (i % 2 ? "great" : "awful") + "\t" + (i % 2 ? "1" : "0") + "\n";
  for (int i = 0; i < 5; ++i) test += std::to_string(i) + "\tthe film was fun .\n";
  write_text(glue + "/SST-2/train.tsv", train);
  write_text(glue + "/SST-2/dev.tsv", dev);
  write_text(glue + "/SST-2/test.tsv", test);
  r = run_lmforge("glue -q --json --threads 1 --task sst2 --epochs 1 --batch-size 8 --checkpoint " + (d / "run") +
                  " --data " + glue + " --out " + (d / "ft") + " --predict " + (d / "pred"));
  ASSERT_EQ(r.code, 0) << r.output;
  auto j = nlohmann::json::parse(r.output.substr(r.output.find('{')));
  EXPECT_TRUE(j["dev"]["SST-2"].contains("acc")) << r.output;
  EXPECT_FALSE(j.contains("glue_score_9"));
  std::string sub = lmforge::test::read_text(d / "pred/SST-2.tsv");
  EXPECT_EQ(sub.substr(0, 17), "index\tprediction\n") << sub;
  EXPECT_EQ(std::count(sub.begin(), sub.end(), '\n'), 6);
  // TensorBoard: pretraining's events beside its log.jsonl; the fine-tuning's in --out, per-task tags.
  ASSERT_EQ(lmforge::test::tb_event_files(d / "run").size(), 1u);
  EXPECT_EQ(lmforge::test::tb_scalars(lmforge::test::read_tb_events(lmforge::test::read_text(
                                          lmforge::test::tb_event_files(d / "run")[0])), "train/loss").size(), 2u);
  const auto ft_files = lmforge::test::tb_event_files(d / "ft");
  ASSERT_EQ(ft_files.size(), 1u);
  const auto ft_events = lmforge::test::read_tb_events(lmforge::test::read_text(ft_files[0]));
  EXPECT_EQ(lmforge::test::tb_scalars(ft_events, "SST-2/train/loss").size(), 1u);  // 5 steps, logged at the last
  const auto dev_acc = lmforge::test::tb_scalars(ft_events, "SST-2/dev/acc");
  ASSERT_EQ(dev_acc.size(), 1u);
  EXPECT_EQ(dev_acc[0].first, 5);  // after the 5 training steps (40 examples, batch 8)
  EXPECT_EQ(dev_acc[0].second, static_cast<float>(j["dev"]["SST-2"]["acc"].get<double>()));

  nlohmann::json adv = {{"sst2", {{{"idx", 0}, {"label", 1}, {"sentence", "the movie was good"}},
                                  {{"idx", 1}, {"label", 0}, {"sentence", "the movie was bad"}}}}};
  write_text(d / "dev.json", adv.dump());
  r = run_lmforge("advglue --json --threads 1 --data " + (d / "dev.json") + " --model sst2=" + (d / "ft/SST-2"));
  ASSERT_EQ(r.code, 0) << r.output;
  auto a = nlohmann::json::parse(r.output.substr(r.output.find('{')));
  EXPECT_TRUE(a["per_task"]["sst2"].contains("acc"));
  EXPECT_FALSE(a["complete"].get<bool>());
  // --optimizer / --optimizer-option (docs/optimizers.md): GaLore at rank 2 keeps less optimizer
  // state than AdamW on the same model; a KEY without '=' and an unknown key name the flag.
  const std::string opt = "glue -q --json --threads 1 --task sst2 --epochs 1 --batch-size 8 --checkpoint " + (d / "run") +
                          " --data " + glue;
  r = run_lmforge(opt + " --optimizer galore --optimizer-option rank=2 --optimizer-option 'targets=[\"*layers.*\"]'");
  ASSERT_EQ(r.code, 0) << r.output;
  auto jg = nlohmann::json::parse(r.output.substr(r.output.find('{')));
  EXPECT_LT(jg["training"]["SST-2"]["optimizer_state_bytes"].get<int64_t>(),
            j["training"]["SST-2"]["optimizer_state_bytes"].get<int64_t>());
  r = run_lmforge(opt + " --optimizer galore --optimizer-option rank");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("--optimizer-option"), std::string::npos) << r.output;
  r = run_lmforge(opt + " --optimizer galore --optimizer-option ranq=2");
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("ranq"), std::string::npos) << r.output;

  // A model of another task is refused.
  r = run_lmforge("advglue --data " + (d / "dev.json") + " --model rte=" + (d / "ft/SST-2"));
  EXPECT_EQ(r.code, 2) << r.output;
  // Unknown task name.
  r = run_lmforge("glue --task squad --checkpoint " + (d / "run") + " --data " + glue);
  EXPECT_EQ(r.code, 2) << r.output;

  // PEFT (docs/peft.md): LoRA saves only adapters + head with a pointer to its base, and advglue
  // loads it back through that pointer; MEFT fine-tunes; bad PEFT settings are clear errors.
  const std::string ft = " --epochs 1 --batch-size 8 --threads 1 --task sst2 --checkpoint " + (d / "run") + " --data " + glue;
  r = run_lmforge("glue -q --json --peft lora --set model.peft.rank=2" + ft + " --out " + (d / "lora"));
  ASSERT_EQ(r.code, 0) << r.output;
  auto state = nlohmann::json::parse(lmforge::test::read_text(d / "lora/SST-2/checkpoint/state.json"));
  EXPECT_TRUE(state.contains("peft_base")) << state.dump();
  EXPECT_LT(std::filesystem::file_size(d / "lora/SST-2/checkpoint/model.safetensors"),
            std::filesystem::file_size(d / "ft/SST-2/checkpoint/model.safetensors") / 2);
  r = run_lmforge("advglue --json --threads 1 --data " + (d / "dev.json") + " --model sst2=" + (d / "lora/SST-2"));
  ASSERT_EQ(r.code, 0) << r.output;
  // merge-lora folds the adapters into a plain model: same predictions on AdvGLUE, every weight
  // in it, no pointer to the base; a second merge into the same folder and merging a full model
  // are refused.
  r = run_lmforge("merge-lora --json --threads 1 --model " + (d / "lora/SST-2") + " --out " + (d / "merged"));
  ASSERT_EQ(r.code, 0) << r.output;
  auto mr = nlohmann::json::parse(r.output.substr(r.output.find('{')));
  EXPECT_GT(mr["merged_layers"].get<int>(), 0);
  EXPECT_LT(mr["max_logit_diff"].get<double>(), 1e-4);
  auto mstate = nlohmann::json::parse(lmforge::test::read_text(d / "merged/checkpoint/state.json"));
  EXPECT_FALSE(mstate.contains("peft_base")) << mstate.dump();
  EXPECT_EQ(lmforge::test::read_text(d / "merged/checkpoint/config.toml").find("lora"), std::string::npos);
  const std::string adv_cmd = "advglue --json --threads 1 --write-predictions ";
  r = run_lmforge(adv_cmd + (d / "p_lora.json") + " --data " + (d / "dev.json") + " --model sst2=" + (d / "lora/SST-2"));
  ASSERT_EQ(r.code, 0) << r.output;
  r = run_lmforge(adv_cmd + (d / "p_merged.json") + " --data " + (d / "dev.json") + " --model sst2=" + (d / "merged"));
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_EQ(lmforge::test::read_text(d / "p_lora.json"), lmforge::test::read_text(d / "p_merged.json"));
  r = run_lmforge("merge-lora --model " + (d / "lora/SST-2") + " --out " + (d / "merged"));
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("already holds a checkpoint"), std::string::npos) << r.output;
  r = run_lmforge("merge-lora --model " + (d / "ft/SST-2") + " --out " + (d / "merged2"));
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("not a PEFT checkpoint"), std::string::npos) << r.output;
  r = run_lmforge("glue -q --json --peft meft1" + ft);
  ASSERT_EQ(r.code, 0) << r.output;
  r = run_lmforge("glue -q --peft lora --set 'model.peft.targets=[\"*.query\"]'" + ft);
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("pattern '*.query' matches no linear layer"), std::string::npos) << r.output;
  r = run_lmforge("glue -q --set model.d_model=8" + ft);
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("only model.peft.* keys"), std::string::npos) << r.output;
}
