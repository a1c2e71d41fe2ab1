// Whole-file reads and crash-safe writes: the one place lmforge touches files it produces.
//
// Every file lmforge writes for later (checkpoints, token caches, tokenizers, reports, predictions,
// safetensors, run configs and metrics) goes through write_file_atomic or AtomicFile:
//   1. the bytes go to a temporary sibling, PATH.tmp-<pid>-<n> (same folder, so the rename below
//      never crosses a filesystem);
//   2. the temporary file is fsync'ed (its data is on disk before its name can be);
//   3. it is renamed over PATH (rename(2) is atomic: a reader sees the old file or the new one);
//   4. the folder is fsync'ed (the rename itself survives a power cut).
// A crash or an error at any point leaves PATH as it was (old content, or absent) plus at most a
// stray PATH.tmp-* file; an error (disk full, permission, PATH is a folder) throws InputError naming
// PATH and the system's reason, and removes the temporary file.
// Not covered: append-only logs (log.jsonl is appended line by line, a crash can lose its last
// line) and scratch inputs handed to other programs.
#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace lmforge {

// Reads a whole file; throws InputError "file 'PATH': cannot be read (reason)".
std::string read_file(const std::string& path);
// The same, but std::nullopt when the file does not exist (other failures still throw).
std::optional<std::string> read_file_if_exists(const std::string& path);

// Replaces PATH with `content` by the protocol above.
void write_file_atomic(const std::string& path, std::string_view content);

// fsync(2) of a folder, so the names created, renamed or removed in it are durable.
// Throws InputError naming the folder.
void fsync_dir(const std::string& dir);
// fsync(2) of an existing file by path (for files written by code we do not control).
void fsync_file(const std::string& path);

// A file written in pieces (token caches, corpora, big weights) and then committed by the same
// protocol. Until commit() nothing at PATH changes; destroying an uncommitted AtomicFile (an
// exception on the way) removes the temporary file. Writes are buffered (1 MiB).
class AtomicFile {
 public:
  explicit AtomicFile(std::string path);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  void write(const void* data, size_t n);
  void write(std::string_view s) { write(s.data(), s.size()); }
  // Overwrites bytes already written (a header filled in at the end); flushes the buffer first.
  void write_at(uint64_t offset, const void* data, size_t n);
  // Bytes written so far (the end of the file).
  uint64_t size() const { return size_; }
  // Flush, fsync, close, rename over PATH, fsync the folder. Throws InputError naming PATH.
  void commit();

  const std::string& path() const { return path_; }
  const std::string& temp_path() const { return tmp_; }

 private:
  void flush_buffer();
  [[noreturn]] void fail(const char* what, int err);
  void discard() noexcept;

  std::string path_, tmp_;
  int fd_ = -1;
  std::string buf_;
  uint64_t size_ = 0;
  bool committed_ = false;
};

// A unique name for a temporary sibling of `path`: PATH.tmp-<pid>-<counter>.
std::string temp_sibling(const std::string& path);

}  // namespace lmforge
