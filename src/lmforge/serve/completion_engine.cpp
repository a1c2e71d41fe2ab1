#include "lmforge/serve/completion_engine.h"

#include <ATen/CPUGeneratorImpl.h>

#include <algorithm>
#include <ctime>
#include <map>
#include <random>

#include <nlohmann/json.hpp>

#include "lmforge/core/precision.h"
#include "lmforge/data/tokenizer.h"
#include "lmforge/eval/generate.h"
#include "lmforge/models/language_model.h"

namespace lmforge {

using TopList = std::vector<std::pair<int64_t, double>>;  // (id, logprob), most likely first

struct CompletionEngine::Item {
  const CompletionRequest* req = nullptr;
  const std::vector<int64_t>* prompt = nullptr;
  std::vector<double> prompt_lp;  // [t] for t >= 1 (scoring phase)
  std::vector<TopList> prompt_top;
  std::vector<int64_t> gen;
  std::vector<double> gen_lp;
  std::vector<TopList> gen_top;
  bool stopped = false;
  size_t stop_cut = 0;  // with stopped: the completion text is cut here
};

namespace {

using nlohmann::json;

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

// Row `lp` (V) fp32 log-probabilities: the k most likely (id, logprob).
TopList top_k(const at::Tensor& lp, int64_t k) {
  TopList out;
  if (k <= 0) return out;
  auto [v, i] = lp.topk(std::min<int64_t>(k, lp.size(-1)));
  for (int64_t j = 0; j < v.size(0); ++j) out.emplace_back(i[j].item<int64_t>(), v[j].item<double>());
  return out;
}

// Length of the longest common prefix of a and b.
size_t common_prefix(const std::string& a, const std::string& b) {
  size_t n = 0;
  while (n < a.size() && n < b.size() && a[n] == b[n]) ++n;
  return n;
}

// Start of each token's text in decode(ids), and the text: a token starts where the decoded
// prefix before it stops agreeing with the whole (robust to tokenizers whose decode of a prefix
// is not a prefix of the decode, e.g. a partial UTF-8 sequence of byte tokens).
std::vector<size_t> text_offsets(const data::Tokenizer& tok, const std::vector<int64_t>& ids, const std::string& full) {
  std::vector<size_t> off(ids.size());
  size_t prev = 0;
  for (size_t i = 0; i < ids.size(); ++i) {
    const std::string pre = tok.decode(std::vector<int64_t>(ids.begin(), ids.begin() + i));
    prev = std::max(prev, common_prefix(pre, full));
    off[i] = prev;
  }
  return off;
}

// The completion's text as it reads after the prompt: decode(prompt + gen) past the prompt's
// text, so a tokenizer that joins tokens (a space between words) joins across the boundary too.
std::string completion_text(const data::Tokenizer& tok, const std::vector<int64_t>& prompt,
                            const std::vector<int64_t>& gen) {
  std::vector<int64_t> all = prompt;
  all.insert(all.end(), gen.begin(), gen.end());
  const std::string full = tok.decode(all);
  return full.substr(common_prefix(tok.decode(prompt), full));
}

}  // namespace

CompletionEngine::CompletionEngine(std::shared_ptr<LanguageModel> model, const data::Tokenizer& tok, EngineOptions o)
    : model_(std::move(model)), tok_(tok), o_(std::move(o)), next_seed_(std::random_device{}()) {
  model_->eval();
}

void CompletionEngine::score(std::vector<Item*>& items) {
  const at::Device dev = model_->output_weight().device();
  const int64_t pad = tok_.pad_id() >= 0 ? tok_.pad_id() : tok_.eos_id();
  for (size_t c = 0; c < items.size(); c += o_.max_batch) {
    const size_t B = std::min<size_t>(o_.max_batch, items.size() - c);
    int64_t L = 0;
    for (size_t i = 0; i < B; ++i) L = std::max<int64_t>(L, items[c + i]->prompt->size());
    at::Tensor x = at::full({static_cast<int64_t>(B), L}, pad, at::kLong);
    at::Tensor real = at::zeros({static_cast<int64_t>(B), L}, at::kBool);
    bool padded = false;
    for (size_t i = 0; i < B; ++i) {
      const auto& p = *items[c + i]->prompt;
      const int64_t n = static_cast<int64_t>(p.size());
      x[i].narrow(0, 0, n).copy_(at::tensor(p, at::kLong));
      real[i].narrow(0, 0, n).fill_(true);
      padded = padded || n < L;
    }
    ForwardContext ctx;
    if (padded) ctx.key_padding = real.to(dev);
    at::Tensor h = model_->hidden(x.to(dev), ctx);
    for (size_t i = 0; i < B; ++i) {
      Item& it = *items[c + i];
      const auto& p = *it.prompt;
      const int64_t n = static_cast<int64_t>(p.size());
      it.prompt_lp.assign(p.size(), 0.0);
      it.prompt_top.assign(p.size(), {});
      if (n < 2) continue;
      at::Tensor lp = model_->logits(h[i].narrow(0, 0, n - 1)).to(at::kFloat).log_softmax(-1).cpu();
      at::Tensor targets = at::tensor(std::vector<int64_t>(p.begin() + 1, p.end()), at::kLong).view({-1, 1});
      at::Tensor chosen = lp.gather(1, targets).squeeze(1).contiguous();
      const float* cp = chosen.data_ptr<float>();
      for (int64_t t = 1; t < n; ++t) {
        it.prompt_lp[t] = cp[t - 1];
        it.prompt_top[t] = top_k(lp[t - 1], *it.req->logprobs);
      }
    }
  }
}

void CompletionEngine::generate(std::vector<Item*>& items) {
  const at::Device dev = model_->output_weight().device();
  // An empty prompt starts from the end-of-line token, the boundary the model was trained after.
  auto input = [&](const Item* it) {
    return it->prompt->empty() ? std::vector<int64_t>{tok_.eos_id()} : *it->prompt;
  };
  // Equal-length prompts decode together (one position offset for the batch).
  std::stable_sort(items.begin(), items.end(), [&](const Item* a, const Item* b) {
    return input(a).size() < input(b).size();
  });
  for (size_t c = 0; c < items.size();) {
    const size_t len = input(items[c]).size();
    size_t e = c;
    while (e < items.size() && e - c < static_cast<size_t>(o_.max_batch) && input(items[e]).size() == len) ++e;
    const int64_t B = static_cast<int64_t>(e - c);
    std::vector<int64_t> flat;
    std::vector<SamplingOptions> so(B);
    std::vector<at::Generator> gens;
    int64_t steps = 0;
    for (int64_t r = 0; r < B; ++r) {
      const Item* it = items[c + r];
      std::vector<int64_t> in = input(it);
      flat.insert(flat.end(), in.begin(), in.end());
      so[r].temperature = it->req->temperature;
      so[r].top_p = it->req->top_p;
      so[r].seed = it->req->seed ? *it->req->seed : next_seed_++;
      gens.push_back(at::make_generator<at::CPUGeneratorImpl>(so[r].seed));
      steps = std::max(steps, it->req->max_tokens);
    }
    at::Tensor x = at::tensor(flat, at::kLong).view({B, static_cast<int64_t>(len)}).to(dev);
    auto states = model_->new_states();
    ForwardContext ctx;
    std::vector<bool> active(B, true);
    for (int64_t s = 0; s < steps; ++s) {
      at::Tensor h = model_->step(x, states, ctx);
      ctx.pos_offset += x.size(1);
      at::Tensor logits = model_->logits(h.select(1, h.size(1) - 1)).to(at::kFloat).cpu();
      std::vector<int64_t> next(B, tok_.eos_id());
      bool any = false;
      for (int64_t r = 0; r < B; ++r) {
        Item& it = *items[c + r];
        if (!active[r]) continue;
        const int64_t t = sample_token(logits[r], so[r], gens[r]);
        next[r] = t;
        at::Tensor lp = logits[r].log_softmax(-1);
        it.gen.push_back(t);
        it.gen_lp.push_back(lp[t].item<double>());
        if (it.req->logprobs) it.gen_top.push_back(top_k(lp, *it.req->logprobs));
        if (!it.req->stop.empty()) {
          const std::string text = completion_text(tok_, *it.prompt, it.gen);
          size_t cut = std::string::npos;
          for (const std::string& st : it.req->stop) cut = std::min(cut, text.find(st));
          if (cut != std::string::npos) {
            it.stopped = true;
            it.stop_cut = cut;
          }
        }
        active[r] = !it.stopped && static_cast<int64_t>(it.gen.size()) < it.req->max_tokens;
        any = any || active[r];
      }
      if (!any) break;
      x = at::tensor(next, at::kLong).view({B, 1}).to(dev);
    }
    c = e;
  }
}

std::string CompletionEngine::respond(const CompletionRequest& r, std::vector<Item>& items, size_t first) {
  json choices = json::array();
  int64_t prompt_tokens = 0, completion_tokens = 0;
  for (size_t k = 0; k < r.prompts.size(); ++k) {
    Item& it = items[first + k];
    const std::vector<int64_t>& p = *it.prompt;
    // One decode of prompt + completion; every token's text is a slice of it.
    std::vector<int64_t> seq = p;
    seq.insert(seq.end(), it.gen.begin(), it.gen.end());
    const std::string full = tok_.decode(seq);
    const std::vector<size_t> off = text_offsets(tok_, seq, full);
    const size_t prompt_end = it.gen.empty() ? full.size() : off[p.size()];
    size_t text_end = full.size(), kept = it.gen.size();
    if (it.stopped) {  // cut at the stop sequence; the tokens that start before it are kept
      text_end = std::min(full.size(), prompt_end + it.stop_cut);
      kept = 0;
      while (kept < it.gen.size() && off[p.size() + kept] < text_end) ++kept;
    }
    const size_t text_begin = r.echo ? 0 : prompt_end;
    json choice = {{"index", k}, {"text", full.substr(text_begin, text_end - text_begin)},
                   {"logprobs", nullptr}, {"finish_reason", it.stopped ? "stop" : "length"}};
    if (r.logprobs) {
      json tokens = json::array(), lps = json::array(), tops = json::array(), offsets = json::array();
      auto top_json = [&](const TopList& tl) {
        json o = json::object();
        for (const auto& [id, v] : tl) o[tok_.decode({id})] = v;
        return o;
      };
      const size_t from = r.echo ? 0 : p.size(), to = p.size() + kept;
      for (size_t t = from; t < to; ++t) {
        const size_t end = std::min(t + 1 < seq.size() ? off[t + 1] : full.size(), text_end);
        tokens.push_back(full.substr(off[t], end > off[t] ? end - off[t] : 0));
        offsets.push_back(off[t]);
        if (t == 0 && !p.empty()) {  // nothing before the first token to condition on (as OpenAI)
          lps.push_back(nullptr);
          tops.push_back(nullptr);
        } else if (t < p.size()) {
          lps.push_back(it.prompt_lp[t]);
          tops.push_back(top_json(it.prompt_top[t]));
        } else {
          lps.push_back(it.gen_lp[t - p.size()]);
          tops.push_back(top_json(it.gen_top[t - p.size()]));
        }
      }
      choice["logprobs"] = {{"tokens", tokens}, {"token_logprobs", lps}, {"top_logprobs", tops}, {"text_offset", offsets}};
    }
    choices.push_back(std::move(choice));
    prompt_tokens += static_cast<int64_t>(p.size());
    completion_tokens += static_cast<int64_t>(kept);
  }
  json out = {{"id", "cmpl-lmforge-" + std::to_string(next_id_++)},
              {"object", "text_completion"},
              {"created", static_cast<int64_t>(std::time(nullptr))},
              {"model", o_.model_name},
              {"choices", choices},
              {"usage", {{"prompt_tokens", prompt_tokens}, {"completion_tokens", completion_tokens},
                         {"total_tokens", prompt_tokens + completion_tokens}}}};
  return dump(out);
}

std::vector<HttpReply> CompletionEngine::run(const std::vector<const CompletionRequest*>& reqs) {
  torch::NoGradGuard ng;
  AutocastGuard ac(o_.dtype, model_->output_weight().device());
  std::vector<Item> items;
  std::vector<size_t> first;
  for (const CompletionRequest* r : reqs) {
    first.push_back(items.size());
    for (const auto& p : r->prompts) {
      Item it;
      it.req = r;
      it.prompt = &p;
      items.push_back(std::move(it));
    }
  }
  std::vector<Item*> to_score, to_generate;
  for (Item& it : items) {
    if (it.req->echo && it.req->logprobs) to_score.push_back(&it);
    if (it.req->max_tokens > 0) to_generate.push_back(&it);
  }
  score(to_score);
  generate(to_generate);
  std::vector<HttpReply> out;
  for (size_t i = 0; i < reqs.size(); ++i) out.push_back({200, respond(*reqs[i], items, first[i])});
  return out;
}

}  // namespace lmforge
