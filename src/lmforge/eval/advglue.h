// AdvGLUE (Wang et al., NeurIPS'21 Datasets & Benchmarks) scoring with the official aggregation of
// AI-secure/adversarial-glue evaluate.py: per task the HF `glue` metric (accuracy; QQP accuracy and
// F1 of class 1), task score = mean of its metrics, MNLI = mean(mnli, mnli-mm), overall = mean over
// the five tasks SST-2, QQP, MNLI, QNLI, RTE. Scores ×100.
// dev.json: {"sst2": [{idx, label, sentence}], "qqp": [{question1, question2}], "mnli"/"mnli-mm":
// [{premise, hypothesis}], "qnli": [{question, sentence}], "rte": [{sentence1, sentence2}]}; labels in
// the HF GLUE ids (MNLI 0 entailment, 1 neutral, 2 contradiction).
#pragma once
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "lmforge/data/glue.h"

namespace lmforge::eval {

// Parses the text of dev.json (or of a predictions file); malformed JSON is an InputError naming
// `origin` ("file dev.json"). Callers check the shape (an object of task -> list).
nlohmann::json parse_advglue_json(std::string_view text, const std::string& origin);

// The AdvGLUE task names in dev.json order, and the GLUE task whose model scores each.
const std::vector<std::string>& advglue_tasks();
std::string advglue_glue_task(const std::string& adv_task);  // sst2 -> SST-2, mnli-mm -> MNLI, ...

// Examples of one task of a parsed dev.json (text fields mapped to a/b); throws InputError naming
// the task and record when a field is missing.
std::vector<data::GlueExample> advglue_examples(const nlohmann::json& dev, const std::string& task,
                                                const std::string& origin = "dev.json");

struct AdvGlueScore {
  std::map<std::string, std::map<std::string, double>> per_task;  // sst2 -> {acc}, qqp -> {acc, f1}
  std::map<std::string, double> task_score;  // sst2, qqp, mnli (= mean of m, mm), qnli, rte
  double overall = 0;
  bool complete = false;  // all five tasks scored
};

// predictions: task -> labels in dev.json order (tasks absent are not scored).
AdvGlueScore score_advglue(const nlohmann::json& dev, const std::map<std::string, std::vector<int64_t>>& predictions);
std::string advglue_table(const AdvGlueScore& s);

}  // namespace lmforge::eval
