// `lmforge repetition --checkpoint RUN --data FILE [--sentences 100 --repeats 10]`: DITTO's
// self-reinforcement analysis (eval/gen/self_reinforcement.h): TP, IP and WR per repetition of
// sentences taken from FILE, as a table or JSON.
#include <filesystem>
#include <iostream>

#include <nlohmann/json.hpp>

#include "lmforge/cli/subcommand.h"
#include "lmforge/core/threads.h"
#include "lmforge/data/token_file.h"
#include "lmforge/eval/gen/self_reinforcement.h"
#include "lmforge/models/language_model.h"
#include "lmforge/train/load_run.h"
#include "lmforge/train/task.h"

namespace lmforge {
namespace {

struct RepetitionArgs {
  std::string checkpoint, data, device, sentence_end = ".";
  int64_t sentences = 100, repeats = 10, min_len = 5, max_len = 30;
  bool json = false;
  int threads = 0;
};

int run_repetition(const RepetitionArgs& a) {
  set_threads(a.threads);
  LoadedRun run = load_run(a.checkpoint, a.device);
  LMF_REQUIRE(run.tokenizer, UserError, "repetition needs a text model; '", a.checkpoint, "' has no tokenizer");
  LMF_REQUIRE(std::filesystem::exists(a.data), InputError, "--data file '", a.data, "' does not exist");
  const int64_t end = data::single_token_id(*run.tokenizer, a.sentence_end);
  LMF_REQUIRE(end >= 0, UserError, "--sentence-end '", a.sentence_end, "' is not one token under this run's tokenizer");
  data::TokenFile text = data::TokenFile::open_or_build(*run.tokenizer, a.data, default_token_cache_dir(run.config.data));
  // Sentences long enough to mean something, short enough that R copies fit the model's positions.
  const int64_t fit = (run.model->config().max_seq_len - 1) / a.repeats;
  auto picked = eval::pick_sentences(text.span(), end, run.tokenizer->eos_id(), a.sentences, a.min_len,
                                     std::min(a.max_len, fit));
  LMF_REQUIRE(!picked.empty(), InputError, "no sentence of ", a.min_len, "-", std::min(a.max_len, fit),
              " tokens ending with '", a.sentence_end, "' in '", a.data, "'");
  eval::SelfReinforcement r = eval::self_reinforcement(*run.model, picked, a.repeats, run.tokenizer->eos_id());
  if (a.json) {
    nlohmann::json j = {{"checkpoint", a.checkpoint}, {"data", a.data}, {"sentences", r.sentences},
                        {"repeats", r.repeats}, {"tp", r.tp}, {"ip", r.ip}, {"wr", r.wr}};
    std::cout << j.dump(2) << std::endl;
    return 0;
  }
  std::cout << r.sentences << " sentences, each repeated " << r.repeats << " times\n  k      TP      IP      WR\n";
  for (int64_t k = 0; k < r.repeats; ++k)
    std::printf("%3lld  %6.4f  %6.4f  %6.4f\n", static_cast<long long>(k + 1), r.tp[k], r.ip[k], r.wr[k]);
  return 0;
}

const bool kRegistered = register_subcommand(
    "repetition", "DITTO's self-reinforcement analysis: token probability per repetition of a sentence", [](CLI::App& app) {
      auto a = std::make_shared<RepetitionArgs>();
      app.add_option("--checkpoint", a->checkpoint, "run directory (or its checkpoint folder)")->required();
      app.add_option("--data", a->data, "text file the sentences are taken from")->required();
      app.add_option("--sentences", a->sentences, "sentences to repeat (the first ones that fit)");
      app.add_option("--repeats", a->repeats, "copies of each sentence");
      app.add_option("--min-len", a->min_len, "shortest sentence, in tokens");
      app.add_option("--max-len", a->max_len, "longest sentence, in tokens");
      app.add_option("--sentence-end", a->sentence_end, "the one-token text that ends a sentence");
      app.add_option("--device", a->device, "cpu | cuda (default: the run's)");
      app.add_option("--threads", a->threads, "intra-op threads (0 = all cores)");
      app.add_flag("--json", a->json, "print JSON");
      return [a] { return run_repetition(*a); };
    });

}  // namespace
}  // namespace lmforge
