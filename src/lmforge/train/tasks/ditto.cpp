// DITTO's pseudo-repetition task; see ditto.h.
#include "lmforge/train/tasks/ditto.h"

#include <algorithm>

#include "lmforge/data/counter_rng.h"
#include "lmforge/models/language_model.h"

namespace lmforge {

void DittoOptions::validate() const {
  LMF_REQUIRE(mix >= 0 && mix <= 1, ConfigError, "data.ditto.mix must be in [0, 1], got ", mix);
  LMF_REQUIRE(gamma >= 0, ConfigError, "data.ditto.gamma must be >= 0, got ", gamma);
  LMF_REQUIRE(loss == "nl" || loss == "nl_clip" || loss == "mse", ConfigError,
              "data.ditto.loss: unknown loss '", loss, "' (nl | nl_clip | mse)");
}

std::optional<RepetitionRow> pseudo_repetition(const std::vector<int64_t>& x, int64_t sentence_end, uint64_t pick) {
  std::vector<int64_t> ends;
  for (size_t i = 0; i < x.size(); ++i)
    if (x[i] == sentence_end) ends.push_back(static_cast<int64_t>(i));
  if (ends.size() < 3) return std::nullopt;
  const int64_t s = 1 + static_cast<int64_t>(data::uniform_below(pick, ends.size() - 2));
  const int64_t T = static_cast<int64_t>(x.size());
  RepetitionRow r;
  r.prefix = ends[s] - ends[s - 1] - 1;
  r.unit = ends[s + 1] - ends[s];
  std::vector<int64_t> seq(x.begin() + ends[s - 1] + 1, x.begin() + ends[s]);
  while (static_cast<int64_t>(seq.size()) < T + 1) seq.insert(seq.end(), x.begin() + ends[s], x.begin() + ends[s + 1]);
  r.input.assign(seq.begin(), seq.begin() + T);
  r.target.assign(seq.begin() + 1, seq.begin() + T + 1);
  return r;
}

at::Tensor ditto_loss_sum(const at::Tensor& p, const at::Tensor& targets, const at::Tensor& unit_lengths, double gamma,
                          const std::string& kind) {
  const int64_t B = p.size(0), T = p.size(1);
  // b_t = p_{t - L} of the same row, detached; zero where t - L < 0 (those positions are unscored).
  at::Tensor t_idx = at::arange(T, targets.options()).unsqueeze(0).expand({B, T});
  at::Tensor src = (t_idx - unit_lengths.to(targets.device()).unsqueeze(1)).clamp_min(0);
  at::Tensor base = p.detach().gather(1, src);
  at::Tensor mask = targets != -100;
  at::Tensor diff = p - gamma * base;
  at::Tensor l;
  if (kind == "nl") {
    l = -at::log((1 - diff.abs()).clamp_min(1e-20));
  } else if (kind == "nl_clip") {
    l = -at::log((1 - diff.clamp_min(0)).clamp_min(1e-20));
  } else {
    l = 3 * diff.pow(2);
  }
  return (l * mask).sum();
}

DittoTask::DittoTask(const DittoOptions& o, const RunConfig& cfg, const std::string& run_dir)
    : LmTask(cfg, run_dir), o_(o), seed_(static_cast<uint64_t>(cfg.run.seed)), grad_accum_(cfg.train.grad_accum) {
  o_.validate();
  end_id_ = data::single_token_id(*tokenizer(), o.sentence_end);
  LMF_REQUIRE(end_id_ >= 0, ConfigError, "data.ditto.sentence_end '", o.sentence_end,
              "' is not one token under this run's tokenizer");
}

Batch DittoTask::train_batch(int64_t step, int64_t micro, int rank, int world) {
  Batch b = LmTask::train_batch(step, micro, rank, world);
  // One coin per update (every micro-batch and rank agree), as the reference's 50/50 mixing.
  if (data::uniform01(data::counter_key(seed_, 0xD177, static_cast<uint64_t>(step))) >= o_.mix) return b;
  const int64_t B = b.inputs.size(0), T = b.inputs.size(1);
  at::Tensor in = b.inputs.contiguous();
  std::vector<std::vector<int64_t>> rows(B);
  std::vector<int64_t> usable;  // rows with a sentence that has one before it
  for (int64_t r = 0; r < B; ++r) {
    rows[r].assign(in[r].data_ptr<int64_t>(), in[r].data_ptr<int64_t>() + T);
    // pseudo_repetition needs three sentence ends (a sentence with one before it).
    if (std::count(rows[r].begin(), rows[r].end(), end_id_) >= 3) usable.push_back(r);
  }
  if (usable.empty()) return b;  // no row of the batch has a usable sentence: this update is plain LM
  std::vector<int64_t> inputs, targets, units;
  for (int64_t r = 0; r < B; ++r) {
    // A row without a usable sentence takes the next usable row's text (the reference's rows of
    // 1,536 tokens always have one; at a few hundred tokens many rows do not).
    int64_t src = r;
    if (!std::binary_search(usable.begin(), usable.end(), r)) {
      auto it = std::upper_bound(usable.begin(), usable.end(), r);
      src = it == usable.end() ? usable.front() : *it;
    }
    const uint64_t global_row = static_cast<uint64_t>(r * world + rank);
    auto row = pseudo_repetition(rows[src], end_id_,
                                 data::counter_key(seed_, static_cast<uint64_t>(step * grad_accum_ + micro), global_row, 0xD177));
    for (int64_t t = 0; t < T; ++t) row->target[t] = t >= row->prefix + row->unit ? row->target[t] : -100;
    inputs.insert(inputs.end(), row->input.begin(), row->input.end());
    targets.insert(targets.end(), row->target.begin(), row->target.end());
    units.push_back(row->unit);
  }
  Batch d;
  d.inputs = at::tensor(inputs, at::kLong).view({B, T});
  d.targets = at::tensor(targets, at::kLong).view({B, T});
  d.aux = at::tensor(units, at::kLong);
  return d;
}

LossSum DittoTask::loss(torch::nn::Module& model, const Batch& b, ForwardContext& ctx) {
  if (!b.aux.defined()) return LmTask::loss(model, b, ctx);
  LanguageModel& lm = as_language_model(model, "ditto");
  at::Tensor logits = lm.logits(lm.hidden(b.inputs, ctx)).to(at::kFloat);
  // p_{t-L} is the probability of the same token one repetition earlier (the sequence is periodic
  // from the prefix on), so position t - L of each scored t is given target_t before the gather.
  const int64_t B = b.targets.size(0), T = b.targets.size(1);
  at::Tensor scored = b.targets != -100;
  at::Tensor rows = at::arange(B, b.targets.options()).unsqueeze(1).expand({B, T}).masked_select(scored);
  at::Tensor cols = (at::arange(T, b.targets.options()).unsqueeze(0) - b.aux.unsqueeze(1)).masked_select(scored);
  at::Tensor full = b.targets.clone().index_put_({rows, cols}, b.targets.masked_select(scored));
  at::Tensor safe = full.clamp_min(0);
  at::Tensor p = (logits.gather(2, safe.unsqueeze(2)).squeeze(2) - logits.logsumexp(2)).exp();
  return {ditto_loss_sum(p, b.targets, b.aux, o_.gamma, o_.loss), (b.targets != -100).sum().item<int64_t>()};
}

namespace {
const bool kRegistered = TaskRegistry::add<DittoOptions>(
    "ditto", "lm with DITTO's pseudo-repetition loss on a share of the updates ([data.ditto])",
    [](const DittoOptions& o, const TaskContext& c) { return std::make_shared<DittoTask>(o, *c.cfg, c.run_dir); });
}  // namespace

}  // namespace lmforge
