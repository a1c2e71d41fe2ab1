// Every registered mixer's declared capabilities (MixerCapabilities, nn/components.h) against what
// it does, both ways: what a mixer claims must work, and what works must be claimed (callers such
// as SequenceClassifier's unpadding and `lmforge convert` trust the claim instead of the name).
//   unpadding          packed (1, nnz, D) input gives the padded forward's outputs at real tokens
//   kv_cache /         a state of its own (not the default history recompute) exactly when
//   recurrent_step     claimed, and then a prompt plus token-by-token step() equals the full forward
//                      (the default recompute is only as exact as the forward is length-independent:
//                      routing's cluster_window = 0 is ceil(L / n_clusters), so a prefix of 4 tokens
//                      is attended with another w than the whole 10, a 5e-3 difference)
//   linear_conversion  linear_attention with its weights, in distillation mode, reproduces it
// Each mixer runs with its default options, and attention also with a window and with ALiBi
// (options change what it can claim).
#include <memory>
#include <string>
#include <typeinfo>
#include <vector>

#include <gtest/gtest.h>

#include "lmforge/core/error.h"
#include "lmforge/nn/components.h"
#include "lmforge/nn/linear_attention.h"

namespace lmforge {
namespace {

constexpr int64_t kD = 32, kB = 3, kL = 10;

struct Variant {
  std::string mixer;
  toml::table options;
  std::string position = "rope";
  std::string note;  // the options, for messages
  std::string label() const { return mixer + note + " (" + position + ")"; }
};

std::vector<Variant> variants() {
  std::vector<Variant> v;
  for (const auto& name : MixerRegistry::names()) v.push_back({name, {}, "rope"});
  toml::table window;
  window.insert("window", int64_t{3});
  v.push_back({"attention", window, "rope", " window=3"});
  v.push_back({"attention", {}, "alibi"});
  return v;
}

LayerContext layer_context(const Variant& v, bool causal) {
  LayerContext c;
  c.d_model = kD;
  c.max_seq_len = 64;
  c.position = v.position;
  c.causal = causal;
  return c;
}

// The mixer as the variant builds it in a decoder (causal) or an encoder; null when its options
// refuse that context (hyena is causal only).
std::shared_ptr<Mixer> build(const Variant& v, bool causal) {
  try {
    std::shared_ptr<Mixer> m = MixerRegistry::at(v.mixer, "test").build(v.options, "test." + v.mixer, layer_context(v, causal));
    m->eval();
    return m;
  } catch (const ConfigError&) {
    return nullptr;
  }
}

bool close(const at::Tensor& a, const at::Tensor& b) {
  return a.sizes() == b.sizes() && at::allclose(a, b, 1e-4, 1e-5);
}

// Rows 1 and 2 end in padding.
at::Tensor key_padding() {
  at::Tensor keep = at::ones({kB, kL}, at::kBool);
  keep[1].narrow(0, 6, 4).fill_(false);
  keep[2].narrow(0, 3, 7).fill_(false);
  return keep;
}

// Whether the packed forward (SequenceClassifier's unpadded layout) equals the padded one at the
// real tokens; a mixer that throws on packed input does not support it.
bool unpadding_works(Mixer& m, bool causal) {
  at::NoGradGuard ng;
  at::manual_seed(1);
  const at::Tensor x = at::randn({kB, kL, kD}), keep = key_padding();
  ForwardContext pc;
  pc.causal = causal;
  pc.key_padding = keep;
  const at::Tensor idx = keep.reshape({-1}).nonzero().squeeze(1);
  const at::Tensor want = m.forward(x, pc).reshape({kB * kL, kD}).index_select(0, idx);
  ForwardContext uc;
  uc.causal = causal;
  uc.key_padding = keep;
  uc.carry["unpad_index"] = idx;
  uc.carry["unpad_positions"] = (idx % kL).unsqueeze(0);
  try {
    const at::Tensor got = m.forward(x.reshape({kB * kL, kD}).index_select(0, idx).unsqueeze(0), uc);
    return close(got.reshape({-1, kD}), want);
  } catch (const std::exception&) {
    return false;
  }
}

// Decoding with the mixer's own state (a 4-token prompt, then one token at a time) against the full
// causal forward.
void expect_decoding_matches_forward(Mixer& m, const std::string& label) {
  at::NoGradGuard ng;
  at::manual_seed(2);
  const at::Tensor x = at::randn({2, kL, kD});
  ForwardContext fc;
  const at::Tensor want = m.forward(x, fc);
  std::unique_ptr<MixerState> state = m.new_state();
  std::vector<at::Tensor> ys;
  const int64_t prompt = 4;
  ForwardContext c0;
  ys.push_back(m.step(x.narrow(1, 0, prompt), *state, c0));
  for (int64_t t = prompt; t < kL; ++t) {
    ForwardContext c;
    c.pos_offset = t;
    ys.push_back(m.step(x.narrow(1, t, 1), *state, c));
  }
  const at::Tensor got = at::cat(ys, 1);
  EXPECT_TRUE(close(got, want)) << label << ": decoding differs from the forward by "
                                << (got - want).abs().max().item<double>();
}

// Whether linear_attention built from the mixer's options (as `lmforge convert` does) takes every
// one of its weights and, in distillation mode, reproduces its output.
bool linear_conversion_works(Mixer& teacher, const Variant& v) {
  at::NoGradGuard ng;
  const toml::table opts = MixerRegistry::at(v.mixer, "test").resolve(v.options, "test");
  LinearAttentionMixerOptions lo;
  lo.n_heads = opts["n_heads"].value_or(int64_t{0});
  if (lo.n_heads <= 0) return false;
  lo.head_dim = opts["head_dim"].value_or(int64_t{0});
  lo.qk_dim = lo.head_dim > 0 ? lo.head_dim : kD / lo.n_heads;
  lo.qkv_bias = opts["qkv_bias"].value_or(true);
  lo.out_bias = opts["out_bias"].value_or(true);
  std::shared_ptr<LinearAttentionMixer> student;
  try {
    student = std::make_shared<LinearAttentionMixer>(lo, layer_context(v, true));
  } catch (const ConfigError&) {
    return false;
  }
  auto sp = student->named_parameters();
  for (const auto& p : teacher.named_parameters()) {
    at::Tensor* dst = sp.find(p.key());
    if (!dst || dst->sizes() != p.value().sizes()) return false;
    dst->copy_(p.value());
  }
  student->eval();
  student->set_distill(true);
  at::manual_seed(3);
  const at::Tensor x = at::randn({2, kL, kD});
  ForwardContext c1, c2;
  return close(student->forward(x, c2), teacher.forward(x, c1));
}

TEST(MixerCapabilities, EveryMixerClaimsWhatItDoes) {
  for (const Variant& v : variants()) {
    SCOPED_TRACE(v.label());
    std::shared_ptr<Mixer> dec = build(v, true);
    ASSERT_TRUE(dec) << "cannot build in a decoder with its default options";
    const MixerCapabilities caps = dec->capabilities();

    // Unpadding: in an encoder when the mixer can be one (where unpadding is used), else causal.
    std::shared_ptr<Mixer> enc = build(v, false);
    Mixer& m = enc ? *enc : *dec;
    EXPECT_EQ(m.capabilities().unpadding, caps.unpadding) << "claims depend on causal";
    EXPECT_EQ(unpadding_works(m, enc == nullptr), caps.unpadding) << "unpadding: claimed " << caps.unpadding;

    // Decoding state: a cache or recurrence of its own exactly when claimed, and then correct.
    EXPECT_FALSE(caps.kv_cache && caps.recurrent_step) << "a KV cache and a fixed-size state at once";
    const bool own_state = typeid(*dec->new_state()) != typeid(*dec->Mixer::new_state());
    EXPECT_EQ(own_state, caps.kv_cache || caps.recurrent_step)
        << "kv_cache " << caps.kv_cache << ", recurrent_step " << caps.recurrent_step << ", own state " << own_state;
    if (caps.kv_cache || caps.recurrent_step) expect_decoding_matches_forward(*dec, v.label());

    EXPECT_EQ(linear_conversion_works(*dec, v), caps.linear_conversion)
        << "linear_conversion: claimed " << caps.linear_conversion;
  }
}

TEST(MixerCapabilities, AttentionClaimsAll) {
  // The baseline the callers rely on: plain softmax attention supports unpadding, a KV cache and
  // conversion (a check that the test above is not vacuous).
  const Variant v{"attention", {}, "rope"};
  const MixerCapabilities c = build(v, false)->capabilities();
  EXPECT_TRUE(c.unpadding);
  EXPECT_TRUE(c.kv_cache);
  EXPECT_TRUE(c.linear_conversion);
  EXPECT_FALSE(c.recurrent_step);
}

}  // namespace
}  // namespace lmforge
