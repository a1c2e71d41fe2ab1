// GLUE readers; layouts and label ids in glue.h.
#include "lmforge/data/glue.h"

#include <algorithm>
#include <cctype>
#include <cstdlib>

#include "lmforge/core/error.h"
#include "lmforge/data/text_util.h"

namespace lmforge::data {

namespace {
const std::vector<std::string> kBinary{"0", "1"};
const std::vector<std::string> kNli3{"entailment", "neutral", "contradiction"};
const std::vector<std::string> kNli2{"entailment", "not_entailment"};

std::string norm_name(std::string s) {
  std::string o;
  for (char c : s)
    if (std::isalnum(static_cast<unsigned char>(c))) o += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return o;
}

std::vector<std::string> split_tabs(std::string_view line) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  std::vector<std::string> f;
  size_t s = 0;
  while (true) {
    size_t t = line.find('\t', s);
    f.emplace_back(line.substr(s, t == std::string_view::npos ? std::string_view::npos : t - s));
    if (t == std::string_view::npos) break;
    s = t + 1;
  }
  return f;
}
}  // namespace

const std::vector<GlueTask>& glue_tasks() {
  static const std::vector<GlueTask> t = {
      {"CoLA", "CoLA", false, false, kBinary, {"dev.tsv"}, {"test.tsv"}, {"CoLA.tsv"}},
      {"SST-2", "SST-2", false, false, kBinary, {"dev.tsv"}, {"test.tsv"}, {"SST-2.tsv"}},
      {"MRPC", "MRPC", true, false, kBinary, {"dev.tsv"}, {"test.tsv"}, {"MRPC.tsv"}},
      {"STS-B", "STS-B", true, true, {}, {"dev.tsv"}, {"test.tsv"}, {"STS-B.tsv"}},
      {"QQP", "QQP", true, false, kBinary, {"dev.tsv"}, {"test.tsv"}, {"QQP.tsv"}},
      {"MNLI", "MNLI", true, false, kNli3, {"dev_matched.tsv", "dev_mismatched.tsv"},
       {"test_matched.tsv", "test_mismatched.tsv"}, {"MNLI-m.tsv", "MNLI-mm.tsv"}},
      {"QNLI", "QNLI", true, false, kNli2, {"dev.tsv"}, {"test.tsv"}, {"QNLI.tsv"}},
      {"RTE", "RTE", true, false, kNli2, {"dev.tsv"}, {"test.tsv"}, {"RTE.tsv"}},
      {"WNLI", "WNLI", true, false, kBinary, {"dev.tsv"}, {"test.tsv"}, {"WNLI.tsv"}},
      {"AX", "diagnostic", true, false, kNli3, {}, {"diagnostic.tsv"}, {"AX.tsv"}},
  };
  return t;
}

const GlueTask& glue_task(const std::string& name) {
  std::string n = norm_name(name);
  if (n == "diagnostic") n = "ax";
  for (const auto& t : glue_tasks())
    if (norm_name(t.name) == n) return t;
  throw UserError(str("unknown GLUE task '", name, "' (expected CoLA, SST-2, MRPC, STS-B, QQP, MNLI, QNLI, RTE, WNLI or AX)"));
}

namespace {
// The rows of one file, from any line source: for_each(fn) calls fn(line, number) per line.
template <class ForEachLine>
std::vector<GlueExample> read_glue_rows(const GlueTask& task, const std::string& path, GlueSplit split,
                                        ForEachLine for_each) {
  const bool test = split == GlueSplit::kTest;
  const bool header = !(task.name == "CoLA" && !test);
  struct Cols {
    int index = -1, a = -1, b = -1, label = -1;  // label -2: last column
    size_t min = 0;
  } c;
  const std::string& n = task.name;
  if (n == "CoLA") c = test ? Cols{0, 1, -1, -1, 2} : Cols{-1, 3, -1, 1, 4};
  else if (n == "SST-2") c = test ? Cols{0, 1, -1, -1, 2} : Cols{-1, 0, -1, 1, 2};
  else if (n == "MRPC") c = test ? Cols{0, 3, 4, -1, 5} : Cols{-1, 3, 4, 0, 5};
  else if (n == "STS-B") c = test ? Cols{0, 7, 8, -1, 9} : Cols{-1, 7, 8, -2, 10};
  else if (n == "QQP") c = test ? Cols{0, 1, 2, -1, 3} : Cols{-1, 3, 4, 5, 6};
  else if (n == "MNLI") c = test ? Cols{0, 8, 9, -1, 10} : Cols{-1, 8, 9, -2, 11};
  else if (n == "AX") c = Cols{0, 1, 2, -1, 3};
  else c = test ? Cols{0, 1, 2, -1, 3} : Cols{-1, 1, 2, 3, 4};  // QNLI, RTE, WNLI

  std::vector<GlueExample> out;
  for_each([&](std::string_view line, int64_t no) {
    if (no == 1 && line.size() >= 3 && line.substr(0, 3) == "\xEF\xBB\xBF") line.remove_prefix(3);  // BOM
    if (header && no == 1) return true;
    if (line.empty() || line == "\r") return true;
    std::vector<std::string> f = split_tabs(line);
    if (f.size() < c.min) {
      if (n == "QQP") return true;  // GLUE's QQP processor skips short rows
      throw InputError(str("file ", path, " line ", no, ": expected at least ", c.min, " tab-separated columns for ",
                           n, test ? " (test layout)" : "", ", got ", f.size()));
    }
    GlueExample e;
    if (c.index >= 0) e.index = f[static_cast<size_t>(c.index)];
    e.a = f[static_cast<size_t>(c.a)];
    if (c.b >= 0) e.b = f[static_cast<size_t>(c.b)];
    if (c.label != -1) {
      const std::string& v = c.label == -2 ? f.back() : f[static_cast<size_t>(c.label)];
      if (task.regression) {
        char* end = nullptr;
        e.score = std::strtod(v.c_str(), &end);
        LMF_REQUIRE(!v.empty() && end && *end == 0, InputError, "file ", path, " line ", no, ": score '", v,
                    "' is not a number");
      } else {
        auto it = std::find(task.labels.begin(), task.labels.end(), v);
        LMF_REQUIRE(it != task.labels.end(), InputError, "file ", path, " line ", no, ": label '", v, "' is not one of ",
                    n, "'s labels");
        e.label = it - task.labels.begin();
      }
    }
    out.push_back(std::move(e));
    return true;
  });
  return out;
}
}  // namespace

std::vector<GlueExample> read_glue_file(const GlueTask& task, const std::string& path, GlueSplit split) {
  return read_glue_rows(task, path, split, [&](const auto& fn) { for_each_line(path, fn); });
}

std::vector<GlueExample> read_glue_text(const GlueTask& task, std::string_view text, const std::string& name,
                                        GlueSplit split) {
  return read_glue_rows(task, name, split, [&](const auto& fn) { for_each_line_in(text, fn); });
}

}  // namespace lmforge::data
