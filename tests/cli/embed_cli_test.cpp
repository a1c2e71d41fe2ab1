// `lmforge embed` end to end on a tiny pretrained encoder: the file it writes (ids, segments, mask,
// hidden, pooled) against the model's own forward run in-process on each input alone (no padding),
// mean pooling and L2 normalisation recomputed from the hidden states, and its bad inputs.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>

#include "../test_util.h"
#include "lmforge/core/safetensors.h"
#include "lmforge/data/glue_encode.h"
#include "lmforge/train/load_run.h"

using lmforge::test::run_lmforge;
using lmforge::test::TempDir;
using lmforge::test::write_text;

namespace {

// A one-layer encoder pretrained for 4 MLM steps on a 12-word vocabulary.
std::string pretrain(const TempDir& d) {
  std::string vocab = "[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\n.\n";
  const char* words[] = {"the", "movie", "was", "good", "bad", "great", "awful", "a", "film", "is", "fun", "dull"};
  for (const char* w : words) vocab += std::string(w) + "\n";
  write_text(d / "vocab.txt", vocab);
  std::string text;
  for (int i = 0; i < 100; ++i) text += std::string("the movie was ") + words[3 + i % 4] + " . a film is " + words[10 + i % 2] + " .\n";
  write_text(d / "text.txt", text);
  auto r = run_lmforge("pretrain -q --set data.train=" + (d / "text.txt") + " --set data.valid=" + (d / "text.txt") +
                       " --set data.tokenizer.vocab=" + (d / "vocab.txt") + " --set data.cache_dir=" + (d / "cache") +
                       " --set model.d_model=32 --set model.n_layers=1 --set model.block.attention.n_heads=2"
                       " --set model.block.glu.hidden=64 --set train.steps=4 --set train.batch_size=4 --set train.seq_len=16"
                       " --set train.warmup_steps=1 --set train.precision=fp32 --set train.eval_every=0"
                       " --set train.eval_batches=1 --set run.threads=1 --out " + (d / "run"));
  EXPECT_EQ(r.code, 0) << r.output;
  return d / "run";
}

}  // namespace

TEST(EmbedCli, WritesTheModelsHiddenStatesAndPooledVectors) {
  TempDir d("embedcli");
  const std::string run = pretrain(d);
  // Pairs of different lengths, so the batch pads.
  write_text(d / "pairs.txt", "the movie was good\ta film is fun .\nbad\tthe film was awful and dull .\n");
  auto r = run_lmforge("embed --checkpoint " + run + " --input " + (d / "pairs.txt") + " --pairs --normalize --threads 1 --out " +
                       (d / "e.safetensors"));
  ASSERT_EQ(r.code, 0) << r.output;
  auto t = lmforge::read_safetensors(d / "e.safetensors");
  for (const char* k : {"ids", "segments", "mask", "hidden", "pooled"}) ASSERT_TRUE(t.count(k)) << k;
  const at::Tensor ids = t["ids"], seg = t["segments"], mask = t["mask"], hidden = t["hidden"], pooled = t["pooled"];
  ASSERT_EQ(ids.size(0), 2);
  ASSERT_EQ(hidden.size(2), 32);

  lmforge::LoadedRun lr = lmforge::load_run(run, "cpu");
  lr.model->eval();
  at::NoGradGuard ng;
  const lmforge::data::GlueExample ex[2] = {{"", "the movie was good", "a film is fun ."}, {"", "bad", "the film was awful and dull ."}};
  for (int64_t i = 0; i < 2; ++i) {
    const auto e = lmforge::encode_glue_example(*lr.tokenizer, ex[i], true, 512);
    const int64_t n = static_cast<int64_t>(e.ids.size());
    EXPECT_EQ(mask[i].sum().item<int64_t>(), n);
    const at::Tensor want_ids = at::tensor(e.ids, at::kLong), want_seg = at::tensor(e.segments, at::kLong);
    EXPECT_TRUE(at::equal(ids[i].slice(0, 0, n), want_ids));
    EXPECT_TRUE(at::equal(seg[i].slice(0, 0, n), want_seg));
    EXPECT_EQ(seg[i].slice(0, 0, n).max().item<int64_t>(), 1) << "the second sentence has token type 1";
    // The oracle: the model on this input alone, without padding.
    lmforge::ForwardContext ctx;
    ctx.segments = want_seg.unsqueeze(0);
    const at::Tensor h = lr.model->hidden(want_ids.unsqueeze(0), ctx)[0];
    EXPECT_LT((hidden[i].slice(0, 0, n) - h).abs().max().item<float>(), 1e-5);
    EXPECT_EQ(hidden[i].slice(0, n).abs().sum().item<float>(), 0.f) << "pads are zero";
    at::Tensor p = h.mean(0);
    p = p / p.norm();
    EXPECT_LT((pooled[i] - p).abs().max().item<float>(), 1e-5);
    EXPECT_NEAR(pooled[i].norm().item<float>(), 1.0, 1e-5);
  }
}

TEST(EmbedCli, BadInputsAreRefusedNamingTheProblem) {
  TempDir d("embedbad");
  const std::string run = pretrain(d);
  write_text(d / "pairs.txt", "the movie\ta film\nno tab here\n");
  auto r = run_lmforge("embed --checkpoint " + run + " --input " + (d / "pairs.txt") + " --pairs --out " + (d / "e.safetensors"));
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find(":2: --pairs expects"), std::string::npos) << r.output;
  EXPECT_FALSE(std::filesystem::exists(d / "e.safetensors"));
  r = run_lmforge("embed --checkpoint " + run + " --input " + (d / "pairs.txt") + " --pool max --out " + (d / "e.safetensors"));
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("--pool must be mean or cls"), std::string::npos) << r.output;
  r = run_lmforge("embed --checkpoint " + run + " --input " + (d / "missing.txt") + " --out " + (d / "e.safetensors"));
  EXPECT_EQ(r.code, 2) << r.output;
  EXPECT_NE(r.output.find("missing.txt"), std::string::npos) << r.output;
}
