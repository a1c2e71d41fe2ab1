// safetensors files against the reference implementation (Python's `safetensors`, 0.8 as pinned, 0.5 too; Rust inside,
// from the peers environment: scripts/setup-peers.sh --light; skipped when it is not installed):
// what we write, it reads byte for byte; what it writes, we read byte for byte; a checkpoint's
// model.safetensors opens in it with every tensor.
#include <filesystem>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "../test_util.h"
#include "lmforge/core/safetensors.h"

using namespace lmforge;
using lmforge::test::TempDir;

namespace {

std::map<std::string, at::Tensor> sample() {
  at::manual_seed(11);
  return {{"f32", at::randn({3, 5})},
          {"bf16", at::randn({4}).to(at::kBFloat16)},
          {"f16", at::randn({2, 2}).to(at::kHalf)},
          {"i64", at::arange(7, at::kLong)},
          {"u8", at::randint(256, {6}, at::kByte)},
          {"flag", at::tensor(std::vector<int64_t>{1, 0, 1}).to(at::kBool)},
          {"scalar", at::tensor(3.5)},
          {"empty", at::zeros({0, 4})}};
}

std::string hex(const at::Tensor& t) {
  const at::Tensor c = t.contiguous();
  const auto* p = static_cast<const unsigned char*>(c.data_ptr());
  static const char* d = "0123456789abcdef";
  std::string s;
  for (int64_t i = 0; i < c.nbytes(); ++i) s += d[p[i] >> 4], s += d[p[i] & 15];
  return s;
}

std::string run_py(const std::string& python, const TempDir& d, const std::string& code, const std::string& args) {
  test::write_text(d / "peer.py", code);
  const test::CommandResult r = test::run_command("'" + python + "' '" + d / "peer.py" + "' " + args);
  EXPECT_EQ(r.code, 0) << r.output;
  return r.output;
}

}  // namespace

TEST(SafetensorsPeer, TheReferenceReadsOurFilesAndWeReadItsFiles) {
  const std::string python = test::peers_python();
  if (python.empty()) GTEST_SKIP() << "no peers environment (scripts/setup-peers.sh --light)";
  TempDir d("stpeer");
  const auto ours = sample();
  write_safetensors(d / "ours.safetensors", ours, {{"format", "pt"}});
  // Ours -> reference: every tensor's dtype, shape and bytes, and the metadata.
  const std::string out = run_py(python, d,
                                 "import json, sys\n"
                                 "from safetensors import deserialize, safe_open\n"
                                 "data = open(sys.argv[1], 'rb').read()\n"
                                 "with safe_open(sys.argv[1], framework='numpy') as f: meta = f.metadata()\n"
                                 "print(json.dumps({'meta': meta, 'tensors': {n: [t['dtype'], t['shape'], "
                                 "bytes(t['data']).hex()] for n, t in deserialize(data)}}))\n",
                                 "'" + d / "ours.safetensors" + "'");
  const auto j = nlohmann::json::parse(out.substr(out.find('{')));
  EXPECT_EQ(j["meta"]["format"], "pt");
  ASSERT_EQ(j["tensors"].size(), ours.size());
  for (const auto& [name, t] : ours) {
    SCOPED_TRACE(name);
    EXPECT_EQ(j["tensors"][name][1].get<std::vector<int64_t>>(), t.sizes().vec());
    EXPECT_EQ(j["tensors"][name][2].get<std::string>(), hex(t));
  }
  // Reference -> ours: the same tensors serialized by the library.
  nlohmann::json spec;
  for (const auto& [name, t] : ours) spec[name] = {j["tensors"][name][0], t.sizes().vec(), hex(t)};
  test::write_text(d / "spec.json", spec.dump());
  run_py(python, d,
         "import ctypes, json, sys\n"
         "import safetensors\n"
         "spec = json.load(open(sys.argv[1]))\n"
         "names = {'F64': 'float64', 'F32': 'float32', 'BF16': 'bfloat16', 'F16': 'float16', 'I64': 'int64', 'U8': 'uint8', 'BOOL': 'bool'}\n"
         "raw = {n: bytes.fromhex(v[2]) for n, v in spec.items()}\n"
         "if hasattr(safetensors, 'TensorSpec'):  # 0.8: raw pointers (the buffers outlive the call)\n"
         "    bufs = {n: ctypes.create_string_buffer(b, max(1, len(b))) for n, b in raw.items()}\n"
         "    d = {n: safetensors.TensorSpec(dtype=names[v[0]], shape=v[1], data_ptr=ctypes.addressof(bufs[n]), data_len=len(raw[n])) for n, v in spec.items()}\n"
         "else:  # 0.5: dicts of bytes\n"
         "    d = {n: {'dtype': names[v[0]], 'shape': v[1], 'data': raw[n]} for n, v in spec.items()}\n"
         "safetensors.serialize_file(d, sys.argv[2], metadata={'by': 'reference'})\n",
         "'" + d / "spec.json" + "' '" + d / "theirs.safetensors" + "'");
  const auto theirs = read_safetensors(d / "theirs.safetensors");
  ASSERT_EQ(theirs.size(), ours.size());
  for (const auto& [name, t] : ours) {
    SCOPED_TRACE(name);
    EXPECT_EQ(theirs.at(name).scalar_type(), t.scalar_type());
    EXPECT_EQ(theirs.at(name).sizes(), t.sizes());
    EXPECT_EQ(hex(theirs.at(name)), hex(t));
  }
}

TEST(SafetensorsPeer, ACheckpointOpensInTheReference) {
  const std::string python = test::peers_python();
  if (python.empty()) GTEST_SKIP() << "no peers environment (scripts/setup-peers.sh --light)";
  TempDir d("stpeer");
  auto r = test::run_lmforge("train -q -c gpt-tiny --set train.steps=1 --set run.threads=1 --out " + d / "run");
  ASSERT_EQ(r.code, 0) << r.output;
  const auto ours = read_safetensors(d / "run/checkpoint/model.safetensors");
  const std::string out = run_py(python, d,
                                 "import sys\n"
                                 "from safetensors import safe_open\n"
                                 "with safe_open(sys.argv[1], framework='numpy') as f:\n"
                                 "    for k in sorted(f.keys()): print(k, list(f.get_tensor(k).shape), float(f.get_tensor(k).sum()))\n",
                                 "'" + d / "run/checkpoint/model.safetensors" + "'");
  for (const auto& [name, t] : ours) {
    std::ostringstream line;
    line << name << " [";
    for (int64_t i = 0; i < t.dim(); ++i) line << (i ? ", " : "") << t.size(i);
    line << "]";
    EXPECT_NE(out.find(line.str()), std::string::npos) << line.str() << "\n" << out;
  }
}
