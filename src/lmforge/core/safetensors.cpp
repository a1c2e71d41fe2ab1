// safetensors reader/writer; format and checks in safetensors.h.
#include "lmforge/core/safetensors.h"

#include <algorithm>
#include <cstring>
#include <fstream>
#include <functional>
#include <vector>

#include <nlohmann/json.hpp>

#include "lmforge/core/crc32c.h"
#include "lmforge/core/error.h"
#include "lmforge/core/file_io.h"

namespace lmforge {

namespace {
struct DtypeInfo {
  const char* name;
  at::ScalarType type;
  int64_t size;
};
const DtypeInfo kDtypes[] = {{"F64", at::kDouble, 8}, {"F32", at::kFloat, 4}, {"F16", at::kHalf, 2},
                             {"BF16", at::kBFloat16, 2}, {"I64", at::kLong, 8}, {"I32", at::kInt, 4},
                             {"I16", at::kShort, 2}, {"I8", at::kChar, 1}, {"U8", at::kByte, 1},
                             {"BOOL", at::kBool, 1}};
const DtypeInfo* dtype_by_name(const std::string& n) {
  for (const auto& d : kDtypes)
    if (n == d.name) return &d;
  return nullptr;
}
const DtypeInfo* dtype_by_type(at::ScalarType t) {
  for (const auto& d : kDtypes)
    if (t == d.type) return &d;
  return nullptr;
}
constexpr uint64_t kMaxHeader = 100ull << 20;  // the reference implementation's limit
}  // namespace

namespace {

// Reads n bytes at offset into dst; throws InputError when it cannot.
using ReadAt = std::function<void(uint64_t offset, void* dst, uint64_t n, const std::string& what)>;

// The whole validation and decoding, over any byte source of `file_size` bytes.
std::map<std::string, at::Tensor> parse_safetensors(const std::string& path, uint64_t file_size, const ReadAt& read) {
  LMF_REQUIRE(file_size >= 8, InputError, "file ", path, ": ", file_size,
              " bytes, too short for a safetensors header size (8 bytes)");
  unsigned char nb[8];
  read(0, nb, 8, "the header size");
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | nb[i];
  LMF_REQUIRE(n <= kMaxHeader, InputError, "file ", path, ": header size ", n, " exceeds the 100 MiB limit (corrupt file?)");
  LMF_REQUIRE(n <= file_size - 8, InputError, "file ", path, ": header size ", n, " runs past the end of the file (",
              file_size, " bytes; truncated?)");
  std::string header(n, '\0');
  read(8, header.data(), n, "the header");
  LMF_REQUIRE(n > 0 && header[0] == '{', InputError, "file ", path, ": header does not start with '{'");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(header);
  } catch (const nlohmann::json::exception& e) {
    throw InputError(str("file ", path, ": header is not valid JSON (", e.what(), ")"));
  }
  LMF_REQUIRE(j.is_object(), InputError, "file ", path, ": header must be a JSON object");
  const uint64_t data_size = file_size - 8 - n;
  struct Entry {
    std::string name;
    const DtypeInfo* dt;
    std::vector<int64_t> shape;
    uint64_t b, e;
  };
  std::vector<Entry> entries;
  for (const auto& [name, v] : j.items()) {
    if (name == "__metadata__") {
      LMF_REQUIRE(v.is_object(), InputError, "file ", path, ": __metadata__ must be an object of strings");
      continue;
    }
    const std::string where = str("file ", path, ": tensor '", name, "': ");
    LMF_REQUIRE(v.is_object() && v.contains("dtype") && v.contains("shape") && v.contains("data_offsets"), InputError,
                where, "expected {dtype, shape, data_offsets}");
    LMF_REQUIRE(v["dtype"].is_string(), InputError, where, "dtype must be a string");
    Entry e;
    e.name = name;
    e.dt = dtype_by_name(v["dtype"].get<std::string>());
    LMF_REQUIRE(e.dt, InputError, where, "unsupported dtype '", v["dtype"].get<std::string>(),
                "' (F64, F32, F16, BF16, I64, I32, I16, I8, U8, BOOL)");
    LMF_REQUIRE(v["shape"].is_array(), InputError, where, "shape must be a list");
    uint64_t numel = 1;
    for (const auto& d : v["shape"]) {
      LMF_REQUIRE(d.is_number_unsigned(), InputError, where, "shape entries must be non-negative integers");
      const uint64_t x = d.get<uint64_t>();
      LMF_REQUIRE(x == 0 || numel <= (1ull << 62) / x, InputError, where, "shape overflows");
      numel *= x;
      e.shape.push_back(static_cast<int64_t>(x));
    }
    // numel x itemsize must not wrap around: [2^62] F64 would need 0 bytes mod 2^64 (found
    // while writing fuzz/safetensors_fuzz.cpp; at::empty then threw a c10::Error).
    LMF_REQUIRE(numel <= (1ull << 62) / static_cast<uint64_t>(e.dt->size), InputError, where, "shape overflows (",
                numel, " elements of ", e.dt->size, " bytes)");
    const auto& off = v["data_offsets"];
    LMF_REQUIRE(off.is_array() && off.size() == 2 && off[0].is_number_unsigned() && off[1].is_number_unsigned(),
                InputError, where, "data_offsets must be [begin, end]");
    e.b = off[0].get<uint64_t>(), e.e = off[1].get<uint64_t>();
    LMF_REQUIRE(e.b <= e.e, InputError, where, "data_offsets begin ", e.b, " > end ", e.e);
    LMF_REQUIRE(e.e <= data_size, InputError, where, "data_offsets end ", e.e, " lies past the data (", data_size,
                " bytes; truncated file?)");
    LMF_REQUIRE(e.e - e.b == numel * static_cast<uint64_t>(e.dt->size), InputError, where, "holds ", e.e - e.b,
                " bytes but shape x dtype needs ", numel * static_cast<uint64_t>(e.dt->size));
    entries.push_back(std::move(e));
  }
  std::vector<const Entry*> order;
  for (const auto& e : entries) order.push_back(&e);
  std::sort(order.begin(), order.end(), [](const Entry* a, const Entry* b) { return a->b < b->b || (a->b == b->b && a->e < b->e); });
  uint64_t end = 0;
  for (size_t i = 0; i < order.size(); ++i) {
    const Entry& e = *order[i];
    LMF_REQUIRE(e.b >= end, InputError, "file ", path, ": tensor '", e.name, "' overlaps tensor '", order[i - 1]->name,
                "' (bytes ", e.b, ".. vs ..", end, ")");
    LMF_REQUIRE(e.b == end, InputError, "file ", path, ": a hole of ", e.b - end, " bytes before tensor '", e.name, "'");
    end = e.e;
  }
  LMF_REQUIRE(end == data_size, InputError, "file ", path, ": ", data_size - end,
              " bytes after the last tensor (the header does not describe the whole file)");
  std::map<std::string, at::Tensor> out;
  for (const auto& e : entries) {
    at::Tensor t = at::empty(e.shape, at::TensorOptions().dtype(e.dt->type));
    if (e.e > e.b) read(8 + n + e.b, t.data_ptr(), e.e - e.b, "tensor '" + e.name + "'");
    out.emplace(e.name, t);
  }
  return out;
}

}  // namespace

std::map<std::string, at::Tensor> read_safetensors(const std::string& path) {
  std::ifstream f(path, std::ios::binary | std::ios::ate);
  LMF_REQUIRE(f, InputError, "file ", path, ": cannot be opened (safetensors)");
  const uint64_t size = static_cast<uint64_t>(f.tellg());
  return parse_safetensors(path, size, [&](uint64_t off, void* dst, uint64_t n, const std::string& what) {
    f.seekg(static_cast<std::streamoff>(off));
    f.read(static_cast<char*>(dst), static_cast<std::streamsize>(n));
    LMF_REQUIRE(f, InputError, "file ", path, ": cannot read ", what, " (truncated?)");
  });
}

std::map<std::string, at::Tensor> read_safetensors(std::string_view bytes, const std::string& name) {
  return parse_safetensors(name, bytes.size(), [&](uint64_t off, void* dst, uint64_t n, const std::string& what) {
    LMF_REQUIRE(off <= bytes.size() && n <= bytes.size() - off, InputError, "file ", name, ": cannot read ", what,
                " (truncated?)");
    std::memcpy(dst, bytes.data() + off, n);
  });
}

bool looks_like_safetensors(std::string_view bytes) {
  if (bytes.size() < 10) return false;
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | static_cast<unsigned char>(bytes[i]);
  return n >= 2 && n <= bytes.size() - 8 && bytes[8] == '{';
}

WrittenFile write_safetensors(const std::string& path, const std::map<std::string, at::Tensor>& tensors,
                              const std::map<std::string, std::string>& metadata) {
  nlohmann::ordered_json h;
  if (!metadata.empty()) h["__metadata__"] = metadata;
  uint64_t off = 0;
  std::vector<at::Tensor> data;
  for (const auto& [name, t0] : tensors) {
    at::Tensor t = t0.detach().cpu().contiguous();
    const DtypeInfo* d = dtype_by_type(t.scalar_type());
    LMF_REQUIRE(d, UserError, "safetensors: tensor '", name, "' has an unsupported dtype");
    const uint64_t bytes = static_cast<uint64_t>(t.numel()) * static_cast<uint64_t>(d->size);
    h[name] = {{"dtype", d->name}, {"shape", t.sizes().vec()}, {"data_offsets", {off, off + bytes}}};
    off += bytes;
    data.push_back(t);
  }
  std::string header = h.dump();
  while ((header.size() + 8) % 8) header += ' ';  // align the data to 8 bytes, as the reference writer
  std::string prefix;
  uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) prefix += static_cast<char>((n >> (8 * i)) & 0xFF);
  // Streamed (no second copy of the weights in memory), replaced atomically (core/file_io.h).
  AtomicFile f(path);
  WrittenFile w;
  auto put = [&](const void* p, size_t len) {
    f.write(p, len);
    w.crc32c = crc32c(p, len, w.crc32c);
    w.bytes += len;
  };
  put(prefix.data(), prefix.size());
  put(header.data(), header.size());
  for (const auto& t : data) put(t.data_ptr(), static_cast<size_t>(t.nbytes()));
  f.commit();
  return w;
}

}  // namespace lmforge
