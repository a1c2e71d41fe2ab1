// A reader of TensorBoard event files for the tests, written from the format, not from the writer:
// TFRecord framing (uint64 LE length, masked CRC-32C of the length, data, masked CRC-32C of the
// data; tensorflow/core/lib/io/record_reader.cc) with both checksums verified, then a generic
// protobuf wire decoder that keeps Event fields 1 (wall_time), 2 (step), 3 (file_version) and
// 5 (summary: Value {tag = 1, simple_value = 2}) and skips any other field by its wire type.
#pragma once
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

#include "lmforge/core/crc32c.h"

namespace lmforge::test {

struct TbValue {
  std::string tag;
  float value = 0;
};

struct TbEvent {
  double wall_time = 0;
  int64_t step = 0;
  std::string file_version;
  std::vector<TbValue> values;
};

namespace tb_read_detail {

inline uint32_t unmask(uint32_t masked) {
  const uint32_t rot = masked - 0xa282ead8u;
  return (rot >> 17) | (rot << 15);
}

template <class U>
U le(const std::string& s, size_t at) {
  if (at + sizeof(U) > s.size()) throw std::runtime_error("truncated at byte " + std::to_string(at));
  U v = 0;
  for (size_t i = 0; i < sizeof(U); ++i) v |= static_cast<U>(static_cast<unsigned char>(s[at + i])) << (8 * i);
  return v;
}

// A protobuf message's fields in order: (field number, wire type, varint/fixed value, bytes).
struct Field {
  uint32_t number = 0, wire = 0;
  uint64_t num = 0;
  std::string bytes;
};

inline uint64_t varint(const std::string& s, size_t& at) {
  uint64_t v = 0;
  for (int shift = 0; shift < 64; shift += 7) {
    if (at >= s.size()) throw std::runtime_error("truncated varint");
    const auto b = static_cast<unsigned char>(s[at++]);
    v |= static_cast<uint64_t>(b & 0x7f) << shift;
    if (!(b & 0x80)) return v;
  }
  throw std::runtime_error("varint longer than 10 bytes");
}

inline std::vector<Field> fields(const std::string& s) {
  std::vector<Field> out;
  size_t at = 0;
  while (at < s.size()) {
    Field f;
    const uint64_t key = varint(s, at);
    f.number = static_cast<uint32_t>(key >> 3), f.wire = static_cast<uint32_t>(key & 7);
    if (f.wire == 0) {
      f.num = varint(s, at);
    } else if (f.wire == 1) {
      f.num = le<uint64_t>(s, at), at += 8;
    } else if (f.wire == 5) {
      f.num = le<uint32_t>(s, at), at += 4;
    } else if (f.wire == 2) {
      const uint64_t n = varint(s, at);
      if (at + n > s.size()) throw std::runtime_error("length-delimited field past the end");
      f.bytes = s.substr(at, n), at += n;
    } else {
      throw std::runtime_error("unsupported wire type " + std::to_string(f.wire));
    }
    out.push_back(std::move(f));
  }
  return out;
}

inline TbEvent decode_event(const std::string& data) {
  TbEvent e;
  for (const Field& f : fields(data)) {
    if (f.number == 1 && f.wire == 1) std::memcpy(&e.wall_time, &f.num, 8);
    else if (f.number == 2 && f.wire == 0) e.step = static_cast<int64_t>(f.num);
    else if (f.number == 3 && f.wire == 2) e.file_version = f.bytes;
    else if (f.number == 5 && f.wire == 2)
      for (const Field& v : fields(f.bytes)) {
        if (v.number != 1 || v.wire != 2) continue;
        TbValue tv;
        for (const Field& x : fields(v.bytes)) {
          if (x.number == 1 && x.wire == 2) tv.tag = x.bytes;
          if (x.number == 2 && x.wire == 5) {
            const auto bits = static_cast<uint32_t>(x.num);
            std::memcpy(&tv.value, &bits, 4);
          }
        }
        e.values.push_back(tv);
      }
  }
  return e;
}

}  // namespace tb_read_detail

// Every event of a file's bytes; throws std::runtime_error naming the record and offset of a bad
// checksum or a truncated record.
inline std::vector<TbEvent> read_tb_events(const std::string& bytes) {
  using namespace tb_read_detail;
  std::vector<TbEvent> out;
  size_t at = 0;
  while (at < bytes.size()) {
    const std::string where = "record " + std::to_string(out.size()) + " at byte " + std::to_string(at);
    const uint64_t n = le<uint64_t>(bytes, at);
    if (crc32c(bytes.data() + at, 8) != unmask(le<uint32_t>(bytes, at + 8)))
      throw std::runtime_error(where + ": length checksum mismatch");
    at += 12;
    if (at + n + 4 > bytes.size()) throw std::runtime_error(where + ": truncated");
    const std::string data = bytes.substr(at, n);
    if (crc32c(data.data(), data.size()) != unmask(le<uint32_t>(bytes, at + n)))
      throw std::runtime_error(where + ": data checksum mismatch");
    at += n + 4;
    out.push_back(decode_event(data));
  }
  return out;
}

// The events files (names containing "tfevents") directly in `dir`, sorted by name.
inline std::vector<std::string> tb_event_files(const std::string& dir) {
  std::vector<std::string> v;
  for (const auto& e : std::filesystem::directory_iterator(dir))
    if (e.path().filename().string().find("tfevents") != std::string::npos) v.push_back(e.path().string());
  std::sort(v.begin(), v.end());
  return v;
}

// (step, value) of every scalar with this tag, in file order.
inline std::vector<std::pair<int64_t, float>> tb_scalars(const std::vector<TbEvent>& events, const std::string& tag) {
  std::vector<std::pair<int64_t, float>> v;
  for (const auto& e : events)
    for (const auto& x : e.values)
      if (x.tag == tag) v.emplace_back(e.step, x.value);
  return v;
}

}  // namespace lmforge::test
