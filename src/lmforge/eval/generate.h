// Autoregressive generation with per-layer decoding state (attention's KV cache, or a mixer's
// own recurrence): the prompt is run once, then one token per step.
// Sampling: greedy (temperature 0), or softmax(logits / T) restricted to the top-k tokens and to
// the smallest set whose probability reaches top-p (nucleus sampling, Holtzman et al. 2020).
#pragma once
#include <cstdint>
#include <vector>

#include <ATen/ATen.h>

namespace lmforge {

class LanguageModel;

struct SamplingOptions {
  double temperature = 0.0;  // 0: greedy
  int64_t top_k = 0;         // 0: off
  double top_p = 1.0;        // 1: off
  uint64_t seed = 0;
  int64_t stop_id = -1;      // stop after emitting this token (e.g. eos); -1: never
};

// Picks the next token from logits (V,) fp32.
int64_t sample_token(const at::Tensor& logits, const SamplingOptions& o, at::Generator& gen);

// Returns the new tokens (without the prompt).
std::vector<int64_t> generate(LanguageModel& model, const std::vector<int64_t>& prompt, int64_t max_new,
                              const SamplingOptions& o, bool use_cache = true);

}  // namespace lmforge
