// `lmforge generate --checkpoint RUN_DIR --prompt TEXT --max-new N [--temperature T --top-k K
//  --top-p P --beams W --seed S] [--no-cache] [--json]`: continues a prompt with a trained model.
// `lmforge generate --checkpoint RUN_DIR --eval FILE [--prefix-len 50 --max-new 100 --prompts 200]`:
//  the open-ended generation evaluation of eval/gen/gen_eval.h (repetition, diversity, MAUVE of the
//  model's continuations beside the human ones), as JSON.
// --knn DIR [--knn-lambda L --knn-temperature T --knn-k K] samples from the kNN-LM mixture
// (retrieval/knn_generate.h, a LogitsHook); --knn-analysis FILE writes the per-step entropies as JSON.
#include <chrono>
#include <filesystem>
#include <fstream>
#include <iostream>

#include <nlohmann/json.hpp>

#include "lmforge/cli/subcommand.h"
#include "lmforge/core/file_io.h"
#include "lmforge/core/threads.h"
#include "lmforge/data/token_file.h"
#include "lmforge/eval/gen/gen_eval.h"
#include "lmforge/eval/generate.h"
#include "lmforge/retrieval/knn_generate.h"
#include "lmforge/retrieval/knn_lm.h"
#include "lmforge/train/load_run.h"
#include "lmforge/train/task.h"

namespace lmforge {
namespace {

struct GenerateArgs {
  std::string checkpoint, prompt, device, eval_file, mauve_model, sentence_end = ".", out;
  int64_t max_new = 50;
  SamplingOptions s;
  eval::GenEvalOptions ev;
  bool no_cache = false, json = false, stop_at_eos = false, no_mauve = false;
  int threads = 0;
  std::string knn_dir, knn_analysis;
  double knn_lambda = 0.25, knn_temperature = 1.0;
  retrieval::KnnOptions knn;
};

// The id of a one-token sentence end ("none": no sentence metrics).
int64_t sentence_end_id(const data::Tokenizer& tok, const std::string& text) {
  if (text == "none") return -1;
  if (int64_t id = data::single_token_id(tok, text); id >= 0) return id;
  throw UserError(str("--sentence-end '", text, "' is not one token under this run's tokenizer; give a text that is, ",
                      "or 'none' to skip the sentence metrics"));
}

int run_eval(GenerateArgs& a, LoadedRun& run) {
  LMF_REQUIRE(std::filesystem::exists(a.eval_file), InputError, "--eval file '", a.eval_file, "' does not exist");
  a.ev.continuation_len = a.max_new;
  a.ev.sampling = a.s;
  a.ev.mauve = !a.no_mauve;
  a.ev.sentence_end = sentence_end_id(*run.tokenizer, a.sentence_end);
  DataConfig dc = run.config.data;
  data::TokenFile text = data::TokenFile::open_or_build(*run.tokenizer, a.eval_file, default_token_cache_dir(dc));
  auto t0 = std::chrono::steady_clock::now();
  eval::GenEvalSamples s = eval::generate_samples(*run.model, text.span(), a.ev);
  const double gen_secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  LoadedRun feat_run;
  LanguageModel* featurizer = run.model.get();
  if (!a.mauve_model.empty()) {
    feat_run = load_run(a.mauve_model, a.device);
    LMF_REQUIRE(feat_run.tokenizer && feat_run.tokenizer->fingerprint() == run.tokenizer->fingerprint(), UserError,
                "--mauve-model '", a.mauve_model, "' uses another tokenizer than '", a.checkpoint,
                "'; its features would read other tokens");
    featurizer = feat_run.model.get();
  }
  nlohmann::json j = eval::gen_eval_report(s, *featurizer, a.ev);
  double new_tokens = 0;
  for (const auto& c : s.model) new_tokens += static_cast<double>(c.size());
  j["checkpoint"] = a.checkpoint;
  j["eval_file"] = a.eval_file;
  j["decoding"] = {{"temperature", a.s.temperature}, {"top_k", a.s.top_k}, {"top_p", a.s.top_p},
                   {"beams", a.s.beams}, {"length_penalty", a.s.length_penalty}, {"seed", a.s.seed}};
  j["mauve_model"] = a.mauve_model.empty() ? a.checkpoint : a.mauve_model;
  j["generation_tokens_per_s"] = new_tokens / std::max(gen_secs, 1e-9);
  j["examples"] = nlohmann::json::array();
  for (size_t i = 0; i < std::min<size_t>(3, s.model.size()); ++i)
    j["examples"].push_back({{"prefix", run.tokenizer->decode(s.prefixes[i])},
                             {"model", run.tokenizer->decode(s.model[i])},
                             {"human", run.tokenizer->decode(s.human[i])}});
  if (!a.out.empty()) write_file_atomic(a.out, j.dump(2) + "\n");
  std::cout << j.dump(2) << std::endl;
  return 0;
}

int run_generate(GenerateArgs& a) {
  set_threads(a.threads);
  LMF_REQUIRE(a.prompt.empty() != a.eval_file.empty(), UserError, "generate needs exactly one of --prompt and --eval");
  LoadedRun run = load_run(a.checkpoint, a.device);
  LMF_REQUIRE(run.tokenizer, UserError, "generate needs a text model; '", a.checkpoint, "' was trained on task '",
              run.config.data.task, "'");
  LMF_REQUIRE(a.max_new >= 0, UserError, "--max-new must be >= 0");
  LMF_REQUIRE(a.s.top_p > 0 && a.s.top_p <= 1, UserError, "--top-p must be in (0, 1]");
  if (a.stop_at_eos) a.s.stop_id = run.tokenizer->eos_id();
  if (!a.eval_file.empty()) return run_eval(a, run);
  std::vector<int64_t> prompt = run.tokenizer->encode(a.prompt);
  auto t0 = std::chrono::steady_clock::now();
  std::vector<int64_t> out;
  auto trace = std::make_shared<retrieval::KnnGenerationTrace>();
  if (!a.knn_dir.empty()) {
    LMF_REQUIRE(!a.no_cache, UserError, "--knn decodes with the cache; drop --no-cache");
    auto knn = std::make_shared<const retrieval::KnnLm>(a.knn_dir, retrieval::identify_model(run), a.knn);
    LogitsHook hook = retrieval::knn_logits_hook(knn, a.knn_lambda, a.knn_temperature, trace);
    out = generate_batch(*run.model, {prompt}, a.max_new, a.s, 1, hook).front();
  } else {
    LMF_REQUIRE(a.knn_analysis.empty(), UserError, "--knn-analysis needs --knn");
    out = generate(*run.model, prompt, a.max_new, a.s, !a.no_cache);
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::string text = run.tokenizer->decode(out);
  if (!a.knn_analysis.empty()) {
    nlohmann::json t = trace->to_json();
    t["lambda"] = a.knn_lambda;
    t["temperature"] = a.knn_temperature;
    write_file_atomic(a.knn_analysis, t.dump(2) + "\n");
  }
  if (a.json) {
    nlohmann::json j = {{"prompt", a.prompt}, {"completion", text}, {"prompt_tokens", prompt.size()},
                        {"new_tokens", out.size()}, {"tokens_per_s", out.size() / std::max(secs, 1e-9)}};
    std::cout << j.dump(2) << std::endl;
  } else {
    std::cout << a.prompt << text << std::endl;
  }
  return 0;
}

const bool kRegistered = register_subcommand("generate", "continue a prompt with a trained model, or evaluate its generations", [](CLI::App& app) {
  auto a = std::make_shared<GenerateArgs>();
  app.add_option("--checkpoint", a->checkpoint, "run directory (or its checkpoint folder)")->required();
  app.add_option("--prompt", a->prompt, "text to continue");
  app.add_option("--max-new", a->max_new, "tokens to generate (with --eval: the continuation length)");
  app.add_option("--temperature", a->s.temperature, "0 = greedy");
  app.add_option("--top-k", a->s.top_k, "sample among the k most likely tokens (0 = all)");
  app.add_option("--top-p", a->s.top_p, "nucleus: smallest set with this much probability (1 = all)");
  app.add_option("--beams", a->s.beams, "beam search with this many beams (1 = off)");
  app.add_option("--length-penalty", a->s.length_penalty, "beam search: finished scores / length^this");
  app.add_option("--seed", a->s.seed, "sampling seed");
  app.add_option("--device", a->device, "cpu | cuda (default: the run's)");
  app.add_option("--threads", a->threads, "intra-op threads (0 = all cores)");
  app.add_flag("--stop-at-eos", a->stop_at_eos, "stop after an end-of-line token");
  app.add_flag("--no-cache", a->no_cache, "recompute the whole sequence each step (for checking the cache)");
  app.add_flag("--json", a->json, "print JSON with tokens/s");
  app.add_option("--knn", a->knn_dir, "kNN-LM: sample from the mixture with this datastore");
  app.add_option("--knn-lambda", a->knn_lambda, "kNN-LM: weight of p_kNN");
  app.add_option("--knn-temperature", a->knn_temperature, "kNN-LM: softmax temperature over -distance");
  app.add_option("--knn-k", a->knn.k, "kNN-LM: neighbours per step");
  app.add_option("--knn-nprobe", a->knn.nprobe, "kNN-LM: ivfpq cells per query (0 = the datastore's)");
  app.add_option("--knn-analysis", a->knn_analysis, "kNN-LM: write per-step entropies of p_kNN, p_LM, the mixture as JSON");
  app.add_option("--eval", a->eval_file, "evaluate generations: continue the prefixes of this text file");
  app.add_option("--prefix-len", a->ev.prefix_len, "--eval: prefix tokens per window");
  app.add_option("--prompts", a->ev.max_prompts, "--eval: windows taken from the start of the file");
  app.add_option("--batch", a->ev.batch, "--eval: prompts decoded together");
  app.add_option("--sentence-end", a->sentence_end, "--eval: the one-token text that ends a sentence ('none': skip)");
  app.add_flag("--no-mauve", a->no_mauve, "--eval: skip MAUVE");
  app.add_option("--mauve-model", a->mauve_model, "--eval: run whose final hidden states are MAUVE's features (default: the model)");
  app.add_option("--mauve-scaling", a->ev.mauve_options.scaling, "--eval: MAUVE's constant c");
  app.add_option("--mauve-buckets", a->ev.mauve_options.num_buckets, "--eval: k-means clusters (0 = prompts / 10)");
  app.add_option("--out", a->out, "--eval: also write the JSON report here");
  return [a] { return run_generate(*a); };
});

}  // namespace
}  // namespace lmforge
