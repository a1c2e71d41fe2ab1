// `lmforge import-hf --from HF_DIR --out RUN_DIR`: turns a Hugging Face BERT or GPT-2 checkpoint
// (config.json + model.safetensors, + vocab.txt for BERT, + tokenizer.json or vocab.json +
// merges.txt for GPT-2: data/hf_tokenizer.h) into a run directory of ours, so that `lmforge glue`,
// `eval-lm` and `generate` take it (models/hf_import.h has the name mapping).
#include <algorithm>
#include <filesystem>
#include <iostream>
#include <memory>

#include "lmforge/cli/subcommand.h"
#include "lmforge/core/error.h"
#include "lmforge/core/file_io.h"
#include "lmforge/core/log.h"
#include "lmforge/core/safetensors.h"
#include "lmforge/data/hf_tokenizer.h"
#include "lmforge/data/wordpiece.h"
#include "lmforge/models/hf_import.h"
#include "lmforge/train/checkpoint.h"
#include "lmforge/train/run_config.h"

namespace lmforge {
namespace {

namespace fs = std::filesystem;

struct ImportArgs {
  std::string from, out;
};

// Whether the folder holds a tokenizer data/hf_tokenizer.h reads (tokenizer.json, or GPT-2's
// vocab.json + merges.txt / encoder.json + vocab.bpe).
bool has_hf_tokenizer(const std::string& from) {
  const fs::path f(from);
  return fs::exists(f / "tokenizer.json") || (fs::exists(f / "vocab.json") && fs::exists(f / "merges.txt")) ||
         (fs::exists(f / "encoder.json") && fs::exists(f / "vocab.bpe"));
}

// The run directory's config: the imported model, the objective it was pretrained with (BERT: MLM
// with its own WordPiece vocabulary; GPT-2: next-token LM) and seq_len 128 (at most its positions).
RunConfig imported_run_config(const HfImport& r, const std::string& from) {
  RunConfig c;
  c.model = r.config;
  if (r.family == "bert") {
    c.data.task = "mlm";
    c.data.tokenizer.kind = "wordpiece";
    c.data.tokenizer.vocab = (fs::path(from) / "vocab.txt").string();
  } else {
    c.data.task = "lm";
    if (has_hf_tokenizer(from)) {
      c.data.tokenizer.kind = "hf";
      c.data.tokenizer.vocab = from;
    }
  }
  c.train.seq_len = std::min<int64_t>(c.model.max_seq_len, 128);
  return c;
}

int run_import(const ImportArgs& a) {
  LMF_REQUIRE(!fs::exists(fs::path(a.out) / "checkpoint"), UserError, "run directory '", a.out,
              "' already holds a checkpoint; choose another --out");
  HfImport r = import_hf(a.from);
  fs::create_directories(a.out);
  nlohmann::json state = {{"step", 0}, {"tokens", 0}, {"imported_from", a.from}, {"family", r.family}};
  const toml::table config = run_config_to_toml(imported_run_config(r, a.from));
  save_checkpoint(a.out, *r.model, nullptr, state, config);
  write_file_atomic((fs::path(a.out) / "config.toml").string(), to_toml_string(config));
  if (r.family == "bert") {
    const std::string vocab = (fs::path(a.from) / "vocab.txt").string();
    LMF_REQUIRE(fs::exists(vocab), InputError, "HF checkpoint '", a.from, "': vocab.txt is missing");
    data::WordPieceTokenizer::from_vocab_file(vocab, true)->save((fs::path(a.out) / "tokenizer").string());
    if (!r.pooler.empty()) write_safetensors((fs::path(a.out) / "pooler.safetensors").string(), r.pooler);
  } else if (has_hf_tokenizer(a.from)) {
    auto tok = data::HfTokenizer::from_path(a.from);
    LMF_REQUIRE(tok->vocab_size() <= r.config.vocab_size, InputError, "HF checkpoint '", a.from, "': its tokenizer has ",
                tok->vocab_size(), " ids but the model's vocabulary is ", r.config.vocab_size);
    tok->save((fs::path(a.out) / "tokenizer").string());
    log_line(str("tokenizer: ", tok->kind(), ", ", tok->vocab_size(), " ids"));
  } else if (fs::exists(fs::path(a.from) / "lmforge_tokenizer" / "tokenizer.json")) {
    // Written by `lmforge export-hf` for a tokenizer with no Hugging Face form.
    data::load_tokenizer((fs::path(a.from) / "lmforge_tokenizer").string())->save((fs::path(a.out) / "tokenizer").string());
  } else {
    log_line("no tokenizer files (tokenizer.json, vocab.json + merges.txt): eval-lm and generate need one in " +
             (fs::path(a.out) / "tokenizer").string());
  }
  log_line(str("imported ", r.family, " (", r.model->num_parameters(), " parameters) into ", a.out));
  for (const auto& s : r.skipped) log_line("  not used: " + s);
  return 0;
}

const bool kRegistered = register_subcommand("import-hf", "import a Hugging Face BERT/GPT-2 safetensors checkpoint", [](CLI::App& app) {
  auto a = std::make_shared<ImportArgs>();
  app.add_option("--from", a->from, "folder with config.json, model.safetensors (and vocab.txt for BERT)")->required();
  app.add_option("--out", a->out, "run directory to create")->required();
  return [a] { return run_import(*a); };
});

}  // namespace
}  // namespace lmforge
