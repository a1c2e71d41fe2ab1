// Tests of the MQAR generator: sequence structure, determinism, gap distribution, option checks,
// and the accuracy helper.
#include <gtest/gtest.h>

#include <map>
#include <set>

#include "lmforge/core/error.h"
#include "lmforge/data/lm_sampler.h"
#include "lmforge/data/mqar.h"

namespace lmforge::data {
namespace {

void check_structure(const MqarOptions& o, const MqarBatch& b) {
  const int64_t L = o.seq_len, V = o.vocab_size, K = o.num_kv_pairs;
  const int64_t context = 2 * K * o.num_passes;
  ASSERT_EQ(b.inputs.sizes(), b.targets.sizes());
  ASSERT_EQ(b.inputs.size(1), L);
  for (int64_t r = 0; r < b.inputs.size(0); ++r) {
    auto x = b.inputs[r].contiguous(), y = b.targets[r].contiguous();
    const int64_t* xp = x.data_ptr<int64_t>();
    const int64_t* yp = y.data_ptr<int64_t>();
    std::map<int64_t, int64_t> kv;
    std::set<int64_t> values;
    for (int64_t k = 0; k < K; ++k) {
      int64_t key = xp[2 * k], value = xp[2 * k + 1];
      EXPECT_GE(key, 1);
      EXPECT_LT(key, V / 2);
      EXPECT_GE(value, V / 2);
      EXPECT_LT(value, V);
      EXPECT_TRUE(kv.emplace(key, value).second) << "duplicate key";
      EXPECT_TRUE(values.insert(value).second) << "duplicate value";
    }
    for (int64_t t = 2 * K; t < context; ++t) EXPECT_EQ(xp[t], xp[t % (2 * K)]);  // passes
    std::set<int64_t> queried;
    for (int64_t t = 0; t < L; ++t) {
      if (yp[t] == kIgnoreIndex) continue;
      EXPECT_GE(t, context);
      EXPECT_EQ((t - context) % 2, 0);
      auto it = kv.find(xp[t]);
      ASSERT_NE(it, kv.end()) << "scored position " << t << " does not hold a key";
      EXPECT_EQ(yp[t], it->second) << "answer is not the key's value";
      EXPECT_TRUE(queried.insert(xp[t]).second) << "key queried twice";
    }
    EXPECT_EQ(static_cast<int64_t>(queried.size()), K);
    for (int64_t t = 0; t < L; ++t) {
      EXPECT_GE(xp[t], 0);
      EXPECT_LT(xp[t], V);
    }
  }
}

TEST(DataMqar, StructureAndDeterminism) {
  MqarOptions o;
  o.vocab_size = 128;
  o.seq_len = 64;
  o.num_kv_pairs = 8;
  MqarBatch a = generate_mqar(o, 16, 3, 10);
  check_structure(o, a);
  MqarBatch again = generate_mqar(o, 16, 3, 10);
  EXPECT_TRUE(a.inputs.equal(again.inputs));
  EXPECT_TRUE(a.targets.equal(again.targets));
  EXPECT_FALSE(generate_mqar(o, 16, 3, 11).inputs.equal(a.inputs));
  EXPECT_FALSE(generate_mqar(o, 16, 4, 10).inputs.equal(a.inputs));
  // Row b does not depend on the batch size: the first rows of a bigger batch are the same.
  EXPECT_TRUE(generate_mqar(o, 4, 3, 10).inputs.equal(a.inputs.narrow(0, 0, 4)));
}

TEST(DataMqar, PassesAndZeroFill) {
  MqarOptions o;
  o.vocab_size = 64;
  o.seq_len = 48;
  o.num_kv_pairs = 4;
  o.num_passes = 2;
  o.random_non_queries = false;
  MqarBatch b = generate_mqar(o, 8, 1, 0);
  check_structure(o, b);
  // Without random fill, every position after the context that is not a query holds 0.
  at::Tensor tail_in = b.inputs.narrow(1, 16, 32), tail_tg = b.targets.narrow(1, 16, 32);
  EXPECT_TRUE((tail_in == 0).eq(tail_tg == kIgnoreIndex).all().item<bool>());
  // The tightest legal layout: context plus K queries two apart.
  o.seq_len = 2 * 4 * 2 + 2 * 4;
  check_structure(o, generate_mqar(o, 8, 1, 0));
}

TEST(DataMqar, ShortGapsDominate) {
  MqarOptions o;
  o.vocab_size = 512;
  o.seq_len = 256;
  o.num_kv_pairs = 4;
  MqarBatch b = generate_mqar(o, 200, 5, 0);
  const int64_t context = 8, space = (256 - context) / 2;
  int64_t near = 0, far = 0;
  at::Tensor pos = (b.targets != kIgnoreIndex).nonzero().select(1, 1);
  for (int64_t i = 0; i < pos.size(0); ++i) {
    int64_t gap = (pos[i].item<int64_t>() - context) / 2;
    (gap < space / 8 ? near : far)++;
  }
  EXPECT_EQ(near + far, 800);
  EXPECT_GT(near, far);  // power law with a = 0.01: the first eighth gets most queries
  o.power_a = 1.0;       // uniform
  b = generate_mqar(o, 200, 5, 0);
  pos = (b.targets != kIgnoreIndex).nonzero().select(1, 1);
  near = ((pos - context) / 2 < space / 8).sum().item<int64_t>();
  EXPECT_LT(near, 200);
}

TEST(DataMqar, OptionErrorsNameTheKey) {
  auto message = [](MqarOptions o) {
    try {
      o.validate();
    } catch (const ConfigError& e) {
      return std::string(e.what());
    }
    return std::string("(no error)");
  };
  MqarOptions o;
  o.seq_len = 40;  // 16 pairs need 64
  EXPECT_NE(message(o).find("'seq_len'"), std::string::npos) << message(o);
  o = MqarOptions();
  o.seq_len = 255;
  EXPECT_NE(message(o).find("even"), std::string::npos);
  o = MqarOptions();
  o.vocab_size = 20;
  EXPECT_NE(message(o).find("'vocab_size'"), std::string::npos);
  o = MqarOptions();
  o.power_a = 0;
  EXPECT_NE(message(o).find("'power_a'"), std::string::npos);
  o = MqarOptions();
  o.num_kv_pairs = 0;
  EXPECT_NE(message(o).find("'num_kv_pairs'"), std::string::npos);
  EXPECT_THROW(generate_mqar(o, 1, 0, 0), ConfigError);
}

TEST(DataMqar, Accuracy) {
  MqarOptions o;
  o.vocab_size = 32;
  o.seq_len = 32;
  o.num_kv_pairs = 4;
  MqarBatch b = generate_mqar(o, 2, 0, 0);
  at::Tensor safe = b.targets.clamp_min(0);
  at::Tensor logits = at::one_hot(safe, 32).to(at::kFloat);
  EXPECT_DOUBLE_EQ(mqar_accuracy(logits, b.targets), 1.0);
  // Row 0 predicts token 0 everywhere (values are >= V/2): half the scored positions are wrong.
  logits[0].zero_();
  EXPECT_DOUBLE_EQ(mqar_accuracy(logits, b.targets), 0.5);
  EXPECT_THROW(mqar_accuracy(logits.narrow(2, 0, 31).select(0, 0), b.targets), InputError);
  EXPECT_THROW(mqar_accuracy(logits, at::full({2, 32}, kIgnoreIndex, at::kLong)), InputError);
}

}  // namespace
}  // namespace lmforge::data
