// Shared check of the PEFT tests (lora_test.cpp, meft_test.cpp).
#pragma once
#include <gtest/gtest.h>

#include "lmforge/models/sequence_classifier.h"

namespace lmforge::test {

// After one backward of clf on a random batch of (2, L) tokens: exactly the parameters whose name
// contains `adapter_marker`, and the classifier's pooler and head, have a gradient.
inline void expect_gradients_only_on_adapters_and_head(SequenceClassifier& clf, const std::string& adapter_marker,
                                                       int64_t vocab, int64_t L) {
  at::Tensor keep = at::ones({2, L}, at::kBool);
  clf.forward(at::randint(0, vocab, {2, L}), at::Tensor(), keep).sum().backward();
  for (const auto& q : clf.named_parameters()) {
    const bool adapter = q.key().find(adapter_marker) != std::string::npos;
    const bool head = q.key().rfind("pooler.", 0) == 0 || q.key().rfind("head.", 0) == 0;
    EXPECT_EQ(q.value().grad().defined(), adapter || head) << q.key();
  }
}

}  // namespace lmforge::test
