// `lmforge embed --checkpoint RUN --input FILE --out OUT.safetensors [--pairs] [--pool mean|cls]
//  [--normalize] [--max-len N]`: runs a trained (or imported) model over lines of text and writes
// what it computes: the token ids and segment (token type) ids, the final hidden states, the mask of real tokens and one pooled
// vector per line, as a safetensors file that numpy/PyTorch read directly.
//
// Why: sentence embeddings are what encoders such as all-MiniLM-L6-v2 are used for (mean pooling
// over the real tokens, then L2 normalisation: Reimers & Gurevych 2019, Sentence-BERT), and the
// hidden states are what an outside implementation (transformers' BertModel) is compared against
// (bench/peers/transformers_check.py). Inputs are encoded as GLUE's are (data/glue_encode.h):
// [CLS] A [SEP] for a WordPiece vocabulary, with `--pairs` "A<TAB>B" as [CLS] A [SEP] B [SEP].
#include <filesystem>
#include <fstream>
#include <iostream>

#include <nlohmann/json.hpp>

#include "lmforge/cli/subcommand.h"
#include "lmforge/core/error.h"
#include "lmforge/core/safetensors.h"
#include "lmforge/core/threads.h"
#include "lmforge/data/glue_encode.h"
#include "lmforge/train/load_run.h"

namespace lmforge {
namespace {

struct EmbedArgs {
  std::string checkpoint, input, out, pool = "mean", device;
  bool pairs = false, normalize = false, json = false;
  int64_t max_len = 0, batch = 32;
  int threads = 0;
};

// The lines of the input file as examples; with `pairs`, each line must hold exactly one tab.
std::vector<data::GlueExample> read_inputs(const std::string& path, bool pairs) {
  std::ifstream f(path);
  LMF_REQUIRE(f.good(), InputError, "input file '", path, "' cannot be read");
  std::vector<data::GlueExample> out;
  std::string line;
  for (int64_t n = 1; std::getline(f, line); ++n) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    data::GlueExample e;
    if (pairs) {
      const auto tab = line.find('\t');
      LMF_REQUIRE(tab != std::string::npos && line.find('\t', tab + 1) == std::string::npos, InputError, path, ":", n,
                  ": --pairs expects 'first<TAB>second' (one tab), found ",
                  tab == std::string::npos ? "no tab" : "more than one tab");
      e.a = line.substr(0, tab);
      e.b = line.substr(tab + 1);
    } else {
      e.a = line;
    }
    out.push_back(std::move(e));
  }
  LMF_REQUIRE(!out.empty(), InputError, "input file '", path, "' has no lines");
  return out;
}

int run_embed(const EmbedArgs& a) {
  set_threads(a.threads);
  LMF_REQUIRE(a.pool == "mean" || a.pool == "cls", UserError, "--pool must be mean or cls, not '", a.pool, "'");
  LoadedRun run = load_run(a.checkpoint, a.device);
  LMF_REQUIRE(run.tokenizer, UserError, "embed needs a text model; '", a.checkpoint, "' was trained on task '",
              run.config.data.task, "'");
  const int64_t max_len = a.max_len > 0 ? a.max_len : run.config.model.max_seq_len;
  LMF_REQUIRE(run.config.model.position != "learned" || max_len <= run.config.model.max_seq_len, UserError,
              "--max-len ", max_len, " exceeds the model's max_seq_len ", run.config.model.max_seq_len);
  const std::vector<EncodedExample> xs =
      encode_glue_examples(*run.tokenizer, read_inputs(a.input, a.pairs), a.pairs, max_len);

  LanguageModel& m = *run.model;
  m.eval();
  at::NoGradGuard ng;
  const auto dev = m.parameters().front().device();
  const int64_t pad = run.tokenizer->pad_id();
  size_t longest = 0;
  for (const auto& x : xs) longest = std::max(longest, x.ids.size());
  const int64_t N = static_cast<int64_t>(xs.size()), L = static_cast<int64_t>(longest), D = m.config().d_model;
  at::Tensor ids = at::full({N, L}, pad, at::kLong), mask = at::zeros({N, L}, at::kBool);
  at::Tensor segments = at::zeros({N, L}, at::kLong);
  at::Tensor hidden = at::zeros({N, L, D}), pooled = at::zeros({N, D});
  std::vector<size_t> order(xs.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  for (size_t b = 0; b < xs.size(); b += static_cast<size_t>(a.batch)) {
    const size_t e = std::min(xs.size(), b + static_cast<size_t>(a.batch));
    GlueTensors t = glue_batch(xs, order, b, e, pad);
    ForwardContext ctx;
    ctx.key_padding = t.key_padding.to(dev);
    if (m.config().type_vocab_size > 0) ctx.segments = t.segments.to(dev);
    at::Tensor h = m.hidden(t.ids.to(dev), ctx).to(at::kFloat).cpu();  // (B, l, D)
    const at::Tensor real = t.key_padding.to(at::kFloat).unsqueeze(-1);
    at::Tensor p = a.pool == "cls" ? h.select(1, 0) : (h * real).sum(1) / real.sum(1).clamp_min(1);
    if (a.normalize) p = p / p.norm(2, -1, true).clamp_min(1e-12);
    const int64_t l = h.size(1), lo = static_cast<int64_t>(b), hi = static_cast<int64_t>(e);
    ids.slice(0, lo, hi).slice(1, 0, l).copy_(t.ids);
    mask.slice(0, lo, hi).slice(1, 0, l).copy_(t.key_padding);
    segments.slice(0, lo, hi).slice(1, 0, l).copy_(t.segments);
    hidden.slice(0, lo, hi).slice(1, 0, l).copy_(h * real);
    pooled.slice(0, lo, hi).copy_(p);
  }
  const WrittenFile w = write_safetensors(a.out, {{"ids", ids}, {"mask", mask}, {"segments", segments}, {"hidden", hidden}, {"pooled", pooled}},
                                          {{"format", "pt"}, {"pool", a.pool}, {"normalize", a.normalize ? "1" : "0"}});
  if (a.json) {
    std::cout << nlohmann::json{{"out", a.out}, {"examples", N}, {"max_tokens", L}, {"d_model", D}, {"bytes", w.bytes}}.dump()
              << "\n";
  } else {
    std::cout << "embed: " << N << " inputs (up to " << L << " tokens, d " << D << ") -> " << a.out << "\n";
  }
  return 0;
}

const bool kRegistered = register_subcommand(
    "embed", "write a model's hidden states and pooled sentence embeddings for lines of text", [](CLI::App& app) {
      auto a = std::make_shared<EmbedArgs>();
      app.add_option("--checkpoint", a->checkpoint, "run directory or checkpoint folder")->required();
      app.add_option("--input", a->input, "text file, one input per line")->required();
      app.add_option("--out", a->out, "output .safetensors (ids, mask, segments, hidden, pooled)")->required();
      app.add_flag("--pairs", a->pairs, "each line is 'first<TAB>second', encoded as a sentence pair");
      app.add_option("--pool", a->pool, "pooled vector: mean over real tokens, or cls (the first token)");
      app.add_flag("--normalize", a->normalize, "L2-normalise the pooled vectors (sentence-transformers' Normalize)");
      app.add_option("--max-len", a->max_len, "truncate inputs to this many tokens (default: the model's max_seq_len)");
      app.add_option("--batch", a->batch, "inputs per forward");
      app.add_option("--threads", a->threads, "intra-op threads (default: all cores)");
      app.add_option("--device", a->device, "cpu or cuda (default: the run's)");
      app.add_flag("--json", a->json, "print a JSON summary");
      return [a] { return run_embed(*a); };
    });

}  // namespace
}  // namespace lmforge
