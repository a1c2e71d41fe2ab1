// AdvGLUE scoring; see advglue.h.
#include "lmforge/eval/advglue.h"

#include <cstdio>

#include "lmforge/core/error.h"
#include "lmforge/eval/glue_metrics.h"

namespace lmforge::eval {

nlohmann::json parse_advglue_json(std::string_view text, const std::string& origin) {
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    throw InputError(str(origin, ": not valid JSON (", e.what(), ")"));
  }
  return j;
}

const std::vector<std::string>& advglue_tasks() {
  static const std::vector<std::string> t{"sst2", "qqp", "mnli", "mnli-mm", "qnli", "rte"};
  return t;
}

std::string advglue_glue_task(const std::string& t) {
  if (t == "sst2") return "SST-2";
  if (t == "qqp") return "QQP";
  if (t == "mnli" || t == "mnli-mm") return "MNLI";
  if (t == "qnli") return "QNLI";
  if (t == "rte") return "RTE";
  throw UserError(str("unknown AdvGLUE task '", t, "' (sst2, qqp, mnli, mnli-mm, qnli, rte)"));
}

std::vector<data::GlueExample> advglue_examples(const nlohmann::json& dev, const std::string& task,
                                                const std::string& origin) {
  advglue_glue_task(task);
  std::vector<data::GlueExample> out;
  if (!dev.contains(task)) return out;
  const auto& list = dev.at(task);
  LMF_REQUIRE(list.is_array(), InputError, origin, ": \"", task, "\" must be a list of examples");
  const char* fa = "sentence";
  const char* fb = nullptr;
  if (task == "qqp") fa = "question1", fb = "question2";
  else if (task == "mnli" || task == "mnli-mm") fa = "premise", fb = "hypothesis";
  else if (task == "qnli") fa = "question", fb = "sentence";
  else if (task == "rte") fa = "sentence1", fb = "sentence2";
  for (size_t i = 0; i < list.size(); ++i) {
    const auto& r = list[i];
    auto field = [&](const char* k) -> std::string {
      LMF_REQUIRE(r.is_object() && r.contains(k) && r.at(k).is_string(), InputError, origin, ": ", task, "[", i,
                  "] has no string field \"", k, "\"");
      return r.at(k).get<std::string>();
    };
    data::GlueExample e;
    e.a = field(fa);
    if (fb) e.b = field(fb);
    LMF_REQUIRE(r.contains("label") && r.at("label").is_number_integer(), InputError, origin, ": ", task, "[", i,
                "] has no integer \"label\"");
    e.label = r.at("label").get<int64_t>();
    if (r.contains("idx")) e.index = r.at("idx").dump();
    out.push_back(std::move(e));
  }
  return out;
}

AdvGlueScore score_advglue(const nlohmann::json& dev, const std::map<std::string, std::vector<int64_t>>& predictions) {
  AdvGlueScore s;
  for (const auto& [task, pred] : predictions) {
    std::vector<data::GlueExample> ex = advglue_examples(dev, task);
    LMF_REQUIRE(ex.size() == pred.size(), UserError, "AdvGLUE task ", task, ": ", pred.size(), " predictions for ",
                ex.size(), " examples");
    std::vector<int64_t> gold;
    for (const auto& e : ex) gold.push_back(e.label);
    auto& m = s.per_task[task];
    m["acc"] = 100 * accuracy(pred, gold);
    if (task == "qqp") m["f1"] = 100 * f1_positive(pred, gold);
  }
  for (const auto& [task, m] : s.per_task) {
    if (task == "mnli" || task == "mnli-mm") continue;
    double sum = 0;
    for (const auto& [k, v] : m) sum += v;
    s.task_score[task] = sum / static_cast<double>(m.size());
  }
  auto m = s.per_task.find("mnli"), mm = s.per_task.find("mnli-mm");
  if (m != s.per_task.end() && mm != s.per_task.end())
    s.task_score["mnli"] = (m->second.at("acc") + mm->second.at("acc")) / 2;
  else if (m != s.per_task.end())
    s.task_score["mnli"] = m->second.at("acc");
  double sum = 0;
  for (const auto& [t, v] : s.task_score) sum += v;
  s.overall = s.task_score.empty() ? 0 : sum / static_cast<double>(s.task_score.size());
  s.complete = s.task_score.size() == 5 && mm != s.per_task.end();
  return s;
}

std::string advglue_table(const AdvGlueScore& s) {
  std::string out = "| task | metrics | score |\n|---|---|---|\n";
  char buf[160];
  for (const std::string& t : advglue_tasks()) {
    auto it = s.per_task.find(t);
    if (it == s.per_task.end()) continue;
    std::string ms;
    for (const auto& [k, v] : it->second) {
      std::snprintf(buf, sizeof buf, "%s%s %.2f", ms.empty() ? "" : " / ", k.c_str(), v);
      ms += buf;
    }
    auto sc = s.task_score.find(t);
    std::snprintf(buf, sizeof buf, "%.2f", sc != s.task_score.end() ? sc->second : it->second.begin()->second);
    out += "| " + t + " | " + ms + " | " + (t == "mnli-mm" ? std::string("(in mnli)") : std::string(buf)) + " |\n";
  }
  std::snprintf(buf, sizeof buf, "%.2f", s.overall);
  out += std::string("\nAdvGLUE score (mean over SST-2, QQP, MNLI = mean(m, mm), QNLI, RTE): ") +
         (s.complete ? std::string(buf) : str(buf, " (only ", s.task_score.size(), " of 5 tasks scored)")) + "\n";
  return out;
}

}  // namespace lmforge::eval
