// Whole-file reads and crash-safe writes; the protocol is in file_io.h.
#include "lmforge/core/file_io.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <utility>

#include "lmforge/core/error.h"

namespace lmforge {

namespace {

std::string reason(int err) { return std::strerror(err); }

// The folder holding `path` ("." for a bare name).
std::string parent_of(const std::string& path) {
  size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

// Writes all n bytes at fd's offset (or at `offset` when >= 0); returns 0 or the errno.
int write_fully(int fd, const char* p, size_t n, int64_t offset = -1) {
  while (n > 0) {
    ssize_t w = offset >= 0 ? ::pwrite(fd, p, n, static_cast<off_t>(offset)) : ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    if (w == 0) return EIO;
    p += w;
    n -= static_cast<size_t>(w);
    if (offset >= 0) offset += w;
  }
  return 0;
}

int fsync_fd(int fd) {
  while (::fsync(fd) != 0) {
    if (errno == EINTR) continue;
    // Some filesystems (and /dev/null-like targets) cannot sync; nothing more can be done there.
    if (errno == EINVAL || errno == EROFS) return 0;
    return errno;
  }
  return 0;
}

// Reads the open fd to its end into out; returns 0 or the errno.
int read_fd(int fd, std::string& out) {
  struct stat st;
  if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0) out.reserve(static_cast<size_t>(st.st_size));
  char buf[1 << 16];
  for (;;) {
    ssize_t r = ::read(fd, buf, sizeof buf);
    if (r < 0) {
      if (errno == EINTR) continue;
      return errno;
    }
    if (r == 0) return 0;
    out.append(buf, static_cast<size_t>(r));
  }
}

std::optional<std::string> read_impl(const std::string& path, bool missing_ok) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    if (missing_ok && err == ENOENT) return std::nullopt;
    throw InputError(str("file '", path, "': cannot be read (", reason(err), ")"));
  }
  struct stat st;
  if (::fstat(fd, &st) == 0 && S_ISDIR(st.st_mode)) {
    ::close(fd);
    throw InputError(str("file '", path, "': cannot be read (it is a folder)"));
  }
  std::string out;
  const int err = read_fd(fd, out);
  ::close(fd);
  if (err != 0) throw InputError(str("file '", path, "': cannot be read (", reason(err), ")"));
  return out;
}

}  // namespace

std::string read_file(const std::string& path) { return *read_impl(path, false); }

std::optional<std::string> read_file_if_exists(const std::string& path) { return read_impl(path, true); }

std::string temp_sibling(const std::string& path) {
  static std::atomic<uint64_t> counter{0};
  return str(path, ".tmp-", ::getpid(), "-", counter.fetch_add(1));
}

void fsync_dir(const std::string& dir) {
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) throw InputError(str("folder '", dir, "': cannot be opened to sync it (", reason(errno), ")"));
  const int err = fsync_fd(fd);
  ::close(fd);
  if (err != 0) throw InputError(str("folder '", dir, "': cannot be synced to disk (", reason(err), ")"));
}

void fsync_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw InputError(str("file '", path, "': cannot be opened to sync it (", reason(errno), ")"));
  const int err = fsync_fd(fd);
  ::close(fd);
  if (err != 0) throw InputError(str("file '", path, "': cannot be synced to disk (", reason(err), ")"));
}

// --- AtomicFile -------------------------------------------------------------------------------

AtomicFile::AtomicFile(std::string path) : path_(std::move(path)), tmp_(temp_sibling(path_)) {
  fd_ = ::open(tmp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
  if (fd_ < 0) {
    const int err = errno;
    throw InputError(str("file '", path_, "': cannot be written (creating '", tmp_, "': ", reason(err), ")"));
  }
  buf_.reserve(1 << 20);
}

AtomicFile::~AtomicFile() {
  if (!committed_) discard();
}

void AtomicFile::discard() noexcept {
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
  if (!tmp_.empty()) ::unlink(tmp_.c_str());
}

void AtomicFile::fail(const char* what, int err) {
  discard();
  committed_ = true;  // nothing left to clean up
  throw InputError(str("file '", path_, "': ", what, " (", reason(err), "); the previous file is unchanged"));
}

void AtomicFile::flush_buffer() {
  if (buf_.empty()) return;
  if (fd_ < 0) throw InputError(str("file '", path_, "': written after commit or failure"));
  const int err = write_fully(fd_, buf_.data(), buf_.size());
  buf_.clear();
  if (err != 0) fail("cannot be written", err);
}

void AtomicFile::write(const void* data, size_t n) {
  if (fd_ < 0) throw InputError(str("file '", path_, "': written after commit or failure"));
  const char* p = static_cast<const char*>(data);
  size_ += n;
  if (buf_.size() + n <= buf_.capacity()) {
    buf_.append(p, n);
    return;
  }
  flush_buffer();
  if (n >= buf_.capacity()) {
    const int err = write_fully(fd_, p, n);
    if (err != 0) fail("cannot be written", err);
  } else {
    buf_.append(p, n);
  }
}

void AtomicFile::write_at(uint64_t offset, const void* data, size_t n) {
  flush_buffer();
  if (fd_ < 0) throw InputError(str("file '", path_, "': written after commit or failure"));
  const int err = write_fully(fd_, static_cast<const char*>(data), n, static_cast<int64_t>(offset));
  if (err != 0) fail("cannot be written", err);
  if (offset + n > size_) size_ = offset + n;
}

void AtomicFile::commit() {
  flush_buffer();
  if (fd_ < 0) throw InputError(str("file '", path_, "': committed twice or after a failure"));
  int err = fsync_fd(fd_);
  if (err != 0) fail("cannot be synced to disk", err);
  const int fd = fd_;
  fd_ = -1;
  if (::close(fd) != 0) fail("cannot be written", errno);  // NFS reports late write errors here
  if (::rename(tmp_.c_str(), path_.c_str()) != 0) fail("cannot be replaced", errno);
  committed_ = true;
  fsync_dir(parent_of(path_));
}

void write_file_atomic(const std::string& path, std::string_view content) {
  AtomicFile f(path);
  f.write(content.data(), content.size());
  f.commit();
}

}  // namespace lmforge
