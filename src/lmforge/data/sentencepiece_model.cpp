// Minimal protobuf wire-format reader for sentencepiece's ModelProto; see sentencepiece_model.h.
// Field numbers (sentencepiece_model.proto): ModelProto.pieces = 1, trainer_spec = 2,
// normalizer_spec = 3; SentencePiece.piece = 1, score = 2 (float), type = 3; TrainerSpec.model_type
// = 3, byte_fallback = 35; NormalizerSpec.name = 1, precompiled_charsmap = 2, add_dummy_prefix = 3,
// remove_extra_whitespaces = 4, escape_whitespaces = 5. Unknown fields are skipped.
#include "lmforge/data/sentencepiece_model.h"

#include <cstring>
#include <functional>
#include <string_view>

#include "lmforge/core/error.h"

namespace lmforge::data {

namespace {

struct Reader {
  std::string_view buf;
  const std::string& path;
  size_t pos = 0;

  [[noreturn]] void fail(const char* what) const {
    throw InputError(str("file ", path, ": not a sentencepiece model (", what, " at byte ", pos,
                         ")"));
  }
  uint64_t varint() {
    uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (pos >= buf.size()) fail("truncated varint");
      unsigned char b = static_cast<unsigned char>(buf[pos++]);
      v |= static_cast<uint64_t>(b & 0x7F) << shift;
      if (!(b & 0x80)) return v;
    }
    fail("overlong varint");
  }
  std::string_view bytes(size_t n) {
    if (n > buf.size() - pos) fail("truncated field");
    std::string_view s = buf.substr(pos, n);
    pos += n;
    return s;
  }
  // Calls fn(field, wire_type, reader-at-value) for each field; fn consumes the value and returns
  // true, or returns false to have it skipped.
  void fields(const std::function<bool(uint32_t, int, Reader&)>& fn) {
    while (pos < buf.size()) {
      uint64_t key = varint();
      uint32_t field = static_cast<uint32_t>(key >> 3);
      int wire = static_cast<int>(key & 7);
      if (field == 0) fail("field number 0");
      if (fn(field, wire, *this)) continue;
      switch (wire) {
        case 0: varint(); break;
        case 1: bytes(8); break;
        case 2: bytes(varint()); break;
        case 5: bytes(4); break;
        default: fail("unsupported wire type");
      }
    }
  }
  Reader sub() {
    std::string_view s = bytes(varint());
    return Reader{s, path};
  }
};

}  // namespace

SpmModel parse_spm_model(const std::string& data, const std::string& path) {
  SpmModel m;
  Reader top{data, path};
  top.fields([&](uint32_t field, int wire, Reader& r) {
    if (wire != 2) return false;
    if (field == 1) {
      SpmPiece p;
      Reader pr = r.sub();
      pr.fields([&](uint32_t f, int w, Reader& x) {
        if (f == 1 && w == 2) { p.piece = std::string(x.bytes(x.varint())); return true; }
        if (f == 2 && w == 5) {
          std::string_view b = x.bytes(4);
          std::memcpy(&p.score, b.data(), 4);  // little-endian float, as on x86/ARM
          return true;
        }
        if (f == 3 && w == 0) { p.type = static_cast<int>(x.varint()); return true; }
        return false;
      });
      m.pieces.push_back(std::move(p));
      return true;
    }
    if (field == 2) {
      Reader tr = r.sub();
      tr.fields([&](uint32_t f, int w, Reader& x) {
        if (f == 3 && w == 0) { m.model_type = static_cast<int>(x.varint()); return true; }
        if (f == 35 && w == 0) { m.byte_fallback = x.varint() != 0; return true; }
        return false;
      });
      return true;
    }
    if (field == 3) {
      Reader nr = r.sub();
      nr.fields([&](uint32_t f, int w, Reader& x) {
        if (f == 1 && w == 2) { m.normalizer_name = std::string(x.bytes(x.varint())); return true; }
        if (f == 2 && w == 2) { m.has_charsmap = !x.bytes(x.varint()).empty(); return true; }
        if (f == 3 && w == 0) { m.add_dummy_prefix = x.varint() != 0; return true; }
        if (f == 4 && w == 0) { m.remove_extra_whitespaces = x.varint() != 0; return true; }
        if (f == 5 && w == 0) { m.escape_whitespaces = x.varint() != 0; return true; }
        return false;
      });
      return true;
    }
    return false;
  });
  LMF_REQUIRE(!m.pieces.empty(), InputError, "file ", path,
              ": not a sentencepiece model (no pieces)");
  for (const auto& p : m.pieces)
    LMF_REQUIRE(p.type >= 1 && p.type <= 6 && !p.piece.empty(), InputError, "file ", path,
                ": not a sentencepiece model (bad piece '", p.piece, "')");
  return m;
}

}  // namespace lmforge::data
