#include "lmforge/eval/perplexity.h"

#include <cmath>

#include "lmforge/core/precision.h"
#include "lmforge/eval/sliding_window.h"
#include "lmforge/models/language_model.h"
#include "lmforge/train/run_config.h"

namespace lmforge {

namespace {

// An HMT model reads the whole stream once, segment after segment, its memory carried across
// (context and stride do not apply): each token is scored once, with the segment's own tokens, the
// sensory tokens and the recalled memory as its context.
PerplexityResult score_stream_hmt(LanguageModel& model, const at::Tensor& stream, const PerplexityOptions& o) {
  const int64_t n = stream.numel() - 1, L = model.hmt()->config().segment_len, chunk = 16 * L;
  const at::Device dev = model.output_weight().device();
  model.eval();
  torch::NoGradGuard ng;
  AutocastGuard ac(o.dtype, dev);
  const at::Tensor s = stream.to(at::kLong).contiguous();
  PerplexityResult r;
  HmtState state;
  for (int64_t lo = 0; lo < n; lo += chunk) {
    const int64_t len = std::min(chunk, n - lo);
    at::Tensor inputs = s.narrow(0, lo, len).view({1, -1}).to(dev), targets = s.narrow(0, lo + 1, len).to(dev);
    ForwardContext ctx;
    at::Tensor h = model.hmt()->forward(model, inputs, ctx, &state);
    r.nll += model.loss_sum(h.reshape({-1, h.size(-1)}), targets).item<double>();
    r.tokens += len;
    if (o.unk_id >= 0) r.unk_targets += (targets == o.unk_id).sum().item<int64_t>();
    r.windows += (len + L - 1) / L;
    if (o.progress) o.progress(lo + len, n);
  }
  return r;
}

}  // namespace

PerplexityOptions window_options(const RunConfig& c, int64_t context, int64_t stride, int64_t batch,
                                 const std::string& precision) {
  PerplexityOptions o;
  o.context = context > 0 ? context : (c.eval.context > 0 ? c.eval.context : c.train.seq_len);
  o.stride = stride > 0 ? stride : (c.eval.stride > 0 ? c.eval.stride : std::max<int64_t>(1, o.context / 2));
  o.batch = batch;
  o.dtype = parse_precision(precision.empty() ? c.train.precision : precision, "--precision");
  LMF_REQUIRE(c.model.position != "learned" || o.context <= c.model.max_seq_len, UserError, "--context ", o.context,
              " exceeds the model's max_seq_len ", c.model.max_seq_len);
  return o;
}

void forward_windows(LanguageModel& model, const at::Tensor& stream, const PerplexityOptions& o,
                     const WindowBatchFn& fn) {
  LMF_REQUIRE(!model.hmt(), UserError, "sliding windows do not apply to an HMT model (it reads the stream with "
              "its memory); kNN-LM datastores need a plain decoder");
  const int64_t n = stream.numel() - 1;
  std::vector<Window> wins = sliding_windows(n, o.context, o.stride);
  const at::Device dev = model.output_weight().device();
  model.eval();
  torch::NoGradGuard ng;
  AutocastGuard ac(o.dtype, dev);
  const at::Tensor s = stream.to(at::kLong).contiguous();
  // Windows of equal length go through the model together.
  for (size_t i = 0; i < wins.size();) {
    const int64_t len = wins[i].hi - wins[i].lo;
    size_t j = i;
    while (j < wins.size() && j - i < static_cast<size_t>(o.batch) && wins[j].hi - wins[j].lo == len) ++j;
    std::vector<at::Tensor> in, tg;
    for (size_t k = i; k < j; ++k) {
      const Window& w = wins[k];
      in.push_back(s.narrow(0, w.lo, len));
      at::Tensor t = s.narrow(0, w.lo + 1, len).clone();
      const int64_t skip = w.first - (w.lo + 1);  // targets already scored by an earlier window
      if (skip > 0) t.narrow(0, 0, skip).fill_(-100);
      tg.push_back(t);
    }
    at::Tensor inputs = at::stack(in).to(dev), targets = at::stack(tg).to(dev);
    ForwardContext ctx;
    fn(model.hidden(inputs, ctx), targets);
    i = j;
    if (o.progress) o.progress(static_cast<int64_t>(i), static_cast<int64_t>(wins.size()));
  }
}

PerplexityResult score_stream(LanguageModel& model, const at::Tensor& stream, const PerplexityOptions& o) {
  if (model.hmt()) return score_stream_hmt(model, stream, o);
  PerplexityResult r;
  r.windows = static_cast<int64_t>(sliding_windows(stream.numel() - 1, o.context, o.stride).size());
  forward_windows(model, stream, o, [&](const at::Tensor& h, const at::Tensor& targets) {
    r.nll += model.loss_sum(h.reshape({-1, h.size(-1)}), targets.reshape({-1})).item<double>();
    r.tokens += (targets != -100).sum().item<int64_t>();
    if (o.unk_id >= 0) r.unk_targets += (targets == o.unk_id).sum().item<int64_t>();
  });
  return r;
}

nlohmann::json perplexity_report(const PerplexityResult& r, int64_t words, int64_t bytes, int64_t literal_unks) {
  nlohmann::json j;
  j["tokens"] = r.tokens;
  j["words"] = words;
  j["bytes"] = bytes;
  j["nll"] = r.nll;
  j["token_ppl"] = r.tokens ? std::exp(r.nll / static_cast<double>(r.tokens)) : 0.0;
  j["word_ppl"] = words ? std::exp(r.nll / static_cast<double>(words)) : 0.0;
  j["bits_per_byte"] = bytes ? r.nll / (static_cast<double>(bytes) * std::log(2.0)) : 0.0;
  // Unknown targets where the text had a real word: the literal <unk> of WikiText is not counted.
  const int64_t real_unks = std::max<int64_t>(0, r.unk_targets - literal_unks);
  j["unk_fraction"] = r.tokens ? static_cast<double>(real_unks) / static_cast<double>(r.tokens) : 0.0;
  j["windows"] = r.windows;
  return j;
}

}  // namespace lmforge
