// `lmforge export-hf --checkpoint RUN --out DIR [--dtype fp32|bf16|fp16]`: writes a run's model in
// Hugging Face's layout (config.json, model.safetensors; models/hf_export.h says which models have
// one) and its tokenizer in the files HF's loaders read where the tokenizer has such a form:
//   wordpiece -> vocab.txt + tokenizer_config.json (BertTokenizer, do_lower_case) +
//                special_tokens_map.json
//   a tokenizer imported from HF (tokenizer.json of HF's format) -> that tokenizer.json again
// Other kinds (lmforge's sentencepiece BPE/unigram, word, byte) have no faithful HF file yet: the
// weights are still exported, the lmforge tokenizer is copied to DIR/lmforge_tokenizer, and the
// command says so. DIR must not exist or be empty; files are written atomically.
#include <filesystem>
#include <iostream>
#include <memory>

#include <nlohmann/json.hpp>

#include "lmforge/cli/subcommand.h"
#include "lmforge/core/error.h"
#include "lmforge/core/file_io.h"
#include "lmforge/core/log.h"
#include "lmforge/core/safetensors.h"
#include "lmforge/core/threads.h"
#include "lmforge/models/hf_export.h"
#include "lmforge/train/load_run.h"

namespace lmforge {
namespace {

namespace fs = std::filesystem;

struct ExportArgs {
  std::string checkpoint, out, dtype = "fp32";
  bool json = false;
};

at::ScalarType parse_dtype(const std::string& d) {
  if (d == "fp32") return at::kFloat;
  if (d == "bf16") return at::kBFloat16;
  if (d == "fp16") return at::kHalf;
  throw UserError(str("--dtype '", d, "': expected fp32, bf16 or fp16"));
}

// The pooler that import-hf kept beside an imported BERT (RUN/pooler.safetensors), if any.
std::map<std::string, at::Tensor> imported_pooler(const std::string& ckpt) {
  fs::path c = fs::path(ckpt).lexically_normal();
  if (c.filename().empty()) c = c.parent_path();
  const fs::path p = c.parent_path() / "pooler.safetensors";
  return fs::exists(p) ? read_safetensors(p.string()) : std::map<std::string, at::Tensor>{};
}

// Writes the tokenizer files; returns what was written (for the report), or a note of why not.
std::string export_tokenizer(const data::Tokenizer* tok, const nlohmann::json& config, const fs::path& out) {
  if (!tok) return "none (the run's task has no tokenizer)";
  const auto files = tok->files();
  if (tok->kind() == "wordpiece") {
    nlohmann::json lmf = nlohmann::json::parse(files.front().second);
    const bool lower = lmf.value("lower_case", true);
    for (const auto& [name, content] : files)
      if (name == "vocab.txt") write_file_atomic((out / "vocab.txt").string(), content);
    const int64_t max_len = config.value("max_position_embeddings", config.value("n_positions", int64_t{512}));
    nlohmann::json tc = {{"tokenizer_class", "BertTokenizer"}, {"do_lower_case", lower},
                         {"strip_accents", nullptr},           {"tokenize_chinese_chars", true},
                         {"model_max_length", max_len},        {"unk_token", "[UNK]"},
                         {"sep_token", "[SEP]"},               {"pad_token", "[PAD]"},
                         {"cls_token", "[CLS]"},               {"mask_token", "[MASK]"}};
    write_file_atomic((out / "tokenizer_config.json").string(), tc.dump(2) + "\n");
    nlohmann::json sm = {{"unk_token", "[UNK]"}, {"sep_token", "[SEP]"}, {"pad_token", "[PAD]"},
                         {"cls_token", "[CLS]"}, {"mask_token", "[MASK]"}};
    write_file_atomic((out / "special_tokens_map.json").string(), sm.dump(2) + "\n");
    return "vocab.txt, tokenizer_config.json, special_tokens_map.json (BertTokenizer)";
  }
  for (const auto& [name, content] : files)
    if (name == "hf_tokenizer.json") {
      write_file_atomic((out / "tokenizer.json").string(), content);
      return "tokenizer.json (as imported)";
    }
  fs::create_directories(out / "lmforge_tokenizer");
  tok->save((out / "lmforge_tokenizer").string());
  return str("no Hugging Face form for a '", tok->kind(), "' tokenizer yet: copied to lmforge_tokenizer/");
}

int run_export(const ExportArgs& a) {
  set_threads(1);
  const at::ScalarType dtype = parse_dtype(a.dtype);
  const fs::path out(a.out);
  LMF_REQUIRE(!fs::exists(out) || (fs::is_directory(out) && fs::is_empty(out)), UserError, "--out '", a.out,
              "' already exists and is not an empty folder; choose another");
  LoadedRun run = load_run(a.checkpoint, "cpu");
  HfExport e = export_hf(*run.model, dtype, imported_pooler(run.checkpoint));  // refuses before anything is written
  fs::create_directories(out);
  write_safetensors((out / "model.safetensors").string(), e.tensors, {{"format", "pt"}});
  write_file_atomic((out / "config.json").string(), e.config.dump(2) + "\n");
  const std::string tok = export_tokenizer(run.tokenizer.get(), e.config, out);
  if (a.json) {
    nlohmann::json j = {{"family", e.family}, {"tensors", e.tensors.size()}, {"tokenizer", tok}, {"out", a.out}};
    std::cout << j.dump(2) << std::endl;
  } else {
    std::cout << "exported " << e.family << " (" << e.tensors.size() << " tensors, " << a.dtype << ") to " << a.out
              << "; tokenizer: " << tok << std::endl;
  }
  return 0;
}

const bool kRegistered = register_subcommand(
    "export-hf", "write a run's model in Hugging Face's GPT-2 / BERT layout (config.json, model.safetensors)",
    [](CLI::App& app) {
      auto a = std::make_shared<ExportArgs>();
      app.add_option("--checkpoint", a->checkpoint, "a run directory or a checkpoint folder")->required();
      app.add_option("--out", a->out, "a new (or empty) folder for the Hugging Face files")->required();
      app.add_option("--dtype", a->dtype, "fp32 | bf16 | fp16 (default fp32)");
      app.add_flag("--json", a->json, "print the report as JSON");
      return [a] { return run_export(*a); };
    });

}  // namespace
}  // namespace lmforge
