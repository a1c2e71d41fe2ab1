// TensorBoard event writer; the format is described in tensorboard.h.
#include "lmforge/core/tensorboard.h"

#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "lmforge/core/crc32c.h"
#include "lmforge/core/error.h"
#include "lmforge/core/log.h"

namespace lmforge {

namespace fs = std::filesystem;

namespace tensorboard_detail {
namespace {

// Protobuf wire types (protobuf.dev/programming-guides/encoding): the key is (field << 3) | type.
enum Wire : uint32_t { kVarint = 0, kFixed64 = 1, kLengthDelimited = 2, kFixed32 = 5 };

void put_varint(std::string& s, uint64_t v) {
  while (v >= 0x80) {
    s.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  s.push_back(static_cast<char>(v));
}

void put_key(std::string& s, uint32_t field, Wire w) { put_varint(s, (field << 3) | w); }

// Little-endian, byte by byte: the file is the same on any host.
template <class U>
void put_le(std::string& s, U v) {
  for (size_t i = 0; i < sizeof(U); ++i) s.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

void put_bytes(std::string& s, uint32_t field, const std::string& bytes) {
  put_key(s, field, kLengthDelimited);
  put_varint(s, bytes.size());
  s += bytes;
}

}  // namespace

uint32_t masked_crc32c(const void* data, size_t n) {
  const uint32_t c = crc32c(data, n);
  return ((c >> 15) | (c << 17)) + 0xa282ead8u;
}

std::string encode_event(double wall_time, int64_t step, const std::string& file_version,
                         const std::vector<std::pair<std::string, double>>& values) {
  std::string ev;
  uint64_t wt;
  std::memcpy(&wt, &wall_time, sizeof wt);
  put_key(ev, 1, kFixed64);
  put_le(ev, wt);
  put_key(ev, 2, kVarint);
  put_varint(ev, static_cast<uint64_t>(step));  // int64: two's complement as uint64
  if (!file_version.empty()) {
    put_bytes(ev, 3, file_version);
    return ev;
  }
  std::string summary;
  for (const auto& [tag, v] : values) {
    std::string value;
    put_bytes(value, 1, tag);
    const float f = static_cast<float>(v);
    uint32_t bits;
    std::memcpy(&bits, &f, sizeof bits);
    put_key(value, 2, kFixed32);
    put_le(value, bits);
    put_bytes(summary, 1, value);
  }
  put_bytes(ev, 5, summary);
  return ev;
}

std::string frame_record(const std::string& data) {
  std::string r;
  put_le(r, static_cast<uint64_t>(data.size()));
  put_le(r, masked_crc32c(r.data(), 8));
  r += data;
  put_le(r, masked_crc32c(data.data(), data.size()));
  return r;
}

}  // namespace tensorboard_detail

namespace {

double unix_seconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

std::string default_file_name() {
  static std::atomic<int> counter{0};
  char host[256] = "localhost";
  if (::gethostname(host, sizeof host - 1) != 0) std::strcpy(host, "localhost");
  host[sizeof host - 1] = '\0';
  for (char* c = host; *c; ++c)
    if (*c == '/') *c = '_';
  return str("events.out.tfevents.", static_cast<int64_t>(unix_seconds()), ".", host, ".", ::getpid(), ".",
             counter.fetch_add(1));
}

}  // namespace

TensorBoardWriter::TensorBoardWriter(const std::string& dir, const std::string& file_name) {
  path_ = (fs::path(dir) / (file_name.empty() ? default_file_name() : file_name)).string();
  std::error_code ec;
  fs::create_directories(dir, ec);
  f_ = std::fopen(path_.c_str(), "wb");
  if (!f_) {
    fail(std::strerror(errno));
    return;
  }
  last_flush_ = std::chrono::steady_clock::now();
  write_record(tensorboard_detail::encode_event(unix_seconds(), 0, "brain.Event:2", {}));
  flush();
}

TensorBoardWriter::~TensorBoardWriter() {
  if (f_) {
    flush();
    if (f_) std::fclose(f_);
  }
}

void TensorBoardWriter::fail(const std::string& what) {
  error_ = str("cannot write TensorBoard events to '", path_, "': ", what);
  log_warning_once(error_ + "; no more events are written for this run");
  if (f_) std::fclose(f_);
  f_ = nullptr;
}

void TensorBoardWriter::write_record(const std::string& data) {
  if (!f_) return;
  const std::string r = tensorboard_detail::frame_record(data);
  if (std::fwrite(r.data(), 1, r.size(), f_) != r.size()) fail(std::strerror(errno));
}

void TensorBoardWriter::add_scalars(int64_t step, const std::vector<std::pair<std::string, double>>& values) {
  if (!f_ || values.empty()) return;
  write_record(tensorboard_detail::encode_event(unix_seconds(), step, "", values));
  if (std::chrono::duration<double>(std::chrono::steady_clock::now() - last_flush_).count() >= flush_seconds) flush();
}

void TensorBoardWriter::flush() {
  if (!f_) return;
  last_flush_ = std::chrono::steady_clock::now();
  if (std::fflush(f_) != 0) fail(std::strerror(errno));
}

}  // namespace lmforge
