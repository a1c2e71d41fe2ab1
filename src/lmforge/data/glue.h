// GLUE (Wang et al. 2018) readers in the layout of the original glue_data download, for the nine
// tasks and the diagnostic set (AX). Column layouts (0-based; files are tab separated, no quoting):
//   CoLA    train/dev: NO header, label col1, sentence col3; test: header, index col0, sentence col1
//   SST-2   header `sentence label`; test `index sentence`
//   MRPC    header (starts with a UTF-8 BOM) `Quality #1ID #2ID #1String #2String`: label col0, text col3,4
//   STS-B   header (10 cols): text col7, col8, score = last col (float 0..5); test: text col7, col8
//   QQP     header `id qid1 qid2 question1 question2 is_duplicate`: text col3, col4, label col5; rows with
//           too few columns are skipped (as GLUE's own processor); test `id question1 question2`
//   MNLI    header: text col8, col9, label = last col; dev_matched.tsv / dev_mismatched.tsv,
//           test_matched.tsv / test_mismatched.tsv (text col8, col9)
//   QNLI    `index question sentence label`; RTE, WNLI `index sentence1 sentence2 label`; test w/o label
//   AX      diagnostic/diagnostic.tsv `index sentence1 sentence2` (unlabeled; MNLI labels)
// Labels are the Hugging Face `glue` ids, which AdvGLUE also uses: MNLI/AX entailment 0, neutral 1,
// contradiction 2; QNLI/RTE entailment 0, not_entailment 1; the 0/1 tasks keep their numbers.
#pragma once
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace lmforge::data {

struct GlueExample {
  std::string index;   // test/diagnostic: the index column ("" otherwise)
  std::string a, b;    // b empty for single-sentence tasks
  int64_t label = -1;  // class id; -1 when unlabeled or regression
  double score = 0.0;  // STS-B similarity
};

struct GlueTask {
  std::string name;                  // CoLA, SST-2, MRPC, STS-B, QQP, MNLI, QNLI, RTE, WNLI, AX
  std::string dir;                   // folder under the GLUE root
  bool pair = true;                  // two texts
  bool regression = false;           // STS-B
  std::vector<std::string> labels;   // label names by id (submission strings)
  std::vector<std::string> dev_files;   // MNLI: matched, mismatched
  std::vector<std::string> test_files;  // file names under dir
  std::vector<std::string> submission;  // leaderboard file per test file (CoLA.tsv, MNLI-m.tsv, ...)
  int64_t num_outputs() const { return regression ? 1 : static_cast<int64_t>(labels.size()); }
};

// The ten tasks (nine + AX), in the leaderboard's order.
const std::vector<GlueTask>& glue_tasks();
// Case-insensitive lookup ("sst2", "SST-2", "sts-b", "ax", "diagnostic"); throws UserError listing the
// names when unknown.
const GlueTask& glue_task(const std::string& name);

// Which layout to read a file with.
enum class GlueSplit { kLabeled, kTest };

// Reads one file of a task. Throws InputError naming file:line on a malformed row (too few columns,
// unknown label, bad score), except QQP's short rows which are skipped.
std::vector<GlueExample> read_glue_file(const GlueTask& task, const std::string& path, GlueSplit split);
// The same from a file's text already in memory (tests, fuzzing); `name` is what errors call it.
std::vector<GlueExample> read_glue_text(const GlueTask& task, std::string_view text, const std::string& name,
                                        GlueSplit split);

}  // namespace lmforge::data
