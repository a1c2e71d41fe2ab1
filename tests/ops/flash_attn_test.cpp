// flash_attention (ops/flash_attn): the tiled kernels equal the attention mixer's ATen core on
// every ISA this machine runs (forward and gradients, with causal masking, ALiBi and key padding),
// the two mixer cores give the same model, a row with no visible key is 0 with zero gradients,
// and bad inputs are clear errors. (The op harness compares every case with the oracle too.)
#include <gtest/gtest.h>

#include "../test_util.h"
#include "lmforge/core/error.h"
#include "lmforge/models/language_model.h"
#include "lmforge/nn/attention.h"
#include "lmforge/nn/positions.h"
#include "lmforge/ops/flash_attn/op.h"
#include "lmforge/ops/isa.h"
#include "lmforge/ops/kernel_trace.h"

using namespace lmforge;

namespace {

struct Grads {
  at::Tensor y, dq, dk, dv;
};

template <class F>
Grads run(F f, const at::Tensor& q0, const at::Tensor& k0, const at::Tensor& v0, const at::Tensor& g) {
  at::Tensor q = q0.clone().requires_grad_(), k = k0.clone().requires_grad_(), v = v0.clone().requires_grad_();
  at::Tensor y = f(q, k, v);
  y.backward(g);
  return {y.detach(), q.grad(), k.grad(), v.grad()};
}

double max_diff(const at::Tensor& a, const at::Tensor& b) { return (a - b).abs().max().item<double>(); }

}  // namespace

TEST(FlashAttention, EqualsTheAtenCoreOnEveryIsa) {
  at::manual_seed(3);
  const int64_t B = 2, H = 3, L = 150, S = 150, D = 32;
  at::Tensor q = at::randn({B, H, L, D}), k = at::randn({B, H, S, D}), v = at::randn({B, H, S, D});
  at::Tensor g = at::randn({B, H, L, D});
  at::Tensor slopes = alibi_slopes(H), pad = at::ones({B, S}, at::kBool);
  pad[1].narrow(0, 100, 50).fill_(false);
  for (bool causal : {true, false}) {
    Grads ref = run(
        [&](const at::Tensor& a, const at::Tensor& b, const at::Tensor& c) {
          return softmax_attention(a, b, c, causal, 0, alibi_bias(slopes, L, S, 0, causal), pad, 0.0, false);
        },
        q, k, v, g);
    for (Isa isa : supported_isas()) {
      ScopedIsa pin(isa);
      FlashAttentionOptions o;
      o.causal = causal, o.alibi_slopes = slopes, o.key_padding = pad;
      Grads got = run([&](const at::Tensor& a, const at::Tensor& b, const at::Tensor& c) { return flash_attention(a, b, c, o); },
                      q, k, v, g);
      SCOPED_TRACE(std::string(isa_name(isa)) + (causal ? " causal" : " bidirectional"));
      EXPECT_LT(max_diff(got.y, ref.y), 2e-5);
      EXPECT_LT(max_diff(got.dq, ref.dq), 1e-4);
      EXPECT_LT(max_diff(got.dk, ref.dk), 1e-4);
      EXPECT_LT(max_diff(got.dv, ref.dv), 1e-4);
    }
  }
}

TEST(FlashAttention, RowWithoutVisibleKeysIsZeroWithZeroGradients) {
  at::manual_seed(4);
  at::Tensor q = at::randn({2, 2, 70, 16}), k = at::randn({2, 2, 70, 16}), v = at::randn({2, 2, 70, 16});
  FlashAttentionOptions o;
  o.causal = false;
  o.key_padding = at::ones({2, 70}, at::kBool);
  o.key_padding[1].fill_(false);
  for (Isa isa : supported_isas()) {
    ScopedIsa pin(isa);
    Grads got = run([&](const at::Tensor& a, const at::Tensor& b, const at::Tensor& c) { return flash_attention(a, b, c, o); },
                    q, k, v, at::ones({2, 2, 70, 16}));
    SCOPED_TRACE(isa_name(isa));
    EXPECT_TRUE(at::isfinite(got.y).all().item<bool>() && at::isfinite(got.dq).all().item<bool>());
    EXPECT_EQ(got.y[1].abs().max().item<float>(), 0.f);
    EXPECT_EQ(got.dq[1].abs().max().item<float>(), 0.f);
    EXPECT_EQ(got.dk[1].abs().max().item<float>(), 0.f);
    EXPECT_GT(got.y[0].abs().max().item<float>(), 0.f);
  }
}

TEST(FlashAttention, MixerCoresGiveTheSameModel) {
  for (const std::string position : {"rope", "alibi"}) {
    auto config = [&](const std::string& core) {
      toml::table t = parse_toml_string("vocab_size = 50\nd_model = 64\nn_layers = 2\nmax_seq_len = 96\nposition = \"" +
                                            position + "\"\n[block]\nattention = { n_heads = 4, core = \"" + core + "\" }\n",
                                        "test");
      return parse_model_config(&t, "model");
    };
    at::manual_seed(5);
    LanguageModel flash(config("flash"));
    at::manual_seed(5);
    LanguageModel aten(config("aten"));
    at::Tensor x = at::randint(0, 50, {2, 90}, at::kLong);
    ForwardContext c1, c2;
    at::Tensor hf = flash.hidden(x, c1), ha = aten.hidden(x, c2);
    SCOPED_TRACE(position);
    EXPECT_LT(max_diff(hf, ha), 1e-4);
    hf.pow(2).mean().backward();
    ha.pow(2).mean().backward();
    auto pf = flash.named_parameters(), pa = aten.named_parameters();
    for (const auto& p : pf) EXPECT_LT(max_diff(p.value().grad(), pa[p.key()].grad()), 1e-5) << p.key();
  }
}

TEST(FlashAttention, BadInputsAreClearErrors) {
  at::Tensor q = at::randn({1, 2, 8, 16}), k = at::randn({1, 2, 8, 16});
  EXPECT_NE(test::error_of<std::invalid_argument>([&] { flash_attention(q, k, at::randn({1, 2, 9, 16})); }).find("k and v must be (B, H, S, d)"), std::string::npos);
  EXPECT_NE(test::error_of<std::invalid_argument>([&] { flash_attention(at::randn({1, 2, 9, 16}), k, k); }).find("more queries (9) than keys (8)"), std::string::npos);
  EXPECT_NE(test::error_of<std::invalid_argument>([&] { flash_attention(q.view({2, 8, 16}), k, k); }).find("q, k, v must be (B, H, N, d)"), std::string::npos);
  FlashAttentionOptions o;
  o.key_padding = at::ones({1, 8}, at::kLong);
  EXPECT_NE(test::error_of<std::invalid_argument>([&] { flash_attention(q, k, k, o); }).find("key_padding must be bool (B = 1, S = 8)"), std::string::npos);
  o = {};
  o.alibi_slopes = at::ones({3});
  EXPECT_NE(test::error_of<std::invalid_argument>([&] { flash_attention(q, k, k, o); }).find("alibi_slopes must be (H = 2)"), std::string::npos);
  toml::table t = parse_toml_string("vocab_size = 50\nd_model = 32\nn_layers = 1\n[block]\nattention = { core = \"fast\" }\n", "test");
  EXPECT_NE(test::error_of<ConfigError>([&] { LanguageModel m(parse_model_config(&t, "model")); }).find("attention.core must be \"auto\", \"flash\" or \"aten\""), std::string::npos);
}

// bf16 inputs: each bf16 path (AMX tiles with d % 32 == 0, VDPBF16PS under avx512bf16, fp32 GEMMs
// under avx512) is the one that runs, and stays within bf16 accuracy of a float64 reference
// (relative rms error of the output and of each gradient).
TEST(FlashAttention, Bf16PathsRunAndMatchFloat64) {
  at::manual_seed(6);
  const int64_t B = 2, H = 2, L = 150, D = 64;
  at::Tensor q = at::randn({B, H, L, D}).to(at::kBFloat16), k = at::randn({B, H, L, D}).to(at::kBFloat16),
             v = at::randn({B, H, L, D}).to(at::kBFloat16), g = at::randn({B, H, L, D}).to(at::kBFloat16);
  FlashAttentionOptions o;
  o.alibi_slopes = alibi_slopes(H);
  Grads ref = run([&](const at::Tensor& a, const at::Tensor& b, const at::Tensor& c) { return flash_attention_ref(a, b, c, o); },
                  q.to(at::kDouble), k.to(at::kDouble), v.to(at::kDouble), g.to(at::kDouble));
  auto rel_rms = [](const at::Tensor& x, const at::Tensor& r) {
    return ((x.to(at::kDouble) - r).pow(2).mean().sqrt() / r.pow(2).mean().sqrt()).item<double>();
  };
  for (auto [isa, kernel] : {std::pair<Isa, const char*>{Isa::amx, "amx_bf16"}, {Isa::avx512bf16, "avx512bf16"},
                             {Isa::avx512, "avx512_f32"}}) {
    if (!isa_supported(isa)) continue;
    ScopedIsa pin(isa);
    Grads got = run([&](const at::Tensor& a, const at::Tensor& b, const at::Tensor& c) { return flash_attention(a, b, c, o); },
                    q, k, v, g);
    SCOPED_TRACE(isa_name(isa));
    EXPECT_EQ(last_kernel("flash_attention", "forward"), kernel);
    EXPECT_EQ(last_kernel("flash_attention", "backward"), kernel);
    EXPECT_LT(rel_rms(got.y, ref.y), 5e-3);
    EXPECT_LT(rel_rms(got.dq, ref.dq), 1e-2);
    EXPECT_LT(rel_rms(got.dk, ref.dk), 1e-2);
    EXPECT_LT(rel_rms(got.dv, ref.dv), 1e-2);
  }
}
