// Autoregressive generation with per-layer decoding state (attention's KV cache, or a mixer's
// own recurrence): the prompt is run once, then one token per step.
// Sampling: greedy (temperature 0), or softmax(logits / T) restricted to the top-k tokens and to
// the smallest set whose probability reaches top-p (nucleus sampling, Holtzman et al. 2020).
// Beam search (beams > 1): the `beams` best hypotheses by summed log-probability are kept; a
// hypothesis that emits stop_id is finished and ranked by score / length^length_penalty (the
// length of its new tokens, as Hugging Face's BeamSearchScorer); search ends when `beams`
// hypotheses are finished and no live one can still beat the worst of them, or at max_new.
// Batches: several prompts decode together when they have the same length (no padding, so each
// row is exactly its single-prompt result); prompts of other lengths form their own batches.
// Row i of a call samples from its own generator seeded with seed + i.
#pragma once
#include <cstdint>
#include <functional>
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
  int64_t beams = 1;         // > 1: beam search (deterministic; temperature/top-k/top-p unused)
  double length_penalty = 1.0;
};

// Turns the next-token logits (B, V) of the rows being decoded into the scores to sample from
// (B, V), given their final hidden states (B, D): e.g. kNN-LM's interpolation. Log-probabilities
// are valid scores (sampling applies softmax, beam search log_softmax).
using LogitsHook = std::function<at::Tensor(const at::Tensor& hidden, const at::Tensor& logits)>;

// Picks the next token from logits (V,) fp32.
int64_t sample_token(const at::Tensor& logits, const SamplingOptions& o, at::Generator& gen);

// Returns the new tokens (without the prompt).
std::vector<int64_t> generate(LanguageModel& model, const std::vector<int64_t>& prompt, int64_t max_new,
                              const SamplingOptions& o, bool use_cache = true);

// Several prompts; result i continues prompt i. max_batch bounds the rows decoded together
// (beam search runs one prompt at a time with `beams` rows).
std::vector<std::vector<int64_t>> generate_batch(LanguageModel& model, const std::vector<std::vector<int64_t>>& prompts,
                                                 int64_t max_new, const SamplingOptions& o, int64_t max_batch = 32,
                                                 const LogitsHook& hook = nullptr);

// Beam search for one prompt: the best finished hypothesis (or the best live one at max_new).
std::vector<int64_t> beam_search(LanguageModel& model, const std::vector<int64_t>& prompt, int64_t max_new,
                                 const SamplingOptions& o, const LogitsHook& hook = nullptr);

}  // namespace lmforge
