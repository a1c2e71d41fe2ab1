// train/checkpoint: the manifest (size + CRC-32C of every file) is written and checked; damage is
// an error naming the file; weights are safetensors; old checkpoints (without a manifest, or with
// pickled model.pt weights) still load; a failed save or a
// crash between the renames keeps a complete checkpoint on disk. (The SIGKILL test of the real
// binary is crash_test.cpp.)
#include <signal.h>
#include <sys/resource.h>

#include <filesystem>
#include <random>
#include <set>

#include <gtest/gtest.h>
#include <torch/nn/modules/linear.h>
#include <torch/optim/adam.h>

#include "../test_util.h"
#include <torch/serialize.h>

#include "lmforge/core/crc32c.h"
#include "lmforge/core/error.h"
#include "lmforge/core/file_io.h"
#include "lmforge/core/safetensors.h"
#include "lmforge/train/checkpoint.h"

using namespace lmforge;
using lmforge::test::TempDir;
namespace fs = std::filesystem;

namespace {

struct Tiny {
  torch::nn::Linear lin{torch::nn::LinearOptions(16, 8)};
  std::unique_ptr<torch::optim::Adam> opt;
  Tiny() {
    opt = std::make_unique<torch::optim::Adam>(lin->parameters(), torch::optim::AdamOptions(1e-3));
    // One step so the optimizer has state (exp_avg, ...) to save.
    lin->forward(torch::ones({2, 16})).sum().backward();
    opt->step();
  }
};

toml::table small_config() {
  toml::table t;
  t.insert("note", "checkpoint test");
  return t;
}

void save(const std::string& run, Tiny& m, int64_t step) {
  save_checkpoint(run, *m.lin, m.opt.get(), {{"step", step}, {"tokens", 0}}, small_config());
}

// The weights as an older lmforge (and Python's torch.save of a dict) wrote them: a pickled dict.
void write_pickled(const std::string& path, const torch::nn::Module& m) {
  c10::Dict<std::string, at::Tensor> dict;
  for (const auto& p : m.named_parameters()) dict.insert(p.key(), p.value().detach());
  std::vector<char> bytes = torch::pickle_save(c10::IValue(dict));
  test::write_text(path, std::string(bytes.data(), bytes.size()));
}

// 20 KB of random bytes written into the file at a quarter of its length (extending it if short).
void scribble(const std::string& path, uint32_t seed) {
  std::string bytes = read_file(path);
  std::mt19937 rng(seed);
  const size_t at = bytes.size() / 4;
  if (bytes.size() < at + 20480) bytes.resize(at + 20480);
  for (size_t i = 0; i < 20480; ++i) bytes[at + i] = static_cast<char>(rng());
  test::write_text(path, bytes);
}

}  // namespace

TEST(Checkpoint, ManifestListsEveryFileAndVerifies) {
  TempDir d("ckpt");
  Tiny m;
  save(d.path(), m, 3);
  const std::string c = checkpoint_dir(d.path());
  EXPECT_EQ(c, d / "checkpoint");
  nlohmann::json man = verify_checkpoint(c);
  for (const char* f : {"model.safetensors", "optimizer.pt", "state.json", "config.toml"}) {
    ASSERT_TRUE(man["files"].contains(f)) << f;
    EXPECT_EQ(man["files"][f]["bytes"].get<uint64_t>(), fs::file_size(fs::path(c) / f)) << f;
  }
  EXPECT_EQ(load_state(c)["step"], 3);
  Tiny other;
  load_weights(c + "/model.safetensors", *other.lin);
  EXPECT_TRUE(torch::equal(other.lin->weight, m.lin->weight));
  load_optimizer(c + "/optimizer.pt", *other.opt);
  // Only the published folder is left.
  std::set<std::string> names;
  for (const auto& e : fs::directory_iterator(d.path())) names.insert(e.path().filename().string());
  EXPECT_EQ(names, std::set<std::string>{"checkpoint"});
}

TEST(Checkpoint, DamagedFilesAreErrorsNamingThem) {
  for (const char* f : {"model.safetensors", "optimizer.pt", "state.json", "config.toml"}) {
    TempDir d("ckpt");
    Tiny m;
    save(d.path(), m, 1);
    const std::string c = d / "checkpoint";
    const std::string path = c + "/" + f;
    scribble(path, 11);
    std::string msg = test::error_of<InputError>([&] {
      Tiny other;
      if (std::string(f) == "model.safetensors") load_weights(path, *other.lin);
      if (std::string(f) == "optimizer.pt") load_optimizer(path, *other.opt);
      if (std::string(f) == "state.json") load_state(c);
      if (std::string(f) == "config.toml") load_checkpoint_config(c);
    });
    EXPECT_NE(msg.find("checkpoint file '" + path + "' is corrupt"), std::string::npos) << msg;
    EXPECT_EQ(msg.find("checkpoint.old"), std::string::npos) << "no older checkpoint to point to: " << msg;
    EXPECT_NE(test::error_of<InputError>([&] { verify_checkpoint(c); }).find(path), std::string::npos);
  }
}

TEST(Checkpoint, SameSizeDamageIsAChecksumMismatch) {
  TempDir d("ckpt");
  Tiny m;
  save(d.path(), m, 1);
  const std::string path = d / "checkpoint/model.safetensors";
  std::string bytes = read_file(path);
  bytes[bytes.size() / 2] ^= 0x01;  // one bit, same size
  test::write_text(path, bytes);
  const std::string msg = test::error_of<InputError>([&] {
    Tiny other;
    load_weights(path, *other.lin);
  });
  EXPECT_NE(msg.find("is corrupt (checksum mismatch"), std::string::npos) << msg;
}

TEST(Checkpoint, MalformedManifestIsNamed) {
  TempDir d("ckpt");
  Tiny m;
  save(d.path(), m, 1);
  test::write_text(d / "checkpoint/manifest.json", "{ torn");
  const std::string msg = test::error_of<InputError>([&] { load_state(d / "checkpoint"); });
  EXPECT_NE(msg.find("manifest.json' is corrupt"), std::string::npos) << msg;
}

TEST(Checkpoint, OlderCheckpointWithoutManifestLoadsWithOneWarning) {
  TempDir d("ckpt");
  Tiny m;
  save(d.path(), m, 2);
  fs::remove(d / "checkpoint/manifest.json");
  testing::internal::CaptureStderr();
  const std::string c = checkpoint_dir(d.path());
  EXPECT_EQ(load_state(c)["step"], 2);
  Tiny other;
  load_weights(c + "/model.safetensors", *other.lin);
  load_optimizer(c + "/optimizer.pt", *other.opt);
  const std::string err = testing::internal::GetCapturedStderr();
  EXPECT_NE(err.find("has no manifest.json"), std::string::npos) << err;
  EXPECT_EQ(err.find("warning"), err.rfind("warning")) << "warned more than once: " << err;
  EXPECT_TRUE(torch::equal(other.lin->weight, m.lin->weight));
}

TEST(Checkpoint, WeightsOutsideACheckpointAreNotChecked) {
  // --init-weights takes a checkpoint's safetensors file or any pickled dict (Python's torch.save):
  // no manifest, no warning.
  TempDir d("ckpt");
  Tiny m;
  save(d.path(), m, 1);
  fs::copy_file(d / "checkpoint/model.safetensors", d / "init.safetensors");
  write_pickled(d / "init.pt", *m.lin);
  testing::internal::CaptureStderr();
  Tiny a, b;
  load_weights(d / "init.safetensors", *a.lin);
  load_weights(d / "init.pt", *b.lin);
  EXPECT_EQ(testing::internal::GetCapturedStderr(), "");
  EXPECT_TRUE(torch::equal(a.lin->weight, m.lin->weight));
  EXPECT_TRUE(torch::equal(b.lin->weight, m.lin->weight));
}

TEST(Checkpoint, WeightsAreSafetensorsInTheirOwnDtypes) {
  TempDir d("ckpt");
  Tiny m;
  {
    torch::NoGradGuard ng;
    m.lin->bias.set_data(m.lin->bias.to(torch::kBFloat16));
  }
  save(d.path(), m, 1);
  const auto t = read_safetensors(d / "checkpoint/model.safetensors");
  ASSERT_EQ(t.size(), 2u);
  EXPECT_EQ(t.at("weight").scalar_type(), torch::kFloat);
  EXPECT_EQ(t.at("bias").scalar_type(), torch::kBFloat16);
  EXPECT_TRUE(torch::equal(t.at("weight"), m.lin->weight));
  EXPECT_TRUE(torch::equal(t.at("bias"), m.lin->bias));
  EXPECT_EQ(weights_path(d / "checkpoint"), d / "checkpoint/model.safetensors");
}

TEST(Checkpoint, PickledCheckpointOfAnOlderLmforgeStillLoads) {
  // Before safetensors, a checkpoint held model.pt (a pickled dict) and a manifest listing it.
  TempDir d("ckpt");
  Tiny m;
  save(d.path(), m, 4);
  const fs::path c = d / "checkpoint";
  fs::remove(c / "model.safetensors");
  write_pickled((c / "model.pt").string(), *m.lin);
  nlohmann::json man = nlohmann::json::parse(read_file((c / "manifest.json").string()));
  man["files"].erase("model.safetensors");
  const std::string bytes = read_file((c / "model.pt").string());
  man["files"]["model.pt"] = {{"bytes", bytes.size()}, {"crc32c", crc32c_hex(crc32c(bytes.data(), bytes.size()))}};
  test::write_text((c / "manifest.json").string(), man.dump());
  EXPECT_EQ(checkpoint_dir(d.path()), c.string());
  EXPECT_EQ(weights_path(c.string()), (c / "model.pt").string());
  EXPECT_EQ(weights_file_name(verify_checkpoint(c.string())), "model.pt");
  Tiny other;
  load_weights(weights_path(c.string()), *other.lin);
  EXPECT_TRUE(torch::equal(other.lin->weight, m.lin->weight));
}

TEST(Checkpoint, FailedSaveKeepsThePreviousCheckpoint) {
  TempDir d("ckpt");
  Tiny m;
  save(d.path(), m, 1);
  // The next save runs out of space (a file size limit stands in for a full disk).
  struct rlimit old;
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &old), 0);
  struct sigaction ign {}, prev {};
  ign.sa_handler = SIG_IGN;
  ::sigaction(SIGXFSZ, &ign, &prev);
  struct rlimit lim = old;
  lim.rlim_cur = 64;  // bytes: model.safetensors cannot be written
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &lim), 0);
  std::string msg = test::error_of<InputError>([&] { save(d.path(), m, 2); });
  ::setrlimit(RLIMIT_FSIZE, &old);
  ::sigaction(SIGXFSZ, &prev, nullptr);
  EXPECT_NE(msg.find("model.safetensors"), std::string::npos) << msg;
  EXPECT_NE(msg.find("File too large"), std::string::npos) << msg;
  const std::string c = checkpoint_dir(d.path());
  EXPECT_EQ(c, d / "checkpoint");
  verify_checkpoint(c);
  EXPECT_EQ(load_state(c)["step"], 1);
  for (const auto& e : fs::directory_iterator(d.path()))
    EXPECT_EQ(e.path().filename(), "checkpoint") << "left behind: " << e.path();
}

TEST(Checkpoint, CrashBetweenTheRenamesFallsBackToOld) {
  TempDir d("ckpt");
  Tiny m;
  save(d.path(), m, 4);
  // As a crash after "checkpoint -> checkpoint.old" and before "tmp -> checkpoint" leaves it,
  // with the half-written next checkpoint beside it.
  fs::rename(d / "checkpoint", d / "checkpoint.old");
  fs::create_directories(d / "checkpoint.tmp-999999");
  test::write_text(d / "checkpoint.tmp-999999/model.safetensors", "torn");
  const std::string c = checkpoint_dir(d.path());
  EXPECT_EQ(c, d / "checkpoint.old");
  verify_checkpoint(c);
  EXPECT_EQ(load_state(c)["step"], 4);
  // The next save keeps checkpoint.old until the new checkpoint is in place, then drops it and
  // the stale temporary folder.
  save(d.path(), m, 5);
  EXPECT_EQ(checkpoint_dir(d.path()), d / "checkpoint");
  EXPECT_EQ(load_state(d / "checkpoint")["step"], 5);
  EXPECT_FALSE(fs::exists(d / "checkpoint.old"));
  EXPECT_FALSE(fs::exists(d / "checkpoint.tmp-999999"));
}

TEST(Checkpoint, DamagedCheckpointNamesTheOlderOne) {
  // checkpoint/ damaged (by something else than a save) while checkpoint.old is still there: the
  // error names both and leaves the choice to the user; nothing falls back silently.
  TempDir d("ckpt");
  Tiny m;
  save(d.path(), m, 1);
  fs::copy(d / "checkpoint", d / "checkpoint.old");
  scribble(d / "checkpoint/model.safetensors", 3);
  EXPECT_EQ(checkpoint_dir(d.path()), d / "checkpoint");
  const std::string msg = test::error_of<InputError>([&] {
    Tiny other;
    load_weights(d / "checkpoint/model.safetensors", *other.lin);
  });
  EXPECT_NE(msg.find("checkpoint file '" + d / "checkpoint/model.safetensors" + "' is corrupt"), std::string::npos) << msg;
  EXPECT_NE(msg.find("'" + d / "checkpoint.old" + "'"), std::string::npos) << msg;
}
