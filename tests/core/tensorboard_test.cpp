// TensorBoard event writer (core/tensorboard.h), read back by the test's own reader
// (tensorboard_reader.h): framing, both checksums, every field exact; damage is detected; a write
// error is a warning, never an exception; TensorBoard's own reader when it is installed.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <string>

#include "lmforge/core/tensorboard.h"
#include "../test_util.h"
#include "tensorboard_reader.h"

namespace lmforge {
namespace {

namespace fs = std::filesystem;
using test::read_tb_events;
using test::TempDir;

double now_s() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string bytes_of(std::initializer_list<int> b) {
  std::string s;
  for (int x : b) s.push_back(static_cast<char>(x));
  return s;
}

// The protobuf bytes worked out by hand from the wire format (protobuf.dev, "Encoding"):
// Event{wall_time 1.0, step 5, summary{value{tag "a", simple_value 1.0f}}}.
TEST(TensorBoard, EventEncodingMatchesTheWireFormatByHand) {
  const std::string want = bytes_of({0x09, 0, 0, 0, 0, 0, 0, 0xf0, 0x3f,  // field 1, fixed64: 1.0
                                     0x10, 0x05,                           // field 2, varint: 5
                                     0x2a, 0x0a,                           // field 5, 10 bytes: Summary
                                     0x0a, 0x08,                           //   field 1, 8 bytes: Value
                                     0x0a, 0x01, 'a',                      //     tag "a"
                                     0x15, 0, 0, 0x80, 0x3f});             //     simple_value 1.0f
  EXPECT_EQ(tensorboard_detail::encode_event(1.0, 5, "", {{"a", 1.0}}), want);
  // The file_version record: field 3 instead of a summary.
  const std::string v = tensorboard_detail::encode_event(0.0, 0, "brain.Event:2", {});
  EXPECT_EQ(v.substr(9), bytes_of({0x10, 0x00, 0x1a, 13}) + "brain.Event:2");
  // The mask of TFRecord: crc32c("") = 0, so its masked value is the constant alone.
  EXPECT_EQ(tensorboard_detail::masked_crc32c("", 0), 0xa282ead8u);
}

TEST(TensorBoard, ReadsBackKnownTagsStepsAndFloatsExactly) {
  TempDir d("tb");
  const double t0 = now_s();
  const std::string long_tag(300, 'x');  // a length that needs a two-byte varint
  std::string path;
  {
    TensorBoardWriter w(d.path());
    ASSERT_TRUE(w.ok()) << w.error();
    path = w.path();
    w.add_scalars(1, {{"train/loss", 2.5}, {"train/lr", 3e-4}});
    w.add_scalar("eval/acc", -0.125, 7);
    w.add_scalar(long_tag, 1e-30, int64_t{1} << 40);
    w.add_scalar("SST-2/dev/accuracy", 0.1, -3);  // a negative int64: a ten-byte varint
  }
  const double t1 = now_s();
  EXPECT_EQ(fs::path(path).parent_path(), fs::path(d.path()));
  EXPECT_EQ(fs::path(path).filename().string().rfind("events.out.tfevents.", 0), 0u) << path;

  const std::vector<test::TbEvent> ev = read_tb_events(test::read_text(path));
  ASSERT_EQ(ev.size(), 5u);
  EXPECT_EQ(ev[0].file_version, "brain.Event:2");
  EXPECT_TRUE(ev[0].values.empty());
  for (const auto& e : ev) {
    EXPECT_GE(e.wall_time, t0 - 1);
    EXPECT_LE(e.wall_time, t1 + 1);
  }
  EXPECT_EQ(ev[1].step, 1);
  ASSERT_EQ(ev[1].values.size(), 2u);
  EXPECT_EQ(ev[1].values[0].tag, "train/loss");
  EXPECT_EQ(ev[1].values[0].value, 2.5f);
  EXPECT_EQ(ev[1].values[1].tag, "train/lr");
  EXPECT_EQ(ev[1].values[1].value, static_cast<float>(3e-4));
  EXPECT_EQ(ev[2].step, 7);
  EXPECT_EQ(ev[2].values.at(0).tag, "eval/acc");
  EXPECT_EQ(ev[2].values.at(0).value, -0.125f);
  EXPECT_EQ(ev[3].step, int64_t{1} << 40);
  EXPECT_EQ(ev[3].values.at(0).tag, long_tag);
  EXPECT_EQ(ev[3].values.at(0).value, static_cast<float>(1e-30));
  EXPECT_EQ(ev[4].step, -3);
  EXPECT_EQ(ev[4].values.at(0).value, 0.1f);
}

TEST(TensorBoard, ReaderDetectsADamagedByteAndATruncatedFile) {
  TempDir d("tb");
  TensorBoardWriter w(d.path(), "events.out.tfevents.test");
  w.add_scalar("train/loss", 1.5, 1);
  w.add_scalar("train/loss", 1.25, 2);
  w.flush();
  const std::string good = test::read_text(w.path());
  ASSERT_EQ(read_tb_events(good).size(), 3u);
  // Every single-byte change anywhere in the file is caught by one of the two checksums (or
  // makes a length run past the end).
  for (size_t i = 0; i < good.size(); ++i) {
    std::string bad = good;
    bad[i] = static_cast<char>(bad[i] ^ 0x10);
    EXPECT_THROW(read_tb_events(bad), std::runtime_error) << "byte " << i << " of " << good.size();
  }
  std::string bad = good;
  bad[good.size() - 6] ^= 1;  // inside the last record's data
  try {
    read_tb_events(bad);
    FAIL() << "no error";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("record 2"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("data checksum"), std::string::npos) << e.what();
  }
  EXPECT_THROW(read_tb_events(good.substr(0, good.size() - 1)), std::runtime_error);
}

TEST(TensorBoard, AWriteErrorIsReportedNamingTheFileAndTrainingGoesOn) {
  // An unwritable folder: no file, no exception, the reason kept.
  TensorBoardWriter bad_dir("/proc/lmforge-no-such-folder");
  EXPECT_FALSE(bad_dir.ok());
  EXPECT_NE(bad_dir.error().find("/proc/lmforge-no-such-folder/events.out.tfevents."), std::string::npos) << bad_dir.error();
  EXPECT_NO_THROW(bad_dir.add_scalar("train/loss", 1.0, 1));
  EXPECT_NO_THROW(bad_dir.flush());

  // A full disk: /dev/full accepts the open and fails the write.
  if (!fs::exists("/dev/full")) GTEST_SKIP() << "no /dev/full here";
  TensorBoardWriter full("/dev", "full");
  EXPECT_FALSE(full.ok());  // the file_version record is flushed at once
  EXPECT_NE(full.error().find("'/dev/full'"), std::string::npos) << full.error();
  EXPECT_NE(full.error().find("No space"), std::string::npos) << full.error();
  EXPECT_NO_THROW(full.add_scalar("train/loss", 1.0, 1));
}

TEST(TensorBoard, TwoWritersInOneFolderAndSecondGetTwoFiles) {
  TempDir d("tb");
  TensorBoardWriter a(d.path()), b(d.path());
  EXPECT_NE(a.path(), b.path());
  EXPECT_EQ(test::tb_event_files(d.path()).size(), 2u);
}

// TensorBoard's own reader, from the peers environment (scripts/setup-peers.sh --light; skipped
// when it is not installed).
TEST(TensorBoard, TensorBoardsEventAccumulatorReadsTheFile) {
  const std::string python = test::peers_python();
  if (python.empty()) GTEST_SKIP() << "no peers environment (scripts/setup-peers.sh --light)";
  TempDir d("tb");
  {
    TensorBoardWriter w(d.path());
    w.add_scalars(1, {{"train/loss", 2.5}, {"train/lr", 0.001}});
    w.add_scalars(2, {{"train/loss", 2.25}, {"train/lr", 0.002}});
  }
  const std::string py = d / "read.py";
  test::write_text(py,
                   "import sys\n"
                   "from tensorboard.backend.event_processing.event_accumulator import EventAccumulator\n"
                   "ea = EventAccumulator(sys.argv[1])\n"
                   "ea.Reload()\n"
                   "for tag in sorted(ea.Tags()['scalars']):\n"
                   "    for s in ea.Scalars(tag):\n"
                   "        print(tag, s.step, repr(s.value))\n");
  const test::CommandResult r = test::run_command("'" + python + "' '" + py + "' '" + d.path() + "'");
  ASSERT_EQ(r.code, 0) << r.output;
  EXPECT_NE(r.output.find("train/loss 1 2.5\n"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("train/loss 2 2.25\n"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("train/lr 2 0.00200000"), std::string::npos) << r.output;  // 0.002 as float
}

}  // namespace
}  // namespace lmforge
