// `lmforge eval-lm --checkpoint RUN_DIR --data FILE [--context N --stride S] [--json]`:
// scores a whole text file with the sliding-window protocol (eval/sliding_window.h) and reports
// token and word perplexity, bits per byte and the unknown-token share (eval/perplexity.h).
// --lines N scores the first N lines only; --swap-words P scores a word-swap-attacked copy
// (eval/perturb.h), the robustness test of MomentumSMoE.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "lmforge/cli/subcommand.h"
#include "lmforge/core/precision.h"
#include "lmforge/core/progress.h"
#include "lmforge/core/threads.h"
#include "lmforge/data/token_file.h"
#include "lmforge/eval/perplexity.h"
#include "lmforge/eval/perturb.h"
#include "lmforge/eval/sliding_window.h"
#include "lmforge/train/load_run.h"
#include "lmforge/train/task.h"

namespace lmforge {
namespace {

struct EvalLmArgs {
  std::string checkpoint, data, device, cache_dir, precision;
  int64_t context = 0, stride = 0, batch = 8, lines = 0;
  double swap_words = 0;
  uint64_t swap_seed = 1;
  bool json = false;
  int threads = 0;
};

// Occurrences of the literal word <unk> (WikiText's own unknown marker) in the file.
int64_t count_literal_unks(const std::string& path) {
  std::ifstream f(path);
  std::string w;
  int64_t n = 0;
  while (f >> w) n += w == "<unk>";
  return n;
}

int run_eval_lm(const EvalLmArgs& a) {
  set_threads(a.threads);
  LoadedRun run = load_run(a.checkpoint, a.device);
  LMF_REQUIRE(run.tokenizer, UserError, "eval-lm needs a text model; '", a.checkpoint, "' was trained on task '",
              run.config.data.task, "'");
  LMF_REQUIRE(std::filesystem::exists(a.data), InputError, "data file '", a.data, "' does not exist");
  const data::Tokenizer& tok = *run.tokenizer;
  LMF_REQUIRE(a.lines >= 0, UserError, "--lines must not be negative");
  std::string cache = a.cache_dir.empty() ? default_token_cache_dir(run.config.data) : a.cache_dir;
  // A prefix or an attacked copy is written next to the token cache and scored like any file.
  std::string scored = a.data;
  SwapStats swap;
  if (a.lines > 0 || a.swap_words > 0) {
    std::filesystem::create_directories(cache);
    scored = (std::filesystem::path(cache) / (std::filesystem::path(a.data).filename().string() + str(".lines", a.lines, ".swap",
                                                                                                     a.swap_words, ".seed", a.swap_seed, ".txt")))
                 .string();
    swap = write_word_swapped(a.data, scored, a.swap_words, a.swap_seed, a.lines);
  }
  data::TokenFile tf = data::TokenFile::open_or_build(tok, scored, cache);

  PerplexityOptions o;
  o.context = a.context > 0 ? a.context : (run.config.eval.context > 0 ? run.config.eval.context : run.config.train.seq_len);
  o.stride = a.stride > 0 ? a.stride : (run.config.eval.stride > 0 ? run.config.eval.stride : std::max<int64_t>(1, o.context / 2));
  o.batch = a.batch;
  o.dtype = parse_precision(a.precision.empty() ? run.config.train.precision : a.precision, "--precision");
  LMF_REQUIRE(run.config.model.position != "learned" || o.context <= run.config.model.max_seq_len, UserError,
              "--context ", o.context, " exceeds the model's max_seq_len ", run.config.model.max_seq_len);
  std::vector<int64_t> unk = tok.unk_id() >= 0 ? tok.encode("<unk>") : std::vector<int64_t>{};
  // A subword tokenizer may add a word-boundary piece before it; what matters is that the literal
  // maps to exactly one unknown id.
  const bool literal_is_unk = tok.unk_id() >= 0 && std::count(unk.begin(), unk.end(), tok.unk_id()) == 1;
  o.unk_id = tok.unk_id();
  at::Tensor stream = at::cat({at::full({1}, tok.eos_id(), at::kLong), tf.slice(0, tf.size())});
  ProgressBar bar("eval-lm", static_cast<int64_t>(sliding_windows(tf.size(), o.context, o.stride).size()));
  o.progress = [&](int64_t done, int64_t) { bar.update(done); };
  PerplexityResult r = score_stream(*run.model, stream, o);
  bar.finish();
  nlohmann::json j = perplexity_report(r, tf.counts().words, tf.counts().bytes,
                                       literal_is_unk ? count_literal_unks(scored) : 0);
  if (scored != a.data) {
    j["lines"] = swap.lines;
    if (a.swap_words > 0) j["word_swap"] = {{"rate", a.swap_words}, {"seed", a.swap_seed}, {"swapped", swap.swapped}, {"words", swap.words}};
  }
  j["context"] = o.context;
  j["stride"] = o.stride;
  j["file"] = a.data;
  j["tokenizer"] = tok.kind();
  if (a.json) {
    std::cout << j.dump(2) << std::endl;
  } else {
    std::printf("%s: %lld tokens, %lld words; token ppl %.3f, word ppl %.3f, %.4f bits/byte, unk %.4f%%\n",
                a.data.c_str(), static_cast<long long>(r.tokens), static_cast<long long>(tf.counts().words),
                j["token_ppl"].get<double>(), j["word_ppl"].get<double>(), j["bits_per_byte"].get<double>(),
                100 * j["unk_fraction"].get<double>());
  }
  return 0;
}

const bool kRegistered = register_subcommand(
    "eval-lm", "perplexity of a trained model on a text file (sliding window)", [](CLI::App& app) {
      auto a = std::make_shared<EvalLmArgs>();
      app.add_option("--checkpoint", a->checkpoint, "run directory (or its checkpoint folder)")->required();
      app.add_option("--data", a->data, "text file to score (e.g. wiki.valid.tokens)")->required();
      app.add_option("--context", a->context, "window length in tokens (default: eval.context or train.seq_len)");
      app.add_option("--stride", a->stride, "new tokens scored per window (default: eval.stride or context/2)");
      app.add_option("--batch", a->batch, "windows per forward");
      app.add_option("--precision", a->precision, "fp32 | bf16 (default: the run's)");
      app.add_option("--cache-dir", a->cache_dir, "where the tokenized file is cached");
      app.add_option("--lines", a->lines, "score only the first N lines (0 = all)");
      app.add_option("--swap-words", a->swap_words, "robustness: replace each word with probability P by a random word of the file");
      app.add_option("--swap-seed", a->swap_seed, "seed of the word swaps");
      app.add_option("--device", a->device, "cpu | cuda (default: the run's)");
      app.add_option("--threads", a->threads, "intra-op threads (0 = all cores)");
      app.add_flag("--json", a->json, "print the result as JSON");
      return [a] { return run_eval_lm(*a); };
    });

}  // namespace
}  // namespace lmforge
