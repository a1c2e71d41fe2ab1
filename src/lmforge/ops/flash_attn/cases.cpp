// Harness cases of flash_attention (ops/harness.h): q, k, v ~ N(0, 1).
//  - small shapes (test + grad): causal and bidirectional, lengths that are not multiples of the
//    64 x 64 tiles, d not a multiple of 16, queries fewer than keys (decoding with a KV cache),
//    sliding windows, ALiBi, key padding with a row of no real keys, batch > 1.
//  - the benchmark shapes (perf): B=1, 8 heads, d=64, causal, L 1K..4K, fp32 and bf16, and
//    the attention of the GPT step benchmark (B8 H4 L256 d64); the reference (the L x L scores in
//    ATen) is the attention mixer's "aten" core.
#include <cmath>
#include <string>

#include "lmforge/ops/flash_attn/op.h"
#include "lmforge/ops/harness.h"

namespace lmforge {
namespace {

struct Shape {
  int64_t B, H, L, S, D;
  bool causal = true;
  int64_t window = 0;
  bool alibi = false, padding = false;
};

std::string name(const Shape& s) {
  std::string n = "B" + std::to_string(s.B) + "_H" + std::to_string(s.H) + "_L" + std::to_string(s.L);
  if (s.S != s.L) n += "_S" + std::to_string(s.S);
  n += "_d" + std::to_string(s.D);
  if (!s.causal) n += "_bidir";
  if (s.window) n += "_w" + std::to_string(s.window);
  if (s.alibi) n += "_alibi";
  if (s.padding) n += "_pad";
  return n;
}

OpCase make_case(const Shape& s, bool small) {
  OpCase c;
  c.op = "flash_attention";
  c.shape = name(s);
  c.dtypes = {at::kFloat, at::kBFloat16};
  c.make_inputs = [s](at::ScalarType dt) {
    return OpInputs{at::randn({s.B, s.H, s.L, s.D}, at::kDouble).to(dt), at::randn({s.B, s.H, s.S, s.D}, at::kDouble).to(dt),
                    at::randn({s.B, s.H, s.S, s.D}, at::kDouble).to(dt)};
  };
  FlashAttentionOptions o;
  o.causal = s.causal, o.window = s.window;
  if (s.alibi) o.alibi_slopes = at::exp2(-at::arange(1, s.H + 1, at::kFloat));
  if (s.padding) {  // batch row b keeps its first S - 7 b keys; the last row keeps none
    o.key_padding = at::ones({s.B, s.S}, at::kBool);
    for (int64_t b = 0; b < s.B; ++b) o.key_padding[b].narrow(0, b + 1 == s.B ? 0 : s.S - 7 * b, b + 1 == s.B ? s.S : 7 * b).fill_(false);
  }
  c.fast = [o](const OpInputs& in) { return std::vector<at::Tensor>{flash_attention(in[0], in[1], in[2], o)}; };
  c.ref = [o](const OpInputs& in) { return std::vector<at::Tensor>{flash_attention_ref(in[0], in[1], in[2], o)}; };
  // 2 matmuls of 2 FLOPs per (query, visible key, d); the backward does 5 (2.5x).
  c.flops = [s](const OpInputs&) {
    double pairs = 0;
    for (int64_t i = s.S - s.L; i < s.S; ++i) {
      int64_t lo = 0, hi = s.S;
      if (s.causal) hi = i + 1;
      if (s.window) lo = std::max<int64_t>(0, i - s.window + 1), hi = s.causal ? hi : std::min(hi, i + s.window);
      pairs += static_cast<double>(hi - lo);
    }
    return 4.0 * s.B * s.H * s.D * pairs;
  };
  c.backward_flops_factor = 2.5;
  // fp32: exp is a degree-6 polynomial (rel 2e-7) and the sums run in another order than ATen's.
  c.tol[at::kFloat] = {2e-5, 1e-4};
  // bf16: output and gradients are rounded to bf16 (rel 2^-8 = 3.9e-3) from fp32 work; the
  // avx512bf16 GEMMs also round P and dS to bf16: worst 0.63 of this bound (grad of v,
  // B2_H3_L150_d64_w100_alibi_pad), 0.15 without that rounding.
  c.tol[at::kBFloat16] = {1e-2, 2e-2};
  c.test = small;
  c.grad = small;
  c.perf = !small;
  return c;
}

const bool kCases = [] {
  for (const Shape& s : {Shape{1, 2, 37, 37, 8}, Shape{2, 2, 70, 70, 24, false}, Shape{1, 1, 5, 40, 16},
                         Shape{1, 2, 90, 90, 16, true, 20}, Shape{1, 2, 77, 77, 8, false, 9},
                         Shape{1, 4, 66, 66, 16, true, 0, true}, Shape{3, 2, 50, 50, 8, false, 0, false, true},
                         Shape{2, 2, 20, 70, 16, true, 0, true, true}})
    register_op_case(make_case(s, true));
  // test only (too large for finite differences): realistic widths, tails of the 64 x 64 tiles
  for (const Shape& s : {Shape{1, 4, 200, 200, 64}, Shape{2, 2, 130, 130, 128, false}, Shape{1, 2, 1, 300, 64},
                         Shape{2, 3, 150, 150, 64, true, 100, true, true}}) {
    OpCase c = make_case(s, true);
    c.grad = false;
    register_op_case(std::move(c));
  }
  // (no 8K: the reference and the peers hold several 2 GB L x L matrices there, too much for the
  // kernels suite on a 24 GB machine)
  for (int64_t L : {1024, 2048, 4096}) register_op_case(make_case(Shape{1, 8, L, L, 64}, false));
  register_op_case(make_case(Shape{8, 4, 256, 256, 64}, false));  // the attention of bench/gpt_step.sh's model
  return true;
}();

}  // namespace
}  // namespace lmforge
