#include "lmforge/eval/generate.h"

#include <ATen/CPUGeneratorImpl.h>

#include "lmforge/core/error.h"
#include "lmforge/models/language_model.h"

namespace lmforge {

int64_t sample_token(const at::Tensor& logits_in, const SamplingOptions& o, at::Generator& gen) {
  at::Tensor logits = logits_in.to(at::kFloat).cpu();
  if (o.temperature <= 0) return logits.argmax().item<int64_t>();
  logits = logits / o.temperature;
  if (o.top_k > 0 && o.top_k < logits.numel()) {
    at::Tensor kth = std::get<0>(logits.topk(o.top_k)).min();
    logits = logits.masked_fill(logits < kth, -std::numeric_limits<float>::infinity());
  }
  if (o.top_p < 1.0) {
    auto [sorted, idx] = logits.sort(-1, /*descending=*/true);
    at::Tensor cum = sorted.softmax(-1).cumsum(-1);
    // Drop a token when the tokens before it already reach top_p (the first always stays).
    at::Tensor drop = (cum - sorted.softmax(-1)) >= o.top_p;
    sorted = sorted.masked_fill(drop, -std::numeric_limits<float>::infinity());
    logits = at::full_like(logits, -std::numeric_limits<float>::infinity()).scatter(0, idx, sorted);
  }
  at::Tensor probs = logits.softmax(-1);
  return at::multinomial(probs, 1, false, gen).item<int64_t>();
}

std::vector<int64_t> generate(LanguageModel& model, const std::vector<int64_t>& prompt, int64_t max_new,
                              const SamplingOptions& o, bool use_cache) {
  LMF_REQUIRE(!prompt.empty(), UserError, "generate: the prompt encodes to no tokens");
  const at::Device dev = model.output_weight().device();
  at::Generator gen = at::make_generator<at::CPUGeneratorImpl>(o.seed);
  model.eval();
  torch::NoGradGuard ng;
  std::vector<int64_t> out;
  std::vector<int64_t> all = prompt;
  auto states = model.new_states();
  ForwardContext ctx;
  at::Tensor next_in = at::tensor(prompt, at::kLong).view({1, -1}).to(dev);
  for (int64_t i = 0; i < max_new; ++i) {
    at::Tensor h;
    if (use_cache) {
      h = model.step(next_in, states, ctx);
      ctx.pos_offset += next_in.size(1);
    } else {
      ForwardContext full;
      h = model.hidden(at::tensor(all, at::kLong).view({1, -1}).to(dev), full);
    }
    at::Tensor logits = model.logits(h.select(1, h.size(1) - 1)).squeeze(0);
    const int64_t t = sample_token(logits, o, gen);
    out.push_back(t);
    all.push_back(t);
    if (t == o.stop_id) break;
    next_in = at::full({1, 1}, t, at::TensorOptions().dtype(at::kLong).device(dev));
  }
  return out;
}

}  // namespace lmforge
