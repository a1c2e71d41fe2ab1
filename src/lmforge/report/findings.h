// "What the results show": the report's reading of each suite, computed from its runs so that it
// says what the numbers say and nothing else. Per suite: what the task tests (the suite's
// [report] lesson), the best and worst model on its quality metric and how far apart they are, which
// models reached the suite's bar ([report] bar, e.g. 0.9 answer accuracy for MQAR) and which stayed
// below half of it, and a warning when time caps stopped models before their planned steps (their
// numbers then understate them). Suites without finished quality numbers say so.
#pragma once
#include <string>

#include <nlohmann/json.hpp>

namespace lmforge::report {

// Paragraphs per suite, as HTML (escaped) and as Markdown.
std::string findings_html(const nlohmann::json& suites, const nlohmann::json& runs);
std::string findings_markdown(const nlohmann::json& suites, const nlohmann::json& runs);

}  // namespace lmforge::report
