// Training a subword tokenizer by running the sentencepiece command-line tool spm_train (the
// library is not linked; see sentencepiece_model.h). Settings, chosen for reproducibility and so
// that our encoder can reproduce spm_encode exactly:
//   --normalization_rule_name=identity  no NFKC table (our encoder implements no table); spaces
//                                       are still collapsed/trimmed and "▁" is the dummy prefix
//   --byte_fallback=true                nothing is unknown: rare characters become <0xNN> bytes
//   ids pad 0, <spm_unk> 1, eos </s> 2, no bos; user-defined <unk> 3 (WikiText's literal <unk>)
//   --random_seed, --num_threads=2 fixed, --input_sentence_size cap, --shuffle_input_sentence:
//   the same file and options give the same model
// Files in work_dir: spm_input.txt (when max_lines caps the input), spm.model, spm.vocab and
// spm_train.log (the tool's output, quoted in the error when it fails).
#include <filesystem>
#include <fstream>

#include "lmforge/core/error.h"
#include "lmforge/core/file_io.h"
#include "lmforge/core/subprocess.h"
#include "lmforge/data/sentencepiece_tokenizer.h"
#include "lmforge/data/text_util.h"

namespace lmforge::data {

namespace fs = std::filesystem;

std::unique_ptr<SentencePieceTokenizer> SentencePieceTokenizer::train(
    const TokenizerOptions& opts, const std::string& train_file, const std::string& work_dir) {
  opts.validate();
  LMF_REQUIRE(program_on_path("spm_train"), ConfigError, "tokenizer kind '", opts.kind,
              "' needs the spm_train program (Debian package 'sentencepiece'); it is not on PATH");
  std::error_code ec;
  fs::create_directories(work_dir, ec);
  LMF_REQUIRE(fs::is_directory(work_dir), InputError, "directory ", work_dir,
              ": cannot be created");
  std::string input = train_file;
  if (opts.max_lines > 0) {
    input = work_dir + "/spm_input.txt";
    AtomicFile out(input);
    for_each_line(train_file, [&](std::string_view line, int64_t number) {
      if (number > opts.max_lines) return false;
      out.write(line);
      out.write("\n", 1);
      return true;
    });
    out.commit();
  }
  LMF_REQUIRE(input.find(',') == std::string::npos, InputError, "file ", input,
              ": spm_train cannot read a path containing a comma");
  const std::string prefix = work_dir + "/spm";
  std::vector<std::string> argv = {
      "spm_train",
      "--input=" + input,
      "--model_prefix=" + prefix,
      "--model_type=" + opts.kind,
      "--vocab_size=" + std::to_string(opts.vocab_size),
      "--byte_fallback=true",
      "--normalization_rule_name=identity",
      "--pad_id=0", "--pad_piece=<pad>",
      "--unk_id=1", "--unk_piece=<spm_unk>",
      "--eos_id=2", "--eos_piece=</s>",
      "--bos_id=-1",
      "--user_defined_symbols=<unk>",
      "--input_sentence_size=" + std::to_string(opts.input_sentence_size),
      "--shuffle_input_sentence=true",
      "--random_seed=" + std::to_string(opts.seed),
      "--num_threads=2",
      "--max_sentence_length=65536",
  };
  const std::string log = work_dir + "/spm_train.log";
  int rc = run_process(argv, log);
  LMF_REQUIRE(rc == 0, ConfigError, "spm_train failed (exit ", rc, ") training a ", opts.kind,
              " tokenizer of vocab_size ", opts.vocab_size, " on ", train_file, "; the end of ",
              log, ":\n", file_tail(log, 1500));
  const std::string model = prefix + ".model";
  return std::make_unique<SentencePieceTokenizer>(read_file(model), model);
}

}  // namespace lmforge::data
