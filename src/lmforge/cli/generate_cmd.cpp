// `lmforge generate --checkpoint RUN_DIR --prompt TEXT --max-new N [--temperature T --top-k K
//  --top-p P --seed S] [--no-cache] [--json]`: continues a prompt with a trained model.
#include <chrono>
#include <iostream>

#include <nlohmann/json.hpp>

#include "lmforge/cli/subcommand.h"
#include "lmforge/core/threads.h"
#include "lmforge/eval/generate.h"
#include "lmforge/train/load_run.h"

namespace lmforge {
namespace {

struct GenerateArgs {
  std::string checkpoint, prompt, device;
  int64_t max_new = 50;
  SamplingOptions s;
  bool no_cache = false, json = false, stop_at_eos = false;
  int threads = 0;
};

int run_generate(GenerateArgs& a) {
  set_threads(a.threads);
  LoadedRun run = load_run(a.checkpoint, a.device);
  LMF_REQUIRE(run.tokenizer, UserError, "generate needs a text model; '", a.checkpoint, "' was trained on task '",
              run.config.data.task, "'");
  LMF_REQUIRE(a.max_new >= 0, UserError, "--max-new must be >= 0");
  LMF_REQUIRE(a.s.top_p > 0 && a.s.top_p <= 1, UserError, "--top-p must be in (0, 1]");
  std::vector<int64_t> prompt = run.tokenizer->encode(a.prompt);
  if (a.stop_at_eos) a.s.stop_id = run.tokenizer->eos_id();
  auto t0 = std::chrono::steady_clock::now();
  std::vector<int64_t> out = generate(*run.model, prompt, a.max_new, a.s, !a.no_cache);
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::string text = run.tokenizer->decode(out);
  if (a.json) {
    nlohmann::json j = {{"prompt", a.prompt}, {"completion", text}, {"prompt_tokens", prompt.size()},
                        {"new_tokens", out.size()}, {"tokens_per_s", out.size() / std::max(secs, 1e-9)}};
    std::cout << j.dump(2) << std::endl;
  } else {
    std::cout << a.prompt << text << std::endl;
  }
  return 0;
}

const bool kRegistered = register_subcommand("generate", "continue a prompt with a trained model", [](CLI::App& app) {
  auto a = std::make_shared<GenerateArgs>();
  app.add_option("--checkpoint", a->checkpoint, "run directory (or its checkpoint folder)")->required();
  app.add_option("--prompt", a->prompt, "text to continue")->required();
  app.add_option("--max-new", a->max_new, "tokens to generate");
  app.add_option("--temperature", a->s.temperature, "0 = greedy");
  app.add_option("--top-k", a->s.top_k, "sample among the k most likely tokens (0 = all)");
  app.add_option("--top-p", a->s.top_p, "nucleus: smallest set with this much probability (1 = all)");
  app.add_option("--seed", a->s.seed, "sampling seed");
  app.add_option("--device", a->device, "cpu | cuda (default: the run's)");
  app.add_option("--threads", a->threads, "intra-op threads (0 = all cores)");
  app.add_flag("--stop-at-eos", a->stop_at_eos, "stop after an end-of-line token");
  app.add_flag("--no-cache", a->no_cache, "recompute the whole sequence each step (for checking the cache)");
  app.add_flag("--json", a->json, "print JSON with tokens/s");
  return [a] { return run_generate(*a); };
});

}  // namespace
}  // namespace lmforge
