// report/html_report.h: results JSON -> HTML and CSV.
#include "lmforge/report/html_report.h"

#include <cmath>
#include <cstdio>
#include <limits>
#include <map>
#include <regex>
#include <set>
#include <sstream>

#include "lmforge/report/findings.h"
#include "lmforge/report/svg.h"

namespace lmforge::report {

using nlohmann::json;

namespace {

const double kNaN = std::numeric_limits<double>::quiet_NaN();

double num(const json& j, const char* key) {
  if (!j.is_object()) return kNaN;
  auto it = j.find(key);
  if (it == j.end() || !it->is_number()) return kNaN;
  return it->get<double>();
}

std::string text(const json& j, const char* key, const std::string& dflt = "") {
  if (!j.is_object()) return dflt;
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return dflt;
  return it->is_string() ? it->get<std::string>() : it->dump();
}

std::vector<double> nums(const json& j, const char* key) {
  std::vector<double> v;
  if (!j.is_object() || !j.contains(key) || !j[key].is_array()) return v;
  for (const auto& x : j[key]) v.push_back(x.is_number() ? x.get<double>() : kNaN);
  return v;
}

std::string fixed(double v, int digits) {
  if (!std::isfinite(v)) return "";
  char b[64];
  std::snprintf(b, sizeof(b), "%.*f", digits, v);
  return b;
}

// Every PyTorch peer's fwd+bwd time of one kernel case ("torch 1.13.1 12.30 · torch 2.15.0 9.80"),
// so the speed tables show one column per peer (bench/runner.cpp, add_kernel_peers).
std::string every_peer_fb(const json& x) {
  std::string s;
  for (const auto& p : x.value("peers", json::array()))
    s += (s.empty() ? "" : " · ") + text(p, "torch") + " " + fixed(num(p, "ms_fb"), 2);
  return s;
}

// A table cell whose sort key is the number (or the text) and whose display is `shown`.
std::string cell(double v, const std::string& shown) {
  std::ostringstream os;
  os << "<td class=\"num\" data-v=\"" << (std::isfinite(v) ? fixed(v, 6) : "") << "\">" << html_escape(shown) << "</td>";
  return os.str();
}
std::string tcell(const std::string& s, const std::string& cls = "") {
  return "<td" + (cls.empty() ? "" : " class=\"" + cls + "\"") + " data-v=\"" + html_escape(s) + "\">" + html_escape(s) + "</td>";
}

std::string anchor(const std::string& suite, const std::string& name) {
  std::string a = "run-" + suite + "-" + name;
  for (char& c : a)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') c = '_';
  return a;
}

const char* kCss = R"css(
body{font-family:-apple-system,"Segoe UI",Helvetica,Arial,sans-serif;margin:24px auto;max-width:1180px;color:#222;padding:0 12px}
h1{font-size:22px;margin-bottom:4px}h2{font-size:18px;margin-top:30px;border-bottom:1px solid #ddd;padding-bottom:4px}
h3{font-size:15px;margin:18px 0 6px}
.meta{color:#555;font-size:13px}.meta code{font-size:12px}
table.results{border-collapse:collapse;font-size:13px;margin-top:8px;width:100%}
table.results th,table.results td{border:1px solid #ddd;padding:4px 7px;text-align:left}
table.results th{background:#f4f4f4;cursor:pointer;user-select:none;white-space:nowrap}
table.results th.sorted-asc::after{content:" \25B2"}table.results th.sorted-desc::after{content:" \25BC"}
td.num{text-align:right;font-variant-numeric:tabular-nums}
tr.status-failed td{background:#fff1f0}tr.status-interrupted td,tr.status-pending td,tr.status-not_run td{background:#fffbe6}
td.err{color:#a8071a;font-size:12px;max-width:360px}
.plots{display:flex;flex-wrap:wrap;gap:16px}.plots svg{border:1px solid #eee;max-width:100%;height:auto}
pre{background:#f7f7f7;border:1px solid #e4e4e4;padding:8px;overflow-x:auto;font-size:12px;max-height:420px}
details{margin:6px 0}summary{cursor:pointer}
.badge{display:inline-block;padding:1px 6px;border-radius:3px;font-size:12px}
.badge.ok{background:#e6ffed;color:#135200}.badge.failed{background:#fff1f0;color:#a8071a}
.badge.interrupted,.badge.pending,.badge.not_run,.badge.skipped{background:#fffbe6;color:#874d00}
.note{color:#666;font-size:12px}
)css";

// Sorting by column: numbers by data-v, text otherwise; empty values last.
const char* kScript = R"js(
(function(){
  document.querySelectorAll('table.results').forEach(function(table){
    var ths = table.querySelectorAll('thead th');
    ths.forEach(function(th, col){
      th.addEventListener('click', function(){
        var asc = !th.classList.contains('sorted-asc');
        ths.forEach(function(h){ h.classList.remove('sorted-asc','sorted-desc'); });
        th.classList.add(asc ? 'sorted-asc' : 'sorted-desc');
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function(a, b){
          var x = a.cells[col].getAttribute('data-v') || '', y = b.cells[col].getAttribute('data-v') || '';
          if (x === '' && y === '') return 0; if (x === '') return 1; if (y === '') return -1;
          var nx = parseFloat(x), ny = parseFloat(y), r;
          if (!isNaN(nx) && !isNaN(ny) && String(nx) !== 'NaN' && /^-?[0-9.eE+-]+$/.test(x) && /^-?[0-9.eE+-]+$/.test(y)) r = nx - ny;
          else r = x.localeCompare(y);
          return asc ? r : -r;
        });
        rows.forEach(function(r){ body.appendChild(r); });
      });
    });
  });
  // Render self-check (read by the headless-browser test; harmless otherwise): plots whose marks
  // have a non-empty box, legend entries laid out, table rows.
  var plots = document.querySelectorAll('svg.plot'), drawn = 0, legend = 0;
  plots.forEach(function(s){
    var ok = false;
    s.querySelectorAll('g.series path, g.series circle').forEach(function(m){
      var b = m.getBBox(); if (b.width > 0 || b.height > 0) ok = true; });
    if (ok) drawn++;
  });
  document.querySelectorAll('g.legend-entry').forEach(function(g){ if (g.getBBox().width > 0) legend++; });
  var rows = document.querySelectorAll('#results tbody tr').length;
  document.body.setAttribute('data-render-check',
    JSON.stringify({plots: plots.length, drawn: drawn, legend: legend, rows: rows}));
})();
)js";

std::string status_class(const std::string& s) {
  std::string c = s;
  for (char& ch : c)
    if (ch == ' ') ch = '_';
  return c;
}

std::string quality_label(const std::string& metric) {
  if (metric == "accuracy") return "MQAR accuracy";
  if (metric == "word_ppl") return "word perplexity";
  if (metric == "valid_ppl") return "valid perplexity (tokens)";
  if (metric == "glue_mean") return "GLUE dev score (mean over tasks run)";
  return metric.empty() ? "quality" : metric;
}

// The GLUE part's per-task dev scores: task name -> (model -> score), for the runs that have one.
// Columns are the tasks in the order first met.
struct GlueGrid {
  std::vector<std::string> tasks;
  std::vector<std::pair<std::string, std::map<std::string, std::string>>> rows;  // "suite/model" -> task -> text
};

GlueGrid glue_grid(const json& runs) {
  GlueGrid g;
  for (const auto& run : runs) {
    const json m = run.value("metrics", json::object());
    if (!m.contains("glue")) continue;
    const json dev = m["glue"].value("dev", json::object());
    std::map<std::string, std::string> row;
    for (const auto& [task, metrics] : dev.items()) {
      if (std::find(g.tasks.begin(), g.tasks.end(), task) == g.tasks.end()) g.tasks.push_back(task);
      std::string cellv;
      for (const auto& [k, v] : metrics.items()) cellv += (cellv.empty() ? "" : " / ") + k + " " + fixed(v.get<double>(), 2);
      row[task] = cellv;
    }
    const double mean = num(m["glue"], "mean_over_present");
    if (std::isfinite(mean)) row["mean"] = fixed(mean, 2);
    g.rows.emplace_back(text(run, "suite") + "/" + text(run, "name"), row);
  }
  if (!g.rows.empty()) g.tasks.push_back("mean");
  return g;
}

}  // namespace

int64_t seq_len_of_shape(const std::string& shape) {
  static const std::regex re("(^|_)L([0-9]+)(_|$)");
  std::smatch m;
  if (std::regex_search(shape, m, re)) return std::stoll(m[2].str());
  return 0;
}

std::string shape_without_seq_len(const std::string& shape) {
  static const std::regex re("(^|_)L[0-9]+(_|$)");
  std::string s = std::regex_replace(shape, re, "$1", std::regex_constants::format_first_only);
  if (!s.empty() && s.back() == '_') s.pop_back();
  return s;
}

std::string render_csv(const json& r) {
  std::ostringstream os;
  auto q = [](std::string s) {
    bool need = s.find_first_of(",\"\n\r") != std::string::npos;
    std::string o;
    for (char c : s) {
      if (c == '"') o += "\"\"";
      else o += c;
    }
    return need ? "\"" + o + "\"" : o;
  };
  auto n = [](double v) {
    if (!std::isfinite(v)) return std::string();
    char b[64];
    std::snprintf(b, sizeof(b), "%.6g", v);
    return std::string(b);
  };
  os << "suite,model,status,quality_metric,quality,accuracy,word_ppl,valid_loss,parameters,train_flops_per_token,"
        "train_tokens_per_s,infer_tokens_per_s,peak_rss_mb,steps,planned_steps,tokens,train_seconds,error\n";
  for (const auto& run : r.value("runs", json::array())) {
    const json m = run.value("metrics", json::object());
    os << q(text(run, "suite")) << "," << q(text(run, "name")) << "," << q(text(run, "status")) << ","
       << q(text(m, "quality_metric")) << "," << n(num(m, "quality")) << "," << n(num(m, "accuracy")) << ","
       << n(num(m, "word_ppl")) << "," << n(num(m, "valid_loss")) << "," << n(num(m, "parameters")) << ","
       << n(num(m, "train_flops_per_token")) << "," << n(num(m, "train_tokens_per_s")) << ","
       << n(num(m, "infer_tokens_per_s")) << "," << n(num(m, "peak_rss_mb")) << "," << n(num(m, "steps")) << ","
       << n(num(m, "planned_steps")) << "," << n(num(m, "tokens")) << "," << n(num(m, "train_seconds")) << ","
       << q(text(run, "error")) << "\n";
  }
  return os.str();
}

std::string render_markdown(const json& r) {
  std::ostringstream os;
  const json host = r.value("host", json::object());
  os << "Command: `" << text(r, "command") << "` (" << text(r, "status") << ", " << text(r, "updated") << ")\n\n"
     << "Machine: " << text(host, "cpu") << ", " << text(host, "threads") << " threads; lmforge " << text(host, "version")
     << ", LibTorch " << text(host, "torch") << "\n\n";
  if (!r.value("runs", json::array()).empty())
    os << "| suite | model | status | quality | params | train GFLOP/token | train tok/s | infer tok/s | peak MB | steps | note |\n"
       << "|---|---|---|---|---:|---:|---:|---:|---:|---:|---|\n";
  for (const auto& run : r.value("runs", json::array())) {
    const json m = run.value("metrics", json::object());
    const std::string metric = text(m, "quality_metric");
    const double q = num(m, "quality");
    std::string qs = std::isfinite(q) ? (metric == "accuracy" ? fixed(100 * q, 1) + "% acc" : fixed(q, 2) + " " + metric) : "";
    std::string steps = fixed(num(m, "steps"), 0);
    if (std::isfinite(num(m, "planned_steps")) && num(m, "planned_steps") != num(m, "steps"))
      steps += "/" + fixed(num(m, "planned_steps"), 0);
    std::string note = text(run, "error");
    if (!text(run, "note").empty()) note += (note.empty() ? "" : "; ") + text(run, "note");
    for (char& c : note)
      if (c == '|' || c == '\n') c = ' ';
    os << "| " << text(run, "suite") << " | " << text(run, "name") << " | " << text(run, "status") << " | " << qs << " | "
       << (std::isfinite(num(m, "parameters")) ? short_number(num(m, "parameters")) : "") << " | "
       << fixed(num(m, "train_flops_per_token") / 1e9, 4) << " | " << fixed(num(m, "train_tokens_per_s"), 0) << " | "
       << fixed(num(m, "infer_tokens_per_s"), 0) << " | " << fixed(num(m, "peak_rss_mb"), 0) << " | " << steps << " | "
       << note << " |\n";
  }
  const GlueGrid g = glue_grid(r.value("runs", json::array()));
  if (!g.rows.empty()) {
    os << "\nGLUE dev scores (x100; mean = mean of the task scores run, MNLI = mean of m and mm)\n\n| model |";
    for (const auto& t : g.tasks) os << " " << t << " |";
    os << "\n|---|";
    for (size_t i = 0; i < g.tasks.size(); ++i) os << "---|";
    os << "\n";
    for (const auto& [name, row] : g.rows) {
      os << "| " << name << " |";
      for (const auto& t : g.tasks) os << " " << (row.count(t) ? row.at(t) : "") << " |";
      os << "\n";
    }
  }
  for (const auto& k : r.value("kernels", json::array())) {
    const json res = k.value("results", json::array());
    if (res.empty()) continue;
    os << "\nKernels (" << text(k, "suite") << "): `" << text(k, "command") << "`";
    if (!text(k, "peer_command").empty()) os << "; peer: `" << text(k, "peer_command") << "` " << text(k, "peer_error");
    os << "\n\nPeer columns: the faster PyTorch peer at fwd+bwd; the last column has every peer's fwd+bwd ms.\n\n"
          "| op | shape | dtype | fwd ms | peer fwd ms | vs peer | fwd+bwd ms | peer fwd+bwd ms | vs peer | MB | peer MB | "
          "vs ATen ref (fwd+bwd) | every peer fwd+bwd ms |\n|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|\n";
    auto ratio = [](double v) { return std::isfinite(v) ? fixed(v, 2) + "x" : std::string(); };
    for (const auto& x : res)
      os << "| " << text(x, "op") << " | " << text(x, "shape") << " | " << text(x, "dtype") << " | " << fixed(num(x, "ms"), 2)
         << " | " << fixed(num(x, "peer_ms"), 2) << " | " << ratio(num(x, "speedup_peer")) << " | " << fixed(num(x, "ms_fb"), 2)
         << " | " << fixed(num(x, "peer_ms_fb"), 2) << " | " << ratio(num(x, "speedup_peer_fb")) << " | "
         << fixed(num(x, "peak_mb"), 0) << " | " << fixed(num(x, "peer_peak_mb"), 0) << " | " << ratio(num(x, "speedup_fb"))
         << " | " << every_peer_fb(x) << " |\n";
  }
  for (const auto& s : r.value("suites", json::array()))
    if (text(s, "status") == "skipped") os << "\nSuite " << text(s, "name") << " skipped: " << text(s, "reason") << "\n";
  const std::string f = findings_markdown(r.value("suites", json::array()), r.value("runs", json::array()));
  if (!f.empty()) os << "\n" << f;
  return os.str();
}

namespace {

// --- render_html, section by section -------------------------------------------------------------

// The document's head (title, style) and the page title.
void html_head(std::ostringstream& os, const std::string& title) {
  os << "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
     << "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
     << "<title>" << html_escape(title) << "</title>\n<style>" << kCss << "</style>\n</head>\n<body>\n";
  os << "<h1>" << html_escape(title) << "</h1>\n";
}

// The bench's status (still running, interrupted, complete), when, on what, with which command.
void html_status(std::ostringstream& os, const json& r) {
  const std::string status = text(r, "status", "complete");
  const json host = r.value("host", json::object());
  os << "<p class=\"meta\">status: <span class=\"badge " << status_class(status == "complete" ? "ok" : status) << "\">"
     << html_escape(status) << "</span>";
  if (status == "interrupted") os << " (stopped by the user: the runs below are what finished)";
  if (status == "running") os << " (written after each run; the suite is still running)";
  os << " &middot; started " << html_escape(text(r, "started")) << " &middot; updated " << html_escape(text(r, "updated"))
     << "<br>lmforge " << html_escape(text(host, "version")) << " (LibTorch " << html_escape(text(host, "torch")) << ") on "
     << html_escape(text(host, "cpu")) << ", " << html_escape(text(host, "threads")) << " threads"
     << "<br>command: <code>" << html_escape(text(r, "command")) << "</code></p>\n";
}

// The suites, their budgets and why any were skipped.
void html_suites(std::ostringstream& os, const json& suites) {
  if (suites.empty()) return;
  os << "<h2>Suites</h2>\n<ul class=\"suites\">\n";
  for (const auto& s : suites) {
    os << "<li><b>" << html_escape(text(s, "name")) << "</b>: " << html_escape(text(s, "description"));
    const std::string st = text(s, "status");
    if (st == "skipped") os << " <span class=\"badge skipped\">skipped</span> " << html_escape(text(s, "reason"));
    const std::string b = text(s, "budget");
    if (!b.empty()) os << " <span class=\"note\">budget per model: " << html_escape(b) << "</span>";
    os << "</li>\n";
  }
  os << "</ul>\n";
}

// One row of the results table: a run's status, quality, cost and speed, error or note.
void html_result_row(std::ostringstream& os, const json& run) {
  const json m = run.value("metrics", json::object());
  const std::string st = text(run, "status");
  const std::string name = text(run, "name"), suite = text(run, "suite");
  const double steps = num(m, "steps"), planned = num(m, "planned_steps");
  std::string steps_shown = std::isfinite(steps) ? fixed(steps, 0) : "";
  if (std::isfinite(planned) && (!std::isfinite(steps) || steps != planned)) steps_shown += "/" + fixed(planned, 0);
  const double qv = num(m, "quality");
  const std::string metric = text(m, "quality_metric");
  os << "<tr class=\"status-" << status_class(st) << "\" data-model=\"" << html_escape(name) << "\">" << tcell(suite)
     << "<td data-v=\"" << html_escape(name) << "\"><a href=\"#" << anchor(suite, name) << "\">" << html_escape(name)
     << "</a></td>" << "<td data-v=\"" << html_escape(st) << "\"><span class=\"badge " << status_class(st) << "\">"
     << html_escape(st) << "</span></td>" << tcell(metric)
     << cell(qv, std::isfinite(qv) ? (metric == "accuracy" ? fixed(100 * qv, 1) + "%" : fixed(qv, 2)) : "")
     << cell(num(m, "parameters"), short_number(num(m, "parameters")))
     << cell(num(m, "train_flops_per_token") / 1e9, fixed(num(m, "train_flops_per_token") / 1e9, 4))
     << cell(num(m, "train_tokens_per_s"), fixed(num(m, "train_tokens_per_s"), 0))
     << cell(num(m, "infer_tokens_per_s"), fixed(num(m, "infer_tokens_per_s"), 0))
     << cell(num(m, "peak_rss_mb"), fixed(num(m, "peak_rss_mb"), 0)) << cell(steps, steps_shown)
     << cell(num(m, "train_seconds"), fixed(num(m, "train_seconds"), 1));
  std::string err = text(run, "error");
  const std::string note = text(run, "note");
  os << "<td class=\"err\" data-v=\"" << html_escape(err + note) << "\">" << html_escape(err);
  if (!note.empty()) os << (err.empty() ? "" : "<br>") << "<span class=\"note\">" << html_escape(note) << "</span>";
  os << "</td></tr>\n";
}

// The sortable results table, one row per run, with what its columns mean.
void html_results(std::ostringstream& os, const json& runs) {
  os << "<h2>Results</h2>\n";
  if (runs.empty()) {
    os << "<p>No model runs.</p>\n";
    return;
  }
  os << "<p class=\"note\">Click a column to sort. Quality is MQAR answer accuracy (higher is better), "
        "word-level perplexity on the validation prefix (lower is better) or the mean GLUE dev score (higher is better). Throughput: training tokens/s "
        "(median over logged steps) and inference tokens/s (best no-grad forward of a training batch). "
        "Peak memory: the run's process high-water mark (VmHWM / max RSS).</p>\n";
  os << "<table class=\"results\" id=\"results\">\n<thead><tr><th>suite</th><th>model</th><th>status</th>"
        "<th>quality metric</th><th>quality</th><th>params</th><th>train GFLOP/token</th><th>train tok/s</th>"
        "<th>infer tok/s</th><th>peak MB</th><th>steps</th><th>train s</th><th>error / note</th></tr></thead>\n<tbody>\n";
  for (const auto& run : runs) html_result_row(os, run);
  os << "</tbody>\n</table>\n";
}

// The GLUE dev scores per model and task, when runs have them.
void html_glue(std::ostringstream& os, const json& runs) {
  const GlueGrid glue = glue_grid(runs);
  if (glue.rows.empty()) return;
  os << "<h2>GLUE dev scores</h2>\n<p class=\"note\">Metrics x100 as GLUE defines them (CoLA MCC, MRPC/QQP F1 and "
        "accuracy, STS-B Pearson and Spearman, accuracy otherwise); mean = mean of the task scores run.</p>\n"
        "<table class=\"results\" id=\"glue\">\n<thead><tr><th>model</th>";
  for (const auto& t : glue.tasks) os << "<th>" << html_escape(t) << "</th>";
  os << "</tr></thead>\n<tbody>\n";
  for (const auto& [name, row] : glue.rows) {
    os << "<tr>" << tcell(name);
    for (const auto& t : glue.tasks) os << tcell(row.count(t) ? row.at(t) : "");
    os << "</tr>\n";
  }
  os << "</tbody>\n</table>\n";
}

// Suite s's two plots: every run's training-loss curve, and quality against training throughput
// (the Pareto front marked). `colour`: one colour per model name, the same in every plot.
void html_suite_plots(std::ostringstream& os, const std::string& s, const json& runs,
                      const std::map<std::string, std::string>& colour) {
  std::vector<Series> loss, quality;
  std::string metric;
  bool higher = true;
  for (const auto& run : runs) {
    if (text(run, "suite") != s) continue;
    const std::string name = text(run, "name"), st = text(run, "status");
    const json m = run.value("metrics", json::object());
    const json c = run.value("curve", json::object());
    Series l{name, colour.at(name), nums(c, "step"), nums(c, "loss"), st != "ok", st == "ok" ? "" : "(" + st + ")"};
    loss.push_back(l);
    Series q{name, colour.at(name), {}, {}, false, l.note};
    const double qv = num(m, "quality"), tps = num(m, "train_tokens_per_s");
    if (std::isfinite(qv) && std::isfinite(tps) && st == "ok") q.x = {tps}, q.y = {qv};
    else if (st == "ok") q.note = "(no measurement)";
    if (metric.empty() && m.contains("quality_metric")) {
      metric = text(m, "quality_metric");
      higher = m.value("higher_is_better", true);
    }
    quality.push_back(q);
  }
  os << "<h2>Suite " << html_escape(s) << "</h2>\n<div class=\"plots\">\n";
  ChartOptions lo;
  lo.plot = "loss-" + s;
  lo.title = s + ": training loss";
  lo.x_label = "step";
  lo.y_label = "training loss";
  os << chart(loss, lo);
  ChartOptions qo;
  qo.plot = "pareto-" + s;
  qo.title = s + ": " + quality_label(metric) + " vs training throughput";
  qo.x_label = "training tokens/s";
  qo.y_label = quality_label(metric) + (higher ? " (higher is better)" : " (lower is better)");
  qo.lines = false;
  qo.pareto = true;
  qo.higher_is_better = higher;
  qo.label_points = true;
  qo.log_x = true;
  qo.log_y = metric == "word_ppl" || metric == "valid_ppl";
  os << chart(quality, qo);
  os << "</div>\n";
}

// The plots of every suite that has runs, in the order the suites first appear.
void html_plots(std::ostringstream& os, const json& runs, const std::map<std::string, std::string>& colour) {
  std::vector<std::string> suite_order;
  for (const auto& run : runs) {
    const std::string s = text(run, "suite");
    if (std::find(suite_order.begin(), suite_order.end(), s) == suite_order.end()) suite_order.push_back(s);
  }
  for (const std::string& s : suite_order) html_suite_plots(os, s, runs, colour);
}

// Speed-ups of the kernel cases `res` by sequence length, one series per op/variant/dtype/pass
// (fwd_key, fb_key: which speed-up); nothing when no case has one.
void html_speedup_chart(std::ostringstream& os, const json& res, const char* fwd_key, const char* fb_key,
                        const std::string& plot, const std::string& title, const std::string& y_label) {
  std::map<std::string, Series> by;
  std::vector<std::string> order;
  auto add = [&](const std::string& key, double L, double v) {
    if (!by.count(key)) {
      order.push_back(key);
      by[key] = Series{key, palette(order.size() - 1), {}, {}};
    }
    by[key].x.push_back(L), by[key].y.push_back(v);
  };
  for (const auto& x : res) {
    const double L = num(x, "seq_len");
    if (!(L > 0)) continue;
    const std::string base = text(x, "op") + " " + shape_without_seq_len(text(x, "shape")) + " " + text(x, "dtype");
    if (std::isfinite(num(x, fwd_key))) add(base + " fwd", L, num(x, fwd_key));
    if (std::isfinite(num(x, fb_key))) add(base + " fwd+bwd", L, num(x, fb_key));
  }
  if (order.empty()) return;
  std::vector<Series> ser;
  for (const auto& key : order) {
    Series sr = by[key];
    std::vector<size_t> idx(sr.x.size());
    for (size_t i = 0; i < idx.size(); ++i) idx[i] = i;
    std::sort(idx.begin(), idx.end(), [&](size_t a, size_t b) { return sr.x[a] < sr.x[b]; });
    Series sorted{sr.name, sr.color, {}, {}, key.find("fwd+bwd") != std::string::npos};
    for (size_t i : idx) sorted.x.push_back(sr.x[i]), sorted.y.push_back(sr.y[i]);
    ser.push_back(sorted);
  }
  ChartOptions ko;
  ko.plot = plot;
  ko.title = title;
  ko.x_label = "sequence length";
  ko.y_label = y_label;
  ko.log_x = true;
  ko.markers = true;
  ko.width = 860;
  os << "<div class=\"plots\">" << chart(ser, ko) << "</div>\n";
}

// The table of every kernel case: our times, the reference's and the peer's, the ratios, memory.
void html_kernel_table(std::ostringstream& os, const json& res) {
  os << "<table class=\"results\"><thead><tr><th>op</th><th>shape</th><th>dtype</th><th>isa</th><th>L</th>"
        "<th>fwd ms</th><th>ref fwd ms</th><th>vs ref</th><th>fwd+bwd ms</th><th>ref fwd+bwd ms</th>"
        "<th>vs ref</th><th>peer fwd ms</th><th>vs peer</th><th>peer fwd+bwd ms</th><th>vs peer</th>"
        "<th>MB</th><th>peer MB</th><th>GFLOP/s</th><th>peer</th></tr></thead><tbody>\n";
  for (const auto& x : res) {
    std::string peer = text(x, "peer");
    if (!text(x, "peer_skipped").empty()) peer = "skipped: " + text(x, "peer_skipped");
    if (!text(x, "peer_error").empty()) peer = "error: " + text(x, "peer_error");
    if (const std::string each = every_peer_fb(x); !each.empty()) peer += " (fwd+bwd ms: " + each + ")";
    os << "<tr>" << tcell(text(x, "op")) << tcell(text(x, "shape")) << tcell(text(x, "dtype")) << tcell(text(x, "isa"))
       << cell(num(x, "seq_len"), fixed(num(x, "seq_len"), 0)) << cell(num(x, "ms"), fixed(num(x, "ms"), 3))
       << cell(num(x, "ref_ms"), fixed(num(x, "ref_ms"), 3)) << cell(num(x, "speedup"), fixed(num(x, "speedup"), 2))
       << cell(num(x, "ms_fb"), fixed(num(x, "ms_fb"), 3)) << cell(num(x, "ref_ms_fb"), fixed(num(x, "ref_ms_fb"), 3))
       << cell(num(x, "speedup_fb"), fixed(num(x, "speedup_fb"), 2)) << cell(num(x, "peer_ms"), fixed(num(x, "peer_ms"), 3))
       << cell(num(x, "speedup_peer"), fixed(num(x, "speedup_peer"), 2))
       << cell(num(x, "peer_ms_fb"), fixed(num(x, "peer_ms_fb"), 3))
       << cell(num(x, "speedup_peer_fb"), fixed(num(x, "speedup_peer_fb"), 2))
       << cell(num(x, "peak_mb"), fixed(num(x, "peak_mb"), 0)) << cell(num(x, "peer_peak_mb"), fixed(num(x, "peer_peak_mb"), 0))
       << cell(num(x, "gflops"), fixed(num(x, "gflops"), 1)) << tcell(peer) << "</tr>\n";
  }
  os << "</tbody></table>\n";
}

// One suite's operator timings: status and command, the speed-up plots (against the PyTorch peer
// when it ran, and against the plain-ATen reference), the peer's command and the table.
void html_kernels(std::ostringstream& os, const json& k) {
  const std::string st = text(k, "status");
  os << "<h2>Kernels (" << html_escape(text(k, "suite")) << ")</h2>\n<p class=\"meta\">status: <span class=\"badge "
     << status_class(st) << "\">" << html_escape(st) << "</span> " << html_escape(text(k, "error"))
     << "<br>command: <code>" << html_escape(text(k, "command")) << "</code></p>\n";
  const json res = k.value("results", json::array());
  if (res.empty()) return;
  html_speedup_chart(os, res, "speedup_peer", "speedup_peer_fb", "kernels-peer-" + text(k, "suite"),
                     "fused operator speed-up over its PyTorch peer", "speed-up (peer ms / fused ms)");
  html_speedup_chart(os, res, "speedup", "speedup_fb", "kernels-" + text(k, "suite"),
                     "fused operator speed-up over the plain-ATen reference", "speed-up (reference ms / fused ms)");
  if (!text(k, "peer_command").empty())
    os << "<p class=\"meta\">peer: <code>" << html_escape(text(k, "peer_command")) << "</code> "
       << html_escape(text(k, "peer_error")) << "</p>\n";
  html_kernel_table(os, res);
}

// Every run's details (the table's links point here): command, error, end of output, config.
void html_run_details(std::ostringstream& os, const json& runs) {
  if (runs.empty()) return;
  os << "<h2>Runs: commands and configs</h2>\n<p class=\"note\">Each model can be re-run alone with its command; "
        "the config is the resolved one the trainer stored (every default filled in).</p>\n";
  for (const auto& run : runs) {
    const std::string name = text(run, "name"), suite = text(run, "suite"), st = text(run, "status");
    os << "<details class=\"run\" id=\"" << anchor(suite, name) << "\"><summary>" << html_escape(suite) << " / "
       << html_escape(name) << " <span class=\"badge " << status_class(st) << "\">" << html_escape(st) << "</span>";
    if (!text(run, "run_dir").empty()) os << " <span class=\"note\">" << html_escape(text(run, "run_dir")) << "</span>";
    os << "</summary>\n<h3>command</h3><pre class=\"command\">" << html_escape(text(run, "command")) << "</pre>\n";
    if (!text(run, "error").empty())
      os << "<h3>error</h3><pre class=\"error\">" << html_escape(text(run, "error")) << "</pre>\n";
    if (!text(run, "output_tail").empty())
      os << "<h3>output (last lines)</h3><pre>" << html_escape(text(run, "output_tail")) << "</pre>\n";
    os << "<h3>config</h3><pre class=\"config\">" << html_escape(text(run, "config")) << "</pre>\n</details>\n";
  }
}

// The suite files as given, for the suites that have their text.
void html_suite_files(std::ostringstream& os, const json& suites) {
  for (const auto& s : suites) {
    if (text(s, "text").empty()) continue;
    os << "<details><summary>suite file: " << html_escape(text(s, "name")) << "</summary><pre>" << html_escape(text(s, "text"))
       << "</pre></details>\n";
  }
}

}  // namespace

std::string render_html(const json& r) {
  const json runs = r.value("runs", json::array());
  const json suites = r.value("suites", json::array());
  const std::string title = text(r, "title", "lmforge benchmark report");
  // One colour per model name, the same in every plot.
  std::map<std::string, std::string> colour;
  for (const auto& run : runs) {
    const std::string n = text(run, "name");
    if (!colour.count(n)) colour[n] = palette(colour.size());
  }
  std::ostringstream os;
  html_head(os, title);
  html_status(os, r);
  html_suites(os, suites);
  html_results(os, runs);
  os << findings_html(suites, runs);
  html_glue(os, runs);
  html_plots(os, runs, colour);
  for (const auto& k : r.value("kernels", json::array())) html_kernels(os, k);
  html_run_details(os, runs);
  html_suite_files(os, suites);
  os << "<script>" << kScript << "</script>\n</body>\n</html>\n";
  return os.str();
}

}  // namespace lmforge::report
