// TensorBoard event files: scalars (loss, lr, ...) that `tensorboard --logdir RUN` plots, written
// beside log.jsonl without a protobuf or TensorFlow dependency.
//
// Format (what TensorBoard's reader expects; tensorflow/core/util/event.proto, summary.proto and
// tensorflow/core/lib/io/record_writer.cc):
//   file   = record*, the first one an Event with file_version "brain.Event:2"
//   record = uint64 length (LE) | uint32 masked_crc32c(length bytes) | data | uint32 masked_crc32c(data)
//   masked_crc32c(b) = ((c >> 15) | (c << 17)) + 0xa282ead8 with c = crc32c(b) (core/crc32c.h)
//   Event   { double wall_time = 1; int64 step = 2; string file_version = 3; Summary summary = 5; }
//   Summary { repeated Value value = 1; }   Value { string tag = 1; float simple_value = 2; }
// The protobuf wire encoding is done by hand here: fixed64 for the double, varint for the step,
// length-delimited for strings and messages, fixed32 for the float.
//
// Errors: events are a side channel, so an unwritable folder or a failed write (disk full) is
// reported once as a warning naming the file and the writer stops; training goes on.
#pragma once
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

namespace lmforge {

class TensorBoardWriter {
 public:
  // Creates `dir` if needed and opens dir/events.out.tfevents.<unix seconds>.<hostname>.<pid>.<n>
  // (n counts writers of this process, so two writers in one second never share a file). A given
  // `file_name` replaces that name (tests).
  explicit TensorBoardWriter(const std::string& dir, const std::string& file_name = "");
  ~TensorBoardWriter();
  TensorBoardWriter(const TensorBoardWriter&) = delete;
  TensorBoardWriter& operator=(const TensorBoardWriter&) = delete;

  // One Event at `step` holding every (tag, value) given; values are stored as float.
  void add_scalars(int64_t step, const std::vector<std::pair<std::string, double>>& values);
  void add_scalar(const std::string& tag, double value, int64_t step) { add_scalars(step, {{tag, value}}); }
  // Writes buffered records to the file. add_scalars also flushes once `flush_seconds` have passed
  // since the last flush, so a running TensorBoard sees progress without a write per step.
  void flush();

  bool ok() const { return f_ != nullptr; }
  const std::string& path() const { return path_; }
  const std::string& error() const { return error_; }  // "" while ok
  double flush_seconds = 5.0;

 private:
  void write_record(const std::string& data);
  void fail(const std::string& what);
  std::string path_, error_;
  std::FILE* f_ = nullptr;
  std::chrono::steady_clock::time_point last_flush_;
};

// The encoders, exposed for tests.
namespace tensorboard_detail {
uint32_t masked_crc32c(const void* data, size_t n);
// An Event record's payload (protobuf bytes): file_version set when non-empty, else the summary.
std::string encode_event(double wall_time, int64_t step, const std::string& file_version,
                         const std::vector<std::pair<std::string, double>>& values);
// length | masked crc | data | masked crc.
std::string frame_record(const std::string& data);
}  // namespace tensorboard_detail

}  // namespace lmforge
