// Generation: sampling, batched decoding of equal-length prompts, beam search; see generate.h.
#include "lmforge/eval/generate.h"

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "lmforge/core/error.h"
#include "lmforge/models/language_model.h"

namespace lmforge {

namespace {

using States = std::vector<std::unique_ptr<MixerState>>;

void select_rows(States& states, const std::vector<int64_t>& rows) {
  at::Tensor idx = at::tensor(rows, at::kLong);
  for (auto& s : states) s->select_rows(idx);
}

// The scores of the last position of each row: logits, or what the hook makes of them.
at::Tensor next_scores(LanguageModel& model, const at::Tensor& h, const LogitsHook& hook) {
  at::Tensor last = h.select(1, h.size(1) - 1);
  at::Tensor logits = model.logits(last).to(at::kFloat);
  return (hook ? hook(last, logits) : logits).cpu();
}

void check_request(const SamplingOptions& o, int64_t max_new) {
  LMF_REQUIRE(max_new >= 0, UserError, "generate: max_new must be >= 0, got ", max_new);
  LMF_REQUIRE(o.top_p > 0 && o.top_p <= 1, UserError, "generate: top_p must be in (0, 1], got ", o.top_p);
  LMF_REQUIRE(o.beams >= 1, UserError, "generate: beams must be >= 1, got ", o.beams);
}

// Decodes rows of equal-length prompts together; seeds[r] seeds row r's sampling.
std::vector<std::vector<int64_t>> decode_rows(LanguageModel& model, const std::vector<const std::vector<int64_t>*>& rows,
                                              const std::vector<uint64_t>& seeds, int64_t max_new,
                                              const SamplingOptions& o, bool use_cache, const LogitsHook& hook) {
  const at::Device dev = model.output_weight().device();
  const int64_t B = static_cast<int64_t>(rows.size()), L = static_cast<int64_t>(rows[0]->size());
  std::vector<std::vector<int64_t>> out(B), all(B);
  std::vector<at::Generator> gens;
  std::vector<int64_t> flat;
  for (int64_t r = 0; r < B; ++r) {
    gens.push_back(at::make_generator<at::CPUGeneratorImpl>(seeds[r]));
    all[r] = *rows[r];
    flat.insert(flat.end(), rows[r]->begin(), rows[r]->end());
  }
  std::vector<int64_t> alive(B);  // the original row of each row still decoding
  for (int64_t r = 0; r < B; ++r) alive[r] = r;
  States states = model.new_states();
  ForwardContext ctx;
  at::Tensor next_in = at::tensor(flat, at::kLong).view({B, L}).to(dev);
  for (int64_t i = 0; i < max_new && !alive.empty(); ++i) {
    at::Tensor h;
    if (use_cache) {
      h = model.step(next_in, states, ctx);
      ctx.pos_offset += next_in.size(1);
    } else {
      std::vector<int64_t> seqs;
      for (int64_t r : alive) seqs.insert(seqs.end(), all[r].begin(), all[r].end());
      ForwardContext full;
      h = model.hidden(at::tensor(seqs, at::kLong).view({static_cast<int64_t>(alive.size()), -1}).to(dev), full);
    }
    at::Tensor scores = next_scores(model, h, hook);
    std::vector<int64_t> keep, next;
    at::Tensor greedy = o.temperature <= 0 ? scores.argmax(1) : at::Tensor();
    for (size_t a = 0; a < alive.size(); ++a) {
      const int64_t r = alive[a];
      const int64_t t = greedy.defined() ? greedy[a].item<int64_t>() : sample_token(scores[a], o, gens[r]);
      out[r].push_back(t);
      all[r].push_back(t);
      if (t != o.stop_id) keep.push_back(static_cast<int64_t>(a)), next.push_back(t);
    }
    if (keep.size() != alive.size()) {
      std::vector<int64_t> still;
      for (int64_t a : keep) still.push_back(alive[a]);
      alive = still;
      if (use_cache && !alive.empty()) select_rows(states, keep);
    }
    if (!alive.empty()) next_in = at::tensor(next, at::kLong).view({-1, 1}).to(dev);
  }
  return out;
}

}  // namespace

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

std::vector<std::vector<int64_t>> generate_batch(LanguageModel& model, const std::vector<std::vector<int64_t>>& prompts,
                                                 int64_t max_new, const SamplingOptions& o, int64_t max_batch,
                                                 const LogitsHook& hook) {
  check_request(o, max_new);
  LMF_REQUIRE(max_batch >= 1, UserError, "generate: max_batch must be >= 1");
  for (size_t i = 0; i < prompts.size(); ++i)
    LMF_REQUIRE(!prompts[i].empty(), UserError, "generate: prompt ", i, " encodes to no tokens");
  model.eval();
  torch::NoGradGuard ng;
  std::vector<std::vector<int64_t>> out(prompts.size());
  if (o.beams > 1) {
    for (size_t i = 0; i < prompts.size(); ++i) out[i] = beam_search(model, prompts[i], max_new, o, hook);
    return out;
  }
  std::map<size_t, std::vector<size_t>> by_length;
  for (size_t i = 0; i < prompts.size(); ++i) by_length[prompts[i].size()].push_back(i);
  for (const auto& [len, idx] : by_length) {
    for (size_t c = 0; c < idx.size(); c += static_cast<size_t>(max_batch)) {
      std::vector<const std::vector<int64_t>*> rows;
      std::vector<uint64_t> seeds;
      for (size_t j = c; j < std::min(idx.size(), c + static_cast<size_t>(max_batch)); ++j) {
        rows.push_back(&prompts[idx[j]]);
        seeds.push_back(o.seed + idx[j]);
      }
      auto res = decode_rows(model, rows, seeds, max_new, o, /*use_cache=*/true, hook);
      for (size_t j = 0; j < res.size(); ++j) out[idx[c + j]] = std::move(res[j]);
    }
  }
  return out;
}

std::vector<int64_t> generate(LanguageModel& model, const std::vector<int64_t>& prompt, int64_t max_new,
                              const SamplingOptions& o, bool use_cache) {
  LMF_REQUIRE(!prompt.empty(), UserError, "generate: the prompt encodes to no tokens");
  check_request(o, max_new);
  if (o.beams > 1) return beam_search(model, prompt, max_new, o);
  model.eval();
  torch::NoGradGuard ng;
  return decode_rows(model, {&prompt}, {o.seed}, max_new, o, use_cache, nullptr)[0];
}

std::vector<int64_t> beam_search(LanguageModel& model, const std::vector<int64_t>& prompt, int64_t max_new,
                                 const SamplingOptions& o, const LogitsHook& hook) {
  LMF_REQUIRE(!prompt.empty(), UserError, "beam search: the prompt encodes to no tokens");
  check_request(o, max_new);
  model.eval();
  torch::NoGradGuard ng;
  const at::Device dev = model.output_weight().device();
  const int64_t W = o.beams;
  struct Hyp {
    std::vector<int64_t> tokens;
    double score = 0;  // summed log-probability of the new tokens
  };
  auto normalised = [&](const Hyp& h) {
    return h.score / std::pow(static_cast<double>(std::max<size_t>(h.tokens.size(), 1)), o.length_penalty);
  };
  std::vector<Hyp> live{Hyp{}}, finished;
  States states = model.new_states();
  ForwardContext ctx;
  at::Tensor next_in = at::tensor(prompt, at::kLong).view({1, -1}).to(dev);
  for (int64_t step = 0; step < max_new; ++step) {
    at::Tensor h = model.step(next_in, states, ctx);
    ctx.pos_offset += next_in.size(1);
    at::Tensor lp = next_scores(model, h, hook).to(at::kDouble).log_softmax(-1);  // (live, V)
    const int64_t V = lp.size(1);
    at::Tensor total = lp + at::tensor(std::vector<double>([&] {
                                         std::vector<double> s;
                                         for (const auto& hy : live) s.push_back(hy.score);
                                         return s;
                                       }()),
                                       at::kDouble)
                                .unsqueeze(1);
    // 2W candidates leave W live ones even when W of them finish at this step.
    auto [top, idx] = total.view(-1).topk(std::min<int64_t>(2 * W, total.numel()));
    std::vector<Hyp> next_live;
    std::vector<int64_t> parents, next_tokens;
    for (int64_t c = 0; c < top.size(0) && static_cast<int64_t>(next_live.size()) < W; ++c) {
      const int64_t flat = idx[c].item<int64_t>(), parent = flat / V, tok = flat % V;
      Hyp hy{live[parent].tokens, top[c].item<double>()};
      hy.tokens.push_back(tok);
      if (tok == o.stop_id) {
        finished.push_back(std::move(hy));
      } else {
        next_live.push_back(std::move(hy));
        parents.push_back(parent);
        next_tokens.push_back(tok);
      }
    }
    std::sort(finished.begin(), finished.end(), [&](const Hyp& a, const Hyp& b) { return normalised(a) > normalised(b); });
    if (static_cast<int64_t>(finished.size()) > W) finished.resize(W);
    // Done when W hypotheses are finished and the best live one, scored at its current length, ranks
    // below the worst finished one (Hugging Face's early_stopping=False heuristic: exact without a
    // length penalty, since a log-probability sum only falls as a hypothesis grows).
    const bool full = static_cast<int64_t>(finished.size()) == W;
    if (next_live.empty() || (full && normalised(next_live[0]) <= normalised(finished.back()))) break;
    live = std::move(next_live);
    select_rows(states, parents);
    next_in = at::tensor(next_tokens, at::kLong).view({-1, 1}).to(dev);
  }
  std::vector<Hyp> pool = finished.empty() ? live : finished;
  if (!finished.empty())
    for (const auto& hy : live)
      if (static_cast<int64_t>(hy.tokens.size()) == max_new) pool.push_back(hy);
  return std::max_element(pool.begin(), pool.end(),
                          [&](const Hyp& a, const Hyp& b) { return normalised(a) < normalised(b); })
      ->tokens;
}

}  // namespace lmforge
