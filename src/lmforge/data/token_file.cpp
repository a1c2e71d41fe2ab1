// Token cache files: build (parallel encoding, atomic write) and memory-mapped reading; see
// token_file.h.
#include "lmforge/data/token_file.h"

#include <ATen/Parallel.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <filesystem>

#include "lmforge/core/error.h"
#include "lmforge/core/file_io.h"
#include "lmforge/data/text_util.h"
#include "lmforge/data/tokenizer.h"

namespace lmforge::data {

namespace fs = std::filesystem;

namespace {

constexpr char kMagic[8] = {'L', 'M', 'F', 'T', 'O', 'K', 'S', '\0'};
constexpr uint32_t kVersion = 1;

struct Header {
  char magic[8];
  uint32_t version;
  uint32_t dtype_bytes;
  uint64_t count;
  uint64_t lines, words, bytes;
  uint64_t source_size;
  int64_t source_mtime_ns;
  uint64_t vocab_size;
  uint64_t eos_id;
  char fingerprint[16];
  uint64_t tokens_offset;
  uint64_t lines_offset;
  uint64_t reserved;
  uint64_t file_size;
};
static_assert(sizeof(Header) == 128, "token file header must stay 128 bytes");

struct SourceStamp {
  int64_t size = -1, mtime_ns = 0;
};

SourceStamp stamp_of(const std::string& path) {
  struct stat st;
  LMF_REQUIRE(::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode), InputError, "file ", path,
              ": missing (text to tokenize)");
  return {static_cast<int64_t>(st.st_size),
          static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000LL + st.st_mtim.tv_nsec};
}

}  // namespace

std::string TokenFile::cache_path(const Tokenizer& tok, const std::string& text_path,
                                  const std::string& cache_dir) {
  std::error_code ec;
  std::string abs = fs::weakly_canonical(fs::absolute(text_path), ec).string();
  if (ec) abs = text_path;
  uint64_t h = fnv1a64(abs.data(), abs.size());
  return cache_dir + "/" + fs::path(text_path).filename().string() + "." +
         hex64(h).substr(0, 8) + "." + tok.fingerprint() + ".tok";
}

void TokenFile::build(const Tokenizer& tok, const std::string& text_path,
                      const std::string& token_path) {
  const SourceStamp stamp = stamp_of(text_path);
  const std::string fp = tok.fingerprint();
  const int dtype = tok.vocab_size() <= 65536 ? 2 : 4;
  AtomicFile f(token_path);  // nothing at token_path changes until commit()
  {
    Header h{};
    f.write(&h, sizeof h);  // placeholder, rewritten at the end
    std::vector<uint64_t> starts = {0};
    TextCounts counts;
    uint64_t count = 0;
    std::vector<std::string> lines;
    std::vector<std::vector<int64_t>> ids;
    std::vector<unsigned char> out;
    auto flush = [&] {
      ids.assign(lines.size(), {});
      at::parallel_for(0, static_cast<int64_t>(lines.size()), 16, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) ids[i] = tok.encode(lines[i]);
      });
      for (auto& v : ids) {
        v.push_back(tok.eos_id());
        out.resize(v.size() * dtype);
        for (size_t k = 0; k < v.size(); ++k) {
          LMF_REQUIRE(v[k] >= 0 && v[k] < tok.vocab_size(), InputError, "tokenizer produced id ",
                      v[k], " outside its vocabulary");
          if (dtype == 2) {
            uint16_t x = static_cast<uint16_t>(v[k]);
            std::memcpy(out.data() + 2 * k, &x, 2);
          } else {
            uint32_t x = static_cast<uint32_t>(v[k]);
            std::memcpy(out.data() + 4 * k, &x, 4);
          }
        }
        f.write(out.data(), out.size());
        count += v.size();
        starts.push_back(count);
      }
      lines.clear();
    };
    for_each_line(text_path, [&](std::string_view line, int64_t) {
      add_line(counts, line);
      lines.emplace_back(line);
      if (lines.size() >= 8192) flush();
      return true;
    });
    flush();
    counts.bytes = stamp.size;
    uint64_t tokens_end = sizeof(Header) + count * dtype;
    uint64_t lines_offset = (tokens_end + 7) / 8 * 8;
    static const char zeros[8] = {};
    f.write(zeros, lines_offset - tokens_end);
    f.write(starts.data(), starts.size() * sizeof(uint64_t));
    std::memcpy(h.magic, kMagic, 8);
    h.version = kVersion;
    h.dtype_bytes = dtype;
    h.count = count;
    h.lines = counts.lines;
    h.words = counts.words;
    h.bytes = counts.bytes;
    h.source_size = stamp.size;
    h.source_mtime_ns = stamp.mtime_ns;
    h.vocab_size = tok.vocab_size();
    h.eos_id = tok.eos_id();
    std::memcpy(h.fingerprint, fp.data(), 16);
    h.tokens_offset = sizeof(Header);
    h.lines_offset = lines_offset;
    h.file_size = lines_offset + starts.size() * sizeof(uint64_t);
    f.write_at(0, &h, sizeof h);
  }
  f.commit();
}

TokenFile TokenFile::open(const std::string& token_path) {
  TokenFile t;
  t.path_ = token_path;
  int fd = ::open(token_path.c_str(), O_RDONLY | O_CLOEXEC);
  LMF_REQUIRE(fd >= 0, InputError, "file ", token_path, ": cannot be opened");
  struct stat st;
  if (::fstat(fd, &st) != 0 || st.st_size < static_cast<off_t>(sizeof(Header))) {
    ::close(fd);
    throw InputError(str("file ", token_path, ": not a token file (shorter than its header)"));
  }
  t.map_size_ = static_cast<size_t>(st.st_size);
  t.map_ = ::mmap(nullptr, t.map_size_, PROT_READ, MAP_SHARED, fd, 0);
  ::close(fd);
  if (t.map_ == MAP_FAILED) {
    t.map_ = nullptr;
    throw InputError(str("file ", token_path, ": cannot be memory-mapped"));
  }
  t.parse(static_cast<const unsigned char*>(t.map_), t.map_size_);
  return t;
}

TokenFile TokenFile::from_bytes(std::string_view bytes, const std::string& name) {
  TokenFile t;
  t.path_ = name;
  LMF_REQUIRE(bytes.size() >= sizeof(Header), InputError, "file ", name,
              ": not a token file (shorter than its header)");
  t.parse(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size());
  return t;
}

void TokenFile::parse(const unsigned char* data, size_t size) {
  const std::string& token_path = path_;
  Header h;
  std::memcpy(&h, data, sizeof h);
  LMF_REQUIRE(std::memcmp(h.magic, kMagic, 8) == 0, InputError, "file ", token_path,
              ": not a token file (bad magic)");
  LMF_REQUIRE(h.version == kVersion, InputError, "file ", token_path, ": token file version ",
              h.version, ", expected ", kVersion);
  // count and lines are bounded by the size first, so that the sums below cannot wrap around.
  LMF_REQUIRE((h.dtype_bytes == 2 || h.dtype_bytes == 4) && h.file_size == size &&
                  h.count <= size / h.dtype_bytes && h.lines < size / sizeof(uint64_t) &&
                  h.tokens_offset == sizeof(Header) &&
                  h.tokens_offset + h.count * h.dtype_bytes <= h.lines_offset &&
                  h.lines_offset % 8 == 0 &&
                  h.lines_offset + (h.lines + 1) * sizeof(uint64_t) == h.file_size,
              InputError, "file ", token_path, ": torn or inconsistent token file");
  tokens_ = data + h.tokens_offset;
  line_starts_ = reinterpret_cast<const uint64_t*>(data + h.lines_offset);
  LMF_REQUIRE(line_starts_[0] == 0 && line_starts_[h.lines] == h.count, InputError, "file ",
              token_path, ": torn or inconsistent token file (line table)");
  // Every line must lie inside the tokens (found by fuzz/token_file_fuzz.cpp): a damaged table
  // would otherwise send line_start() readers outside them. One pass over the table, 8 bytes a line.
  for (uint64_t i = 1; i <= h.lines; ++i)
    LMF_REQUIRE(line_starts_[i - 1] <= line_starts_[i], InputError, "file ", token_path,
                ": torn or inconsistent token file (line table: line ", i - 1, " starts at token ",
                line_starts_[i - 1], ", after the start of the next line, ", line_starts_[i], ")");
  count_ = static_cast<int64_t>(h.count);
  counts_ = {static_cast<int64_t>(h.lines), static_cast<int64_t>(h.words),
             static_cast<int64_t>(h.bytes)};
  vocab_size_ = static_cast<int64_t>(h.vocab_size);
  eos_id_ = static_cast<int64_t>(h.eos_id);
  dtype_bytes_ = static_cast<int>(h.dtype_bytes);
  fingerprint_.assign(h.fingerprint, 16);
  source_size_ = static_cast<int64_t>(h.source_size);
  source_mtime_ns_ = h.source_mtime_ns;
}

TokenFile TokenFile::open_or_build(const Tokenizer& tok, const std::string& text_path,
                                   const std::string& cache_dir, bool* rebuilt) {
  const SourceStamp stamp = stamp_of(text_path);
  std::error_code ec;
  fs::create_directories(cache_dir, ec);
  LMF_REQUIRE(fs::is_directory(cache_dir), InputError, "directory ", cache_dir,
              ": cannot be created (token cache)");
  const std::string path = cache_path(tok, text_path, cache_dir);
  if (fs::exists(path)) {
    try {
      TokenFile t = open(path);
      if (t.fingerprint_ == tok.fingerprint() && t.vocab_size_ == tok.vocab_size() &&
          t.source_size_ == stamp.size && t.source_mtime_ns_ == stamp.mtime_ns) {
        if (rebuilt) *rebuilt = false;
        return t;
      }
    } catch (const InputError&) {
      // A torn or foreign file under our cache name: rebuild it.
    }
  }
  build(tok, text_path, path);
  if (rebuilt) *rebuilt = true;
  return open(path);
}

TokenFile::TokenFile(TokenFile&& o) noexcept { *this = std::move(o); }

TokenFile& TokenFile::operator=(TokenFile&& o) noexcept {
  if (this != &o) {
    unmap();
    path_ = std::move(o.path_);
    map_ = o.map_;
    map_size_ = o.map_size_;
    tokens_ = o.tokens_;
    line_starts_ = o.line_starts_;
    count_ = o.count_;
    counts_ = o.counts_;
    vocab_size_ = o.vocab_size_;
    eos_id_ = o.eos_id_;
    dtype_bytes_ = o.dtype_bytes_;
    fingerprint_ = std::move(o.fingerprint_);
    source_size_ = o.source_size_;
    source_mtime_ns_ = o.source_mtime_ns_;
    o.map_ = nullptr;
    o.map_size_ = 0;
    o.tokens_ = nullptr;
    o.line_starts_ = nullptr;
    o.count_ = 0;
  }
  return *this;
}

TokenFile::~TokenFile() { unmap(); }

void TokenFile::unmap() {
  if (map_ != nullptr) ::munmap(map_, map_size_);
  map_ = nullptr;
}

TokenSpan TokenFile::span() const {
  TokenSpan s;
  s.data = tokens_;
  s.size = count_;
  s.elem_bytes = dtype_bytes_;
  return s;
}

at::Tensor TokenFile::slice(int64_t begin, int64_t end) const {
  LMF_REQUIRE(0 <= begin && begin <= end && end <= count_, InputError, "file ", path_,
              ": token range [", begin, ", ", end, ") outside [0, ", count_, ")");
  at::Tensor t = at::empty({end - begin}, at::kLong);
  span().copy(begin, end - begin, t.data_ptr<int64_t>());
  return t;
}

int64_t TokenFile::line_start(int64_t line) const {
  LMF_REQUIRE(0 <= line && line <= counts_.lines, InputError, "file ", path_, ": line ", line,
              " outside [0, ", counts_.lines, "]");
  return static_cast<int64_t>(line_starts_[line]);
}

}  // namespace lmforge::data
