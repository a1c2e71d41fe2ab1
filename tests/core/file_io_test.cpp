// core/file_io: whole-file reads with errors naming the file, atomic replaces that keep the old
// file when anything fails, and CRC-32C (core/crc32c) against the RFC 3720 vectors.
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <random>

#include <gtest/gtest.h>

#include "../test_util.h"
#include "lmforge/core/crc32c.h"
#include "lmforge/core/error.h"
#include "lmforge/core/file_io.h"

using namespace lmforge;
using lmforge::test::TempDir;
namespace fs = std::filesystem;

namespace {

// Names in `dir` other than `keep` (stray temporary files would show up here).
std::vector<std::string> others(const std::string& dir, const std::set<std::string>& keep) {
  std::vector<std::string> v;
  for (const auto& e : fs::directory_iterator(dir))
    if (!keep.count(e.path().filename().string())) v.push_back(e.path().filename().string());
  return v;
}


// Runs f with the process's file size limit at `bytes` (writes beyond it fail with EFBIG instead
// of killing us with SIGXFSZ): a disk that fills up in the middle of a write, without a full disk.
template <class F>
void with_file_size_limit(rlim_t bytes, F&& f) {
  struct rlimit old;
  ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &old), 0);
  struct sigaction ign {}, prev {};
  ign.sa_handler = SIG_IGN;
  ::sigaction(SIGXFSZ, &ign, &prev);
  struct rlimit lim = old;
  lim.rlim_cur = bytes;
  ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &lim), 0);
  f();
  ::setrlimit(RLIMIT_FSIZE, &old);
  ::sigaction(SIGXFSZ, &prev, nullptr);
}

}  // namespace

TEST(FileIo, ReadMissingFileNamesIt) {
  TempDir d("fio");
  const std::string p = d / "nope.txt";
  const std::string msg = test::error_of<InputError>([&] { read_file(p); });
  EXPECT_NE(msg.find("'" + p + "'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("No such file"), std::string::npos) << msg;
  EXPECT_FALSE(read_file_if_exists(p).has_value());
}

TEST(FileIo, ReadFolderNamesIt) {
  TempDir d("fio");
  const std::string msg = test::error_of<InputError>([&] { read_file(d.path()); });
  EXPECT_NE(msg.find(d.path()), std::string::npos) << msg;
  EXPECT_NE(msg.find("folder"), std::string::npos) << msg;
}

TEST(FileIo, WriteThenReadRoundTrips) {
  TempDir d("fio");
  std::string big(3 << 20, '\0');  // larger than AtomicFile's buffer
  std::mt19937 rng(1);
  for (char& c : big) c = static_cast<char>(rng());
  write_file_atomic(d / "a.bin", big);
  EXPECT_EQ(read_file(d / "a.bin"), big);
  write_file_atomic(d / "a.bin", "short");
  EXPECT_EQ(read_file(d / "a.bin"), "short");
  write_file_atomic(d / "empty", "");
  EXPECT_EQ(read_file(d / "empty"), "");
  EXPECT_TRUE(others(d.path(), {"a.bin", "empty"}).empty()) << "stray temporary files";
}

TEST(FileIo, MissingFolderNamesTheFile) {
  TempDir d("fio");
  const std::string p = d / "no/such/folder/x.json";
  const std::string msg = test::error_of<InputError>([&] { write_file_atomic(p, "{}"); });
  EXPECT_NE(msg.find("'" + p + "'"), std::string::npos) << msg;
}

TEST(FileIo, TargetThatIsAFolderStaysAndNoTempFileIsLeft) {
  TempDir d("fio");
  fs::create_directories(d / "out/inner");
  test::write_text(d / "out/inner/keep.txt", "kept");
  const std::string msg = test::error_of<InputError>([&] { write_file_atomic(d / "out", "data"); });
  EXPECT_NE(msg.find("'" + d / "out" + "'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("unchanged"), std::string::npos) << msg;
  EXPECT_EQ(test::read_text(d / "out/inner/keep.txt"), "kept");
  EXPECT_TRUE(others(d.path(), {"out"}).empty()) << "stray temporary files";
}

TEST(FileIo, FailedWriteKeepsTheOldContent) {
  TempDir d("fio");
  const std::string p = d / "weights.bin";
  write_file_atomic(p, "old content");
  std::string msg;
  with_file_size_limit(64 << 10, [&] { msg = test::error_of<InputError>([&] { write_file_atomic(p, std::string(4 << 20, 'x')); }); });
  EXPECT_NE(msg.find("'" + p + "'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("File too large"), std::string::npos) << msg;  // EFBIG, as a full disk gives ENOSPC
  EXPECT_EQ(read_file(p), "old content");
  EXPECT_TRUE(others(d.path(), {"weights.bin"}).empty()) << "stray temporary files";
}

TEST(FileIo, ReadOnlyFolderKeepsTheOldContent) {
  if (::geteuid() == 0) GTEST_SKIP() << "running as root: permissions do not stop writes";
  TempDir d("fio");
  fs::create_directories(d / "ro");
  const std::string p = d / "ro/report.html";
  write_file_atomic(p, "old");
  ::chmod((d / "ro").c_str(), 0555);
  const std::string msg = test::error_of<InputError>([&] { write_file_atomic(p, "new"); });
  ::chmod((d / "ro").c_str(), 0755);
  EXPECT_NE(msg.find("'" + p + "'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("Permission denied"), std::string::npos) << msg;
  EXPECT_EQ(read_file(p), "old");
}

TEST(FileIo, AtomicFileUncommittedLeavesNothing) {
  TempDir d("fio");
  const std::string p = d / "cache.tok";
  write_file_atomic(p, "previous");
  try {
    AtomicFile f(p);
    f.write(std::string(100, 'a'));
    EXPECT_TRUE(fs::exists(f.temp_path()));
    throw std::runtime_error("tokenizer failed halfway");
  } catch (const std::runtime_error&) {
  }
  EXPECT_EQ(read_file(p), "previous");
  EXPECT_TRUE(others(d.path(), {"cache.tok"}).empty()) << "stray temporary files";
}

TEST(FileIo, AtomicFileWriteAtFillsAHeader) {
  TempDir d("fio");
  const std::string p = d / "f.bin";
  AtomicFile f(p);
  f.write("HHHH", 4);
  f.write(std::string(2 << 20, 'b'));  // past the buffer, so the header is already on disk
  f.write("tail", 4);
  f.write_at(0, "head", 4);
  EXPECT_EQ(f.size(), 4u + (2u << 20) + 4u);
  EXPECT_FALSE(fs::exists(p));  // nothing visible before commit
  f.commit();
  const std::string s = read_file(p);
  ASSERT_EQ(s.size(), 4u + (2u << 20) + 4u);
  EXPECT_EQ(s.substr(0, 4), "head");
  EXPECT_EQ(s.substr(s.size() - 4), "tail");
}

TEST(FileIo, FsyncDirOfMissingFolderNamesIt) {
  TempDir d("fio");
  EXPECT_NO_THROW(fsync_dir(d.path()));
  const std::string msg = test::error_of<InputError>([&] { fsync_dir(d / "gone"); });
  EXPECT_NE(msg.find(d / "gone"), std::string::npos) << msg;
}

TEST(FileIo, Crc32cKnownVectors) {
  // RFC 3720 B.4 and the usual check value.
  EXPECT_EQ(crc32c("123456789", 9), 0xE3069283u);
  EXPECT_EQ(crc32c("", 0), 0u);
  std::string zeros(32, '\0'), ones(32, '\xff'), inc(32, '\0');
  for (int i = 0; i < 32; ++i) inc[i] = static_cast<char>(i);
  EXPECT_EQ(crc32c(zeros.data(), 32), 0x8A9136AAu);
  EXPECT_EQ(crc32c(ones.data(), 32), 0x62A8AB43u);
  EXPECT_EQ(crc32c(inc.data(), 32), 0x46DD794Eu);
  EXPECT_EQ(crc32c_portable(inc.data(), 32), 0x46DD794Eu);
  EXPECT_EQ(crc32c_hex(0xE3069283u), "e3069283");
}

TEST(FileIo, Crc32cPathsAgreeAndChain) {
  std::mt19937 rng(7);
  std::string buf(10000, '\0');
  for (char& c : buf) c = static_cast<char>(rng());
  for (size_t off : {0, 1, 3, 7}) {
    for (size_t n : {0, 1, 7, 8, 9, 63, 64, 1000, 9990}) {
      const char* p = buf.data() + off;
      const uint32_t whole = crc32c(p, n);
      EXPECT_EQ(whole, crc32c_portable(p, n)) << off << " " << n;
      const size_t k = n / 3;
      EXPECT_EQ(crc32c(p + k, n - k, crc32c(p, k)), whole) << off << " " << n;
    }
  }
  // One flipped bit changes it.
  std::string copy = buf;
  copy[5000] ^= 0x10;
  EXPECT_NE(crc32c(copy.data(), copy.size()), crc32c(buf.data(), buf.size()));
}
