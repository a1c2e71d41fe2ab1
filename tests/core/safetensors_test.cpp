// safetensors: round trip of every dtype, and refusal of corrupt or truncated files with a clear
// message (header size past the end, bad JSON, unknown dtype, size mismatch, overlap, hole, tail).
#include <gtest/gtest.h>

#include "lmforge/core/error.h"
#include "lmforge/core/safetensors.h"
#include "../test_util.h"

using lmforge::read_safetensors;
using lmforge::test::TempDir;

namespace {
std::string file_with_header(const std::string& header, size_t data_bytes) {
  std::string s;
  uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) s += static_cast<char>((n >> (8 * i)) & 0xFF);
  return s + header + std::string(data_bytes, '\0');
}
void expect_refused(const std::string& content, const std::string& needle) {
  TempDir d("st");
  lmforge::test::write_text(d / "x.safetensors", content);
  try {
    read_safetensors(d / "x.safetensors");
    ADD_FAILURE() << "accepted a bad file; expected an error containing '" << needle << "'";
  } catch (const lmforge::InputError& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}
}  // namespace

TEST(Safetensors, RoundTripDtypes) {
  TempDir d("st");
  std::map<std::string, at::Tensor> t = {
      {"a.f32", at::randn({3, 4})}, {"b.f64", at::randn({2}, at::kDouble)}, {"c.bf16", at::randn({5}).to(at::kBFloat16)},
      {"d.f16", at::randn({2, 2}).to(at::kHalf)}, {"e.i64", at::arange(7)}, {"f.i32", at::arange(3).to(at::kInt)},
      {"g.u8", at::arange(4).to(at::kByte)}, {"h.bool", at::ones({2}, at::kBool)}, {"i.empty", at::zeros({0, 3})},
      {"j.scalar", at::tensor(2.5f)}};
  lmforge::write_safetensors(d / "m.safetensors", t, {{"format", "pt"}});
  auto back = read_safetensors(d / "m.safetensors");
  ASSERT_EQ(back.size(), t.size());
  for (const auto& [k, v] : t) {
    ASSERT_TRUE(back.count(k)) << k;
    EXPECT_EQ(back[k].scalar_type(), v.scalar_type()) << k;
    EXPECT_EQ(back[k].sizes(), v.sizes()) << k;
    EXPECT_TRUE(at::equal(back[k], v)) << k;
  }
}

TEST(Safetensors, RefusesCorruptFiles) {
  expect_refused("abc", "too short");
  std::string ok = file_with_header(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 8);
  {
    std::string trunc = ok.substr(0, ok.size() - 3);
    expect_refused(trunc, "lies past the data");
  }
  {
    std::string big = ok;
    big[5] = 1;  // header size ~ 2^40
    expect_refused(big, "header size");
  }
  {
    std::string past = ok;
    past[0] = static_cast<char>(200);  // header longer than the file
    expect_refused(past, "runs past the end");
  }
  expect_refused(file_with_header(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})", 8), "not valid JSON");
  expect_refused(file_with_header(R"([1,2])", 0), "does not start with '{'");
  expect_refused(file_with_header(R"({"w":{"dtype":"Q4","shape":[2],"data_offsets":[0,8]}})", 8), "unsupported dtype 'Q4'");
  expect_refused(file_with_header(R"({"w":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8), "needs 12");
  expect_refused(file_with_header(R"({"w":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", 8), "non-negative");
  expect_refused(file_with_header(R"({"w":{"dtype":"F32","shape":[2],"data_offsets":[8,0]}})", 8), "begin 8 > end 0");
  expect_refused(file_with_header(
                     R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                     12),
                 "overlaps");
  expect_refused(file_with_header(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", 8), "hole of 4 bytes");
  expect_refused(file_with_header(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", 8), "4 bytes after the last tensor");
  expect_refused(file_with_header(R"({"a":{"dtype":"F32","shape":[1]}})", 4), "expected {dtype, shape, data_offsets}");
}

// Fuzz regression (found while writing fuzz/safetensors_fuzz.cpp): a shape whose element count
// times the item size wraps around 2^64 (2^62 x 8 bytes = 0) matched data_offsets [0, 0] and
// reached at::empty, which threw a c10::Error ("internal error") instead of an InputError.
TEST(Safetensors, FuzzShapeTimesItemsizeOverflowIsRefused) {
  expect_refused(file_with_header(R"({"w":{"dtype":"F64","shape":[4611686018427387904],"data_offsets":[0,0]}})", 0),
                 "tensor 'w': shape overflows (4611686018427387904 elements of 8 bytes)");
  expect_refused(file_with_header(R"({"w":{"dtype":"F16","shape":[2305843009213693952,4],"data_offsets":[0,0]}})", 0),
                 "shape overflows");
  // Also through the in-memory entry point the checkpoint reader uses.
  try {
    lmforge::read_safetensors(
        file_with_header(R"({"w":{"dtype":"I32","shape":[4611686018427387904],"data_offsets":[0,0]}})", 0), "mem");
    ADD_FAILURE() << "accepted an overflowing shape";
  } catch (const lmforge::InputError& e) {
    EXPECT_NE(std::string(e.what()).find("file mem: tensor 'w': shape overflows"), std::string::npos) << e.what();
  }
}
