// `lmforge eval-lm --checkpoint RUN_DIR --data FILE [--context N --stride S] [--json]`:
// scores a whole text file with the sliding-window protocol (eval/sliding_window.h) and reports
// token and word perplexity, bits per byte and the unknown-token share (eval/perplexity.h).
// --lines N scores the first N lines only; --swap-words P scores a word-swap-attacked copy
// (eval/perturb.h), the robustness test of MomentumSMoE.
// --knn DIR --lambda L[,L..] --temperature T[,T..] [--k K]: kNN-LM (retrieval/knn_eval.h): the
// base perplexity and the interpolated one for every (lambda, T) from one search per target;
// --knn-analysis FILE writes the per-token analysis (share of targets made worse, histograms).
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "lmforge/cli/subcommand.h"
#include "lmforge/core/file_io.h"
#include "lmforge/core/precision.h"
#include "lmforge/core/progress.h"
#include "lmforge/core/threads.h"
#include "lmforge/data/token_file.h"
#include "lmforge/eval/perplexity.h"
#include "lmforge/eval/perturb.h"
#include "lmforge/eval/sliding_window.h"
#include "lmforge/retrieval/knn_eval.h"
#include "lmforge/retrieval/knn_lm.h"
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
  std::string knn_dir, knn_analysis;
  std::vector<double> lambdas{0.25}, temperatures{1.0};
  retrieval::KnnOptions knn;
};

// eval-lm --knn: the base and interpolated perplexities of the same windows.
int run_eval_knn(const EvalLmArgs& a, LoadedRun& run, const at::Tensor& stream, const PerplexityOptions& o,
                 nlohmann::json j, int64_t words) {
  retrieval::KnnLm knn(a.knn_dir, retrieval::identify_model(run), a.knn);
  retrieval::KnnEvalResult kr = retrieval::score_stream_knn(*run.model, knn, stream, o, a.lambdas, a.temperatures);
  nlohmann::json k = retrieval::knn_report(kr, words, !a.knn_analysis.empty());
  k["retrieval"] = knn.describe();
  if (!a.knn_analysis.empty()) write_file_atomic(a.knn_analysis, k.dump(2) + "\n");
  k.erase("nll_change_histogram_edges");
  for (auto& s : k["knn"]) s.erase("nll_change_histogram");
  j["knn"] = k;
  if (a.json) {
    std::cout << j.dump(2) << std::endl;
    return 0;
  }
  std::printf("%s: %lld tokens; base token ppl %.3f, word ppl %.3f\n", a.data.c_str(),
              static_cast<long long>(kr.tokens), k["base"]["token_ppl"].get<double>(), k["base"]["word_ppl"].get<double>());
  for (const auto& s : k["knn"])
    std::printf("  kNN lambda %.3g T %.3g: token ppl %.3f, word ppl %.3f; NLL worse for %.1f%% of tokens, better for %.1f%%\n",
                s["lambda"].get<double>(), s["temperature"].get<double>(), s["token_ppl"].get<double>(),
                s["word_ppl"].get<double>(), 100 * s["worse_share"].get<double>(), 100 * s["better_share"].get<double>());
  return 0;
}

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

  PerplexityOptions o = window_options(run.config, a.context, a.stride, a.batch, a.precision);
  std::vector<int64_t> unk = tok.unk_id() >= 0 ? tok.encode("<unk>") : std::vector<int64_t>{};
  // A subword tokenizer may add a word-boundary piece before it; what matters is that the literal
  // maps to exactly one unknown id.
  const bool literal_is_unk = tok.unk_id() >= 0 && std::count(unk.begin(), unk.end(), tok.unk_id()) == 1;
  o.unk_id = tok.unk_id();
  at::Tensor stream = at::cat({at::full({1}, tok.eos_id(), at::kLong), tf.slice(0, tf.size())});
  if (!a.knn_dir.empty()) {
    ProgressBar bar("eval-lm --knn", static_cast<int64_t>(sliding_windows(tf.size(), o.context, o.stride).size()));
    o.progress = [&](int64_t done, int64_t) { bar.update(done); };
    nlohmann::json j = {{"file", a.data}, {"context", o.context}, {"stride", o.stride}, {"tokenizer", tok.kind()}};
    return run_eval_knn(a, run, stream, o, j, tf.counts().words);
  }
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
      app.add_option("--knn", a->knn_dir, "kNN-LM: a datastore folder (lmforge datastore build)");
      app.add_option("--lambda", a->lambdas, "kNN-LM: interpolation weight(s) of p_kNN, comma-separated")->delimiter(',');
      app.add_option("--temperature", a->temperatures, "kNN-LM: softmax temperature(s) over -distance, comma-separated")
          ->delimiter(',');
      app.add_option("--k", a->knn.k, "kNN-LM: neighbours per query");
      app.add_option("--nprobe", a->knn.nprobe, "kNN-LM: ivfpq cells visited per query (0 = the datastore's)");
      app.add_option("--knn-recompute", a->knn.recompute, "kNN-LM: exact distances from the stored keys: auto | on | off");
      app.add_option("--knn-analysis", a->knn_analysis, "kNN-LM: write the per-token analysis as JSON to this file");
      return [a] { return run_eval_lm(*a); };
    });

}  // namespace
}  // namespace lmforge
