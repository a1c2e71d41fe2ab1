// A read-only memory map of a whole file (the datastore's keys and values, retrieval/datastore.h):
// the OS pages in what a lookup touches, so a datastore larger than memory is still usable.
// Throws InputError naming the file when it cannot be opened or mapped.
#pragma once
#include <cstddef>
#include <string>

namespace lmforge {

class MappedFile {
 public:
  MappedFile() = default;
  explicit MappedFile(const std::string& path);
  MappedFile(MappedFile&& o) noexcept { *this = std::move(o); }
  MappedFile& operator=(MappedFile&& o) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  ~MappedFile();

  const unsigned char* data() const { return static_cast<const unsigned char*>(map_); }
  size_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  void unmap();
  std::string path_;
  void* map_ = nullptr;  // null for an empty file
  size_t size_ = 0;
};

}  // namespace lmforge
