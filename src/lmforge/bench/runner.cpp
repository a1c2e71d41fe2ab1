// bench/runner.h: plan the matrix, run each model in a child process, record, report.
#include "lmforge/bench/runner.h"

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>

#include "lmforge/bench/model_run.h"
#include "lmforge/bench/suite.h"
#include "lmforge/core/config.h"
#include "lmforge/core/file_io.h"
#include "lmforge/core/progress.h"
#include "lmforge/core/signals.h"
#include "lmforge/core/subprocess.h"
#include "lmforge/core/threads.h"
#include "lmforge/core/version.h"
#include "lmforge/data/glue.h"
#include "lmforge/nn/components.h"
#include "lmforge/report/html_report.h"
#include "lmforge/train/checkpoint.h"
#include "lmforge/train/run_config.h"

namespace lmforge {

namespace fs = std::filesystem;
using nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

// --- signals: the first stops gracefully (forwarded to the child's process group), the second
// kills the child and exits. Only async-signal-safe calls in the handler.
volatile sig_atomic_t g_child_pgid = 0;
volatile sig_atomic_t g_signals = 0;

void on_bench_signal(int sig) {
  g_signals = g_signals + 1;
  if (g_signals == 1) {
    request_stop();
    if (g_child_pgid > 0) kill(-g_child_pgid, SIGINT);
    const char msg[] = "\nlmforge bench: stop requested: finishing the current model, then writing the report "
                       "(signal again to abort)\n";
    ssize_t ignored = write(2, msg, sizeof(msg) - 1);
    (void)ignored;
  } else {
    if (g_child_pgid > 0) kill(-g_child_pgid, SIGKILL);
    _exit(128 + sig);
  }
}

class SignalScope {
 public:
  SignalScope() {
    struct sigaction sa {};
    sa.sa_handler = on_bench_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, &old_int_);
    sigaction(SIGTERM, &sa, &old_term_);
    g_signals = 0;
  }
  ~SignalScope() {
    sigaction(SIGINT, &old_int_, nullptr);
    sigaction(SIGTERM, &old_term_, nullptr);
    g_child_pgid = 0;
  }

 private:
  struct sigaction old_int_ {}, old_term_ {};
};

std::string now_iso() {
  std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

std::string stamp() {
  std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof(buf), "%Y%m%d-%H%M%S", std::localtime(&t));
  return buf;
}

std::string shell_quote(const std::string& s) {
  if (!s.empty() && s.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.,/:=+@%") ==
                        std::string::npos)
    return s;
  std::string o = "'";
  for (char c : s) o += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return o + "'";
}

std::string safe_name(const std::string& s) {
  std::string o = s;
  for (char& c : o)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') c = '_';
  return o.empty() ? "_" : o;
}

// A child's output file, or "" when the child never wrote it.
std::string read_or_empty(const std::string& p) { return read_file_if_exists(p).value_or(""); }

std::string tail_lines(const std::string& text, size_t max_lines, size_t max_bytes = 3000) {
  std::string t = text.size() > max_bytes ? text.substr(text.size() - max_bytes) : text;
  size_t n = 0, pos = t.size();
  while (pos > 0) {
    size_t nl = t.rfind('\n', pos - 1);
    if (nl == std::string::npos) break;
    if (nl + 1 < t.size() && ++n > max_lines) return t.substr(nl + 1);
    pos = nl;
  }
  return t;
}

// The child's own error message: the last "lmforge: error: ..." or "internal error" line.
std::string error_from_output(const std::string& out) {
  std::istringstream is(out);
  std::string line, found;
  while (std::getline(is, line)) {
    for (const char* p : {"lmforge: error: ", "lmforge: internal error (please report): "})
      if (line.rfind(p, 0) == 0) found = line.substr(std::strlen(p));
    if (line.find("terminate called") != std::string::npos) found = line;
  }
  return found;
}

// Runs a child of the bench (stdout -> out_path, stderr -> err_path, the same file when equal,
// stdin /dev/null) in its own process group, which the signal handler stops with the bench. An
// output file that cannot be opened counts as a child that could not start.
ProcessResult run_child(const std::vector<std::string>& argv, const std::string& out_path, const std::string& err_path,
                        double timeout_s, const std::function<void()>& tick) {
  ProcessOptions po;
  po.out_path = out_path;
  po.err_path = err_path;
  po.null_stdin = true;
  po.own_group = true;
  po.timeout_s = timeout_s;
  po.tick = tick;
  po.on_start = [](pid_t pid) { g_child_pgid = pid; };
  ProcessResult r;
  try {
    r = run_process(argv, po);
  } catch (const InputError&) {
  }
  g_child_pgid = 0;
  return r;
}

// The last "step" in a log.jsonl, for the progress bar.
int64_t last_logged_step(const std::string& path) {
  std::ifstream f(path);
  std::string line, last;
  while (std::getline(f, line))
    if (!line.empty()) last = line;
  if (last.empty()) return 0;
  try {
    return json::parse(last).value("step", int64_t{0});
  } catch (...) {
    return 0;
  }
}

struct PlannedRun {
  std::string suite, name, run_dir;
  std::vector<std::string> configs, set;
  std::string plan_error;  // the config could not be resolved
  std::string task = "mqar";
  bool has_valid = false;
  int64_t planned_steps = 0;
  double max_minutes = 0;
  double suite_minutes = 0;  // the suite's shared cap (0: none)
  int64_t text_lines = 0;
  double infer_seconds = 0.5;
  std::string glue_file;  // the GLUE part's options file (bench-one --glue), "" when none
  BenchGlueOptions glue;
};

std::string train_command(const PlannedRun& p) {
  std::string c = "lmforge train";
  for (const auto& x : p.configs) c += " -c " + shell_quote(x);
  for (const auto& s : p.set) c += " --set " + shell_quote(s);
  c += " --out " + shell_quote(p.run_dir);
  // The GLUE part, as the equivalent standalone commands (bench-one runs them in-process).
  for (const auto& t : p.glue.tasks)
    c += str(" && lmforge glue --task ", t.name, " --checkpoint ", shell_quote(p.run_dir), " --data ", shell_quote(p.glue.data_dir),
             " --epochs ", t.finetune.options.epochs, " --batch-size ", t.finetune.options.batch_size, " --lr ", t.finetune.options.lr,
             t.finetune.options.max_train ? str(" --max-train ", t.finetune.options.max_train) : std::string(),
             t.finetune.options.max_eval ? str(" --max-eval ", t.finetune.options.max_eval) : std::string(), " --max-len ", t.finetune.options.max_len);
  return c;
}

std::string describe_budget(const SuiteBudget& b) {
  std::vector<std::string> parts;
  if (b.steps) parts.push_back(str(b.steps, " steps"));
  if (b.tokens) parts.push_back(str(b.tokens, " tokens"));
  if (b.minutes > 0) parts.push_back(str(b.minutes, " min"));
  if (b.max_minutes > 0) parts.push_back(str("cap ", b.max_minutes, " min"));
  if (b.suite_minutes > 0) parts.push_back(str("suite cap ", b.suite_minutes, " min shared"));
  std::string s;
  for (const auto& p : parts) s += (s.empty() ? "" : ", ") + p;
  return s;
}

// Suites in run order: each suite's includes first (depth first), each once.
void expand(const std::string& name, std::vector<Suite>& out, std::set<std::string>& seen, int depth) {
  LMF_REQUIRE(depth < 8, UserError, "suite '", name, "': includes nest too deep (a cycle?)");
  Suite s = load_suite(name);
  if (!seen.insert(s.name).second) return;
  for (const auto& inc : s.include) expand(inc, out, seen, depth + 1);
  out.push_back(s);
}

// Why a suite cannot run here ("" = it can); `subcommands`: those the lmforge binary offers.
std::string missing_pieces(const Suite& s, const std::string& data_dir, const std::vector<std::string>& subcommands) {
  std::vector<std::string> miss;
  const std::set<std::string> have(subcommands.begin(), subcommands.end());
  for (const auto& sc : s.requires_.subcommands)
    if (!have.count(sc)) miss.push_back(str("the `lmforge ", sc, "` subcommand is not built yet"));
  DataConfig d;
  d.dir = data_dir;
  for (const auto& p : s.requires_.data) {
    const std::string r = resolve_data_path(d, p);
    if (!fs::exists(r))
      miss.push_back(str("data file '", p, "' not found (give --data DIR, or put it in ../shared/data)"));
  }
  std::string m;
  for (const auto& x : miss) m += (m.empty() ? "" : "; ") + x;
  return m;
}

// The GLUE suite's pretraining text: the [glue] corpus files, then (corpus_glue_train) the
// training texts of the tasks present, one text per line. Dev and test text never enter it.
// Built once per suite into its run folder; returns the path and the line count.
std::pair<std::string, int64_t> build_glue_corpus(const SuiteGlue& g, const DataConfig& d, const std::string& glue_dir,
                                                  const std::string& out_path) {
  fs::create_directories(fs::path(out_path).parent_path());
  AtomicFile o(out_path);
  int64_t lines = 0;
  auto put = [&](const std::string& line) {
    o.write(line);
    o.write("\n", 1);
    ++lines;
  };
  for (const auto& c : g.corpus) {
    const std::string path = resolve_data_path(d, c);
    std::ifstream in(path, std::ios::binary);
    LMF_REQUIRE(in, InputError, "suite [glue] corpus file '", path, "' cannot be read");
    std::string line;
    while (std::getline(in, line)) put(line);
  }
  if (g.corpus_glue_train) {
    for (const auto& name : g.tasks) {
      const data::GlueTask& t = data::glue_task(name);
      const fs::path train = fs::path(glue_dir) / t.dir / "train.tsv";
      if (!fs::exists(train)) continue;
      for (const auto& e : data::read_glue_file(t, train.string(), data::GlueSplit::kLabeled)) {
        put(e.a);
        if (!e.b.empty()) put(e.b);
      }
    }
  }
  o.commit();
  return {out_path, lines};
}

BenchGlueOptions glue_options(const SuiteGlue& g, const std::string& glue_dir) {
  BenchGlueOptions o;
  o.data_dir = glue_dir;
  for (const auto& name : g.tasks) {
    auto it = g.per_task.find(name);
    const SuiteGlueFinetune& f = it == g.per_task.end() ? g.finetune : it->second;
    BenchGlueTask t;
    t.name = data::glue_task(name).name;
    t.finetune = f;
    o.tasks.push_back(t);
  }
  return o;
}

double num_or_nan(const json& j, const char* k) {
  auto it = j.find(k);
  return it != j.end() && it->is_number() ? it->get<double>() : std::nan("");
}

// The interpreters whose torch is a peer, one column each: Debian's python3-torch (the same ATen and
// BLAS as the LibTorch we link) and PyTorch 2.x in the peers environment (scripts/setup-peers.sh)
// where it exists. LMFORGE_PEER_PYTHONS (space-separated) or LMFORGE_PYTHON (one) replace the list.
std::vector<std::string> peer_pythons() {
  std::vector<std::string> out;
  const char* many = std::getenv("LMFORGE_PEER_PYTHONS");
  const char* one = std::getenv("LMFORGE_PYTHON");
  if (many && *many) {
    std::istringstream is(many);
    for (std::string p; is >> p;) out.push_back(p);
  } else if (one && *one) {
    out.push_back(one);
  } else {
    out.push_back("/usr/bin/python3");
    if (const std::string venv = peers_env_python(); !venv.empty()) out.push_back(venv);
  }
  return out;
}

// Times every case's PyTorch peers (bench/peers/kernels_peer.py under each of peer_pythons()).
// Each case gets `peers` (every peer's ms, fwd+bwd ms, peak MB) and, from the faster peer at
// fwd+bwd, peer_ms, peer_ms_fb, peer_peak_mb and the ratios: a target holds against the faster of
// the two. When no peer can run the kernels keep their reference timings and k["peer_error"] says
// why. Returns the commands, for the report.
std::string add_kernel_peers(json& results, const fs::path& dir, double seconds, int threads, json& k) {
  const char* env_dir = std::getenv("LMFORGE_PEERS_DIR");
  const fs::path script = fs::path(env_dir && *env_dir ? env_dir : built_in_peers_dir()) / "kernels_peer.py";
  const std::string cases = (dir / "ops_perf.json").string();
  std::string cmds, errors;
  if (!fs::exists(script)) {
    k["peer_error"] = str("peer script '", script.string(), "' not found (set LMFORGE_PEERS_DIR to the source tree's bench/peers)");
    return cmds;
  }
  std::map<std::string, std::vector<json>> by_case;  // every peer's record of a case
  const std::vector<std::string> pys = peer_pythons();
  for (size_t i = 0; i < pys.size(); ++i) {
    const std::string& py = pys[i];
    const std::vector<std::string> argv = {py, script.string(), "--cases", cases, "--threads", std::to_string(threads),
                                           "--seconds", str(seconds)};
    std::string cmd;
    for (const auto& a : argv) cmd += (cmd.empty() ? "" : " ") + shell_quote(a);
    cmds += (cmds.empty() ? "" : "; ") + cmd;
    if (!fs::exists(py)) {
      errors += str(errors.empty() ? "" : "; ", py, " not found");
      continue;
    }
    const std::string out = (dir / str("peers", i, ".jsonl")).string(), log = (dir / str("peers", i, ".log")).string();
    ProcessResult cr = run_child(argv, out, log, 0, nullptr);
    std::istringstream is(read_or_empty(out));
    size_t n = 0;
    for (std::string line; std::getline(is, line);) {
      try {
        json r = json::parse(line);
        by_case[r.value("op", "") + "|" + r.value("shape", "") + "|" + r.value("dtype", "")].push_back(r);
        ++n;
      } catch (...) {
      }
    }
    if (n == 0) {
      const std::string err = tail_lines(read_or_empty(log), 1, 300);
      errors += str(errors.empty() ? "" : "; ", py, ": no results (", describe_exit(cr.status), ")", err.empty() ? "" : ": " + err);
    } else if (!(WIFEXITED(cr.status) && WEXITSTATUS(cr.status) == 0)) {
      errors += str(errors.empty() ? "" : "; ", py, " ended early: ", describe_exit(cr.status));
    }
  }
  if (!errors.empty()) k["peer_error"] = errors;
  for (auto& e : results) {
    auto it = by_case.find(e.value("op", "") + "|" + e.value("shape", "") + "|" + e.value("dtype", ""));
    if (it == by_case.end()) continue;
    json all = json::array();
    const json* best = nullptr;
    for (const json& p : it->second) {
      if (p.contains("skipped")) e["peer_skipped"] = p["skipped"];
      if (p.contains("error")) e["peer_error"] = p["error"];
      if (!p.contains("peer_ms_fb")) continue;
      all.push_back({{"torch", p.value("torch", "")}, {"form", p.value("peer", "")}, {"ms", p["peer_ms"]},
                     {"ms_fb", p["peer_ms_fb"]}, {"peak_mb", p.value("peer_peak_mb", 0.0)}});
      if (!best || num_or_nan(p, "peer_ms_fb") < num_or_nan(*best, "peer_ms_fb")) best = &p;
    }
    if (!best) continue;
    e["peers"] = all;
    e["peer"] = best->value("torch", "") + ": " + best->value("peer", "");
    for (const char* key : {"peer_ms", "peer_ms_fb", "peer_peak_mb"})
      if (best->contains(key)) e[key] = (*best)[key];
    const double ms = num_or_nan(e, "ms"), fb = num_or_nan(e, "ms_fb"), pm = num_or_nan(*best, "peer_ms"),
                 pfb = num_or_nan(*best, "peer_ms_fb");
    const double mb = num_or_nan(e, "peak_mb"), pmb = num_or_nan(*best, "peer_peak_mb");
    if (ms > 0 && pm > 0) e["speedup_peer"] = pm / ms;
    if (fb > 0 && pfb > 0) e["speedup_peer_fb"] = pfb / fb;
    if (mb > 0 && pmb > 0) e["memory_ratio_peer"] = pmb / mb;
  }
  return cmds;
}

}  // namespace

json summarize_log(const std::string& log_path) {
  json s = {{"curve", {{"step", json::array()}, {"loss", json::array()}}},
            {"eval_curve", {{"step", json::array()}, {"valid_loss", json::array()}, {"accuracy", json::array()}}},
            {"last_eval", json::object()}};
  std::ifstream f(log_path);
  std::string line;
  std::vector<double> tps;
  bool first = true;
  while (std::getline(f, line)) {
    if (line.empty()) continue;
    json r;
    try {
      r = json::parse(line);
    } catch (...) {
      continue;  // a torn last line of a killed run
    }
    const std::string type = r.value("type", "");
    if (type == "train") {
      s["curve"]["step"].push_back(r.value("step", 0));
      s["curve"]["loss"].push_back(r.value("loss_avg", r.value("loss", 0.0)));
      if (!first && r.contains("tokens_per_s")) tps.push_back(r["tokens_per_s"].get<double>());
      if (first && r.contains("tokens_per_s")) s["first_tokens_per_s"] = r["tokens_per_s"];
      first = false;
      s["last_step"] = r.value("step", 0);
      s["tokens"] = r.value("tokens", 0);
    } else if (type == "eval") {
      s["eval_curve"]["step"].push_back(r.value("step", 0));
      s["eval_curve"]["valid_loss"].push_back(r.value("valid_loss", 0.0));
      if (r.contains("accuracy")) s["eval_curve"]["accuracy"].push_back(r["accuracy"]);
      s["last_eval"] = r;
    }
  }
  if (!tps.empty()) {
    std::sort(tps.begin(), tps.end());
    s["train_tokens_per_s"] = tps[tps.size() / 2];
  } else if (s.contains("first_tokens_per_s")) {
    s["train_tokens_per_s"] = s["first_tokens_per_s"];
  }
  return s;
}

void write_report_files(const json& results, const std::string& out_dir) {
  fs::create_directories(out_dir);
  write_file_atomic((fs::path(out_dir) / "results.json").string(), results.dump(2) + "\n");
  write_file_atomic((fs::path(out_dir) / "results.csv").string(), report::render_csv(results));
  write_file_atomic((fs::path(out_dir) / "report.html").string(), report::render_html(results));
  write_file_atomic((fs::path(out_dir) / "results.md").string(), report::render_markdown(results));
}

namespace {

// --- run_bench, step by step ---------------------------------------------------------------------

// What the steps of one `lmforge bench` share.
struct Bench {
  const BenchOptions& o;
  std::vector<Suite> suites;  // in run order (includes first); kernel_parts point into it
  std::string exe;            // the lmforge binary the children run
  BenchOutcome outcome;
  json results;
  std::vector<PlannedRun> plan;
  std::vector<std::pair<const Suite*, size_t>> kernel_parts;  // suite, index into results["kernels"]
  std::unique_ptr<ProgressBar> bar;
  bool tty = false;
  int64_t done_steps = 0;
  // For the suites' shared time caps: when each suite started, its children's overhead (minutes).
  std::map<std::string, Clock::time_point> suite_started;
  std::map<std::string, double> overhead_sum;
  std::map<std::string, int> overhead_n;

  // Rewrites results.json, results.csv, results.md and report.html.
  void save() {
    results["updated"] = now_iso();
    write_report_files(results, outcome.out_dir);
  }
  // One line on stderr, over the progress bar's line when there is one.
  void say(const std::string& line) const {
    std::fprintf(stderr, "%s%s\n", tty && bar ? "\r\033[K" : "", line.c_str());
    std::fflush(stderr);
  }
};

std::string run_file(const PlannedRun& p, const char* name) { return (fs::path(p.run_dir) / name).string(); }

// Expands the suite, creates the output folder (refused when it already holds a benchmark), picks
// the children's binary and starts results.json's header: what runs, where, on which machine.
void open_bench(Bench& b) {
  std::set<std::string> seen;
  expand(b.o.suite, b.suites, seen, 0);
  const std::string top_name = b.suites.back().name;
  const std::string out =
      b.o.out.empty() ? (fs::path("runs") / ("bench-" + safe_name(top_name) + "-" + stamp())).string() : b.o.out;
  LMF_REQUIRE(!fs::exists(fs::path(out) / "results.json"), UserError, "output folder '", out,
              "' already holds a benchmark (results.json); choose another --out");
  fs::create_directories(out);
  b.outcome.out_dir = fs::absolute(out).lexically_normal().string();
  b.exe = b.o.exe.empty() ? fs::read_symlink("/proc/self/exe").string() : b.o.exe;
  b.results = {{"format", "lmforge-bench-results/1"},
               {"title", "lmforge bench: " + top_name},
               {"suite", top_name},
               {"status", "running"},
               {"command", b.o.command},
               {"started", now_iso()},
               {"updated", now_iso()},
               {"out_dir", b.outcome.out_dir},
               {"host", {{"cpu", cpu_model_name()}, {"threads", available_cores()}, {"version", version()},
                         {"torch", torch_version()}}},
               {"suites", json::array()},
               {"runs", json::array()},
               {"kernels", json::array()}};
}

// Records the suite in results["suites"]; false (and a message) when it is skipped: a piece it
// needs is missing, or it has nothing of its own to run.
bool add_suite_record(Bench& b, const Suite& s, bool own_work) {
  json srec = {{"name", s.name}, {"description", s.description}, {"budget", describe_budget(s.budget)},
               {"text", s.text}, {"status", "ran"}, {"lesson", s.report.lesson}, {"bar", s.report.bar}};
  std::string why = s.unavailable.empty() ? missing_pieces(s, b.o.data_dir, b.o.subcommands) : s.unavailable;
  if (why.empty() && !own_work) why = "the suite defines no models and no kernels";
  if (!why.empty()) {
    srec["status"] = "skipped";
    srec["reason"] = why;
    b.results["suites"].push_back(srec);
    std::fprintf(stderr, "bench: suite %s skipped: %s\n", s.name.c_str(), why.c_str());
    return false;
  }
  b.results["suites"].push_back(srec);
  return true;
}

struct GlueInputs {
  std::string corpus;    // the pretraining text ("" when none, or a dry run)
  std::string glue_dir;  // the GLUE data folder
};

// The suite's GLUE part: its task names checked (before any work), the data folder, and the
// pretraining corpus built into the suite's run folder (recorded with its line count).
GlueInputs prepare_glue(Bench& b, const Suite& s) {
  GlueInputs g;
  if (!s.glue.enabled()) return g;
  DataConfig d;
  d.dir = b.o.data_dir;
  g.glue_dir = resolve_data_path(d, "glue");
  for (const auto& t : s.glue.tasks) data::glue_task(t);  // an unknown task name fails here, before any work
  if (!b.o.dry_run) {
    auto [path, lines] = build_glue_corpus(s.glue, d, g.glue_dir,
                                           (fs::path(b.outcome.out_dir) / "runs" / safe_name(s.name) / "corpus.txt").string());
    g.corpus = path;
    b.results["suites"].back()["corpus"] = {{"path", path}, {"lines", lines}};
  }
  return g;
}

// One model of a suite, planned: its configs resolved with the suite's budget (divided over
// n_models) and the user's --set, written to RUN/input.toml (and the GLUE part's options to
// RUN/glue.toml). A config error does not stop the bench: it is kept in plan_error.
PlannedRun plan_run(const Bench& b, const Suite& s, const PlannedModel& m, size_t n_models, const GlueInputs& g) {
  const BenchOptions& o = b.o;
  PlannedRun p;
  p.suite = s.name;
  p.name = m.name;
  p.run_dir = (fs::path(b.outcome.out_dir) / "runs" / safe_name(s.name) / safe_name(m.name)).string();
  p.configs = m.configs;
  p.text_lines = s.eval.text_lines;
  p.infer_seconds = s.eval.infer_seconds;
  std::vector<std::string> base = m.set;
  if (!o.data_dir.empty()) base.push_back("data.dir=\"" + o.data_dir + "\"");
  if (!g.corpus.empty()) base.push_back("data.train=\"" + g.corpus + "\"");
  try {
    std::vector<std::string> probe = base;
    probe.insert(probe.end(), o.set.begin(), o.set.end());
    const toml::table layered = load_layered(p.configs, probe);
    p.set = base;
    for (const auto& x : budget_overrides(s.budget, layered, n_models)) p.set.push_back(x);
    p.set.insert(p.set.end(), o.set.begin(), o.set.end());
    const toml::table final_cfg = load_layered(p.configs, p.set);
    RunConfig rc = parse_run_config(final_cfg);
    p.task = rc.data.task;
    p.has_valid = !rc.data.valid.empty();
    p.planned_steps = rc.train.steps;
    p.max_minutes = rc.train.max_minutes;
    p.suite_minutes = s.budget.suite_minutes;
    fs::create_directories(p.run_dir);
    write_file_atomic(run_file(p, "input.toml"), to_toml_string(final_cfg));
    if (s.glue.enabled()) {
      LMF_REQUIRE(rc.model.kind == "encoder", ConfigError, "suite '", s.name, "' has a [glue] part, which fine-tunes encoders, but model '",
                  m.name, "' has model.kind = \"", rc.model.kind, "\"");
      p.glue_file = run_file(p, "glue.toml");
      p.glue = glue_options(s.glue, g.glue_dir);
      write_file_atomic(p.glue_file, to_toml_string(to_toml(p.glue)));
    }
  } catch (const UserError& e) {
    p.set = base;
    p.plan_error = str("config: ", e.what());
  }
  return p;
}

// Every suite's models (those --models names, when given) and operator-timing parts, in run order.
// A --models name that no suite has is an error.
void plan_suites(Bench& b) {
  std::set<std::string> matched;
  for (const Suite& s : b.suites) {
    const bool own_work = s.mixers.all || !s.models.empty() || s.kernels.enabled;
    if (!own_work && !s.include.empty()) continue;  // a pure collection such as `all`
    if (!add_suite_record(b, s, own_work)) continue;
    const GlueInputs g = prepare_glue(b, s);
    std::vector<PlannedModel> models;
    for (const PlannedModel& m : plan_models(s, MixerRegistry::names()))
      if (b.o.models.empty() || std::find(b.o.models.begin(), b.o.models.end(), m.name) != b.o.models.end())
        models.push_back(m);
    for (const PlannedModel& m : models) {
      matched.insert(m.name);
      b.plan.push_back(plan_run(b, s, m, models.size(), g));
    }
    if (s.kernels.enabled) {
      b.kernel_parts.emplace_back(&s, b.results["kernels"].size());
      b.results["kernels"].push_back({{"suite", s.name}, {"status", "pending"}, {"results", json::array()}});
    }
  }
  for (const auto& want : b.o.models)
    LMF_REQUIRE(matched.count(want), UserError, "--models: no suite here has a model named '", want, "'");
}

// A planned run's record in results["runs"]: pending (or failed with its config error), the
// command that reproduces it, its input config and which metric ranks it.
json planned_record(const PlannedRun& p) {
  json m = {{"planned_steps", p.planned_steps}};
  if (!p.glue_file.empty()) m["quality_metric"] = "glue_mean", m["higher_is_better"] = true;
  else if (p.task == "mqar") m["quality_metric"] = "accuracy", m["higher_is_better"] = true;
  else m["quality_metric"] = p.has_valid ? "word_ppl" : "valid_ppl", m["higher_is_better"] = false;
  return {{"suite", p.suite}, {"name", p.name}, {"status", p.plan_error.empty() ? "pending" : "failed"},
          {"error", p.plan_error}, {"command", train_command(p)}, {"run_dir", p.run_dir}, {"task", p.task},
          {"config", p.plan_error.empty() ? read_or_empty(run_file(p, "input.toml")) : ""},
          {"metrics", m}};
}

// The progress bar over every model's planned steps (none for dry runs and --no-progress).
void start_progress(Bench& b) {
  int64_t total_steps = 0;
  for (const auto& p : b.plan) total_steps += p.planned_steps;
  b.tty = ::isatty(2) != 0;
  if (b.o.progress && !b.o.dry_run) b.bar = std::make_unique<ProgressBar>("bench", std::max<int64_t>(1, total_steps));
}

// The time cap of model i, in minutes (0: none). With a suite-wide cap it is re-divided before each
// model: what is left of the suite's time over the models left, less the measured per-model
// overhead (start-up, evaluation, timing), so a busy machine still ends the matrix in about
// suite_minutes. Only ever lowers the planned cap; a lowered cap is written into input.toml and
// noted in the record.
double suite_time_cap(Bench& b, size_t i, json& rec) {
  const PlannedRun& p = b.plan[i];
  double cap = p.max_minutes;
  if (p.suite_minutes <= 0) return cap;
  if (b.suite_started.count(p.suite) == 0) b.suite_started[p.suite] = Clock::now();
  size_t left = 0;
  for (size_t j = i; j < b.plan.size(); ++j) left += b.plan[j].suite == p.suite && b.plan[j].plan_error.empty();
  const double used = std::chrono::duration<double>(Clock::now() - b.suite_started[p.suite]).count() / 60.0;
  const double overhead = b.overhead_n[p.suite] ? b.overhead_sum[p.suite] / b.overhead_n[p.suite] : 0.25;
  const double share = std::max(0.1, (p.suite_minutes - used) / static_cast<double>(std::max<size_t>(1, left)) - overhead);
  if (cap <= 0 || share < cap - 1e-6) {
    cap = share;
    toml::table t = load_config(run_file(p, "input.toml"));
    apply_override(t, str("train.max_minutes=", cap));
    write_file_atomic(run_file(p, "input.toml"), to_toml_string(t));
    rec["note"] = str("time cap lowered to ", static_cast<int>(cap * 60), " s to keep the suite within ",
                      p.suite_minutes, " min");
  }
  return cap;
}

// Trains and measures one model in a child `lmforge bench-one` (its output in RUN/output.log),
// moving the progress bar along the child's log.jsonl. Hard limit: twice the time cap plus five
// minutes (the trainer stops itself at the cap). The child's time beyond training (start-up,
// evaluation) feeds the suite's overhead estimate.
ProcessResult run_bench_one(Bench& b, const PlannedRun& p, double cap) {
  const std::string log_out = run_file(p, "output.log"), jsonl = run_file(p, "log.jsonl");
  std::vector<std::string> argv = {b.exe, "bench-one", "--config", run_file(p, "input.toml"),
                                   "--out", p.run_dir, "--text-lines", std::to_string(p.text_lines),
                                   "--infer-seconds", str(p.infer_seconds), "--verbose"};
  if (!p.glue_file.empty()) argv.insert(argv.end(), {"--glue", p.glue_file});
  auto last_poll = Clock::now();
  auto tick = [&] {
    if (!b.bar || Clock::now() - last_poll < std::chrono::milliseconds(800)) return;
    last_poll = Clock::now();
    b.bar->update(b.done_steps + std::min(p.planned_steps, last_logged_step(jsonl)));
  };
  const double timeout_s = cap > 0 ? 60 * (2 * cap + 5) : 0;
  ProcessResult cr = run_child(argv, log_out, log_out, timeout_s, tick);
  b.done_steps += p.planned_steps;
  if (b.bar) b.bar->update(b.done_steps);
  const std::string bp = run_file(p, "bench.json");
  double train_s = 0;
  try {
    if (fs::exists(bp)) train_s = json::parse(read_or_empty(bp))["train"].value("train_seconds", 0.0);
  } catch (...) {
  }
  b.overhead_sum[p.suite] += std::max(0.0, cr.seconds - train_s) / 60.0;
  b.overhead_n[p.suite] += 1;
  return cr;
}

// Fills a finished run's record: metrics from the child's bench.json (its own measurements, with
// the evaluation of the final weights) and log.jsonl (curves, median training speed), the peak
// memory and wall time, and the resolved config. Returns bench.json (null when missing or torn).
json record_results(json& rec, const PlannedRun& p, const ProcessResult& cr) {
  json summary = summarize_log(run_file(p, "log.jsonl"));
  json bench;
  const std::string bench_path = run_file(p, "bench.json");
  if (fs::exists(bench_path)) {
    try {
      bench = json::parse(read_or_empty(bench_path));
    } catch (...) {
    }
  }
  json& m = rec["metrics"];
  // The evaluation of the final weights (bench-one), else the trainer's last one.
  const json ev = bench.is_object() && bench.contains("final_eval") && !bench["final_eval"].empty() ? bench["final_eval"]
                                                                                                    : summary["last_eval"];
  const json tm = bench.is_object() ? bench.value("train", json::object()) : json::object();
  auto put = [&](const char* key, const json& v) {
    if (!v.is_null()) m[key] = v;
  };
  put("train_tokens_per_s", summary.value("train_tokens_per_s", json()));
  if (!m.contains("train_tokens_per_s") && tm.value("train_seconds", 0.0) > 0)  // stopped before its first log
    m["train_tokens_per_s"] = tm.value("tokens", 0.0) / tm["train_seconds"].get<double>();
  put("accuracy", ev.value("accuracy", json()));
  put("valid_loss", ev.value("valid_loss", json()));
  put("valid_ppl", ev.value("valid_ppl", json()));
  put("steps", tm.contains("step") ? tm["step"] : summary.value("last_step", json()));
  put("tokens", tm.contains("tokens") ? tm["tokens"] : summary.value("tokens", json()));
  put("train_seconds", tm.value("train_seconds", json()));
  if (bench.is_object()) {
    for (const char* k : {"parameters", "train_flops_per_token", "infer_tokens_per_s", "word_ppl"}) put(k, bench.value(k, json()));
    if (bench.contains("text_eval")) m["text_eval"] = bench["text_eval"];
    put("glue_mean", bench.value("glue_mean", json()));
    if (bench.contains("glue")) m["glue"] = bench["glue"];
  }
  const double rss = std::max(bench.is_object() ? bench.value("peak_rss_mb", 0.0) : 0.0, cr.max_rss_mb);
  if (rss > 0) m["peak_rss_mb"] = rss;
  m["wall_seconds"] = cr.seconds;
  const std::string metric = m.value("quality_metric", "");
  if (m.contains(metric)) m["quality"] = m[metric];
  rec["curve"] = summary["curve"];
  rec["eval_curve"] = summary["eval_curve"];
  const std::string resolved = run_file(p, "config.toml");
  if (fs::exists(resolved)) rec["config"] = read_or_empty(resolved);
  return bench;
}

// Why a run failed ("" when it did not): the child's own error line, else how it ended; a timeout
// says so first.
std::string run_error(const ProcessResult& cr, bool exited_ok, const std::string& output, const std::string& exe) {
  std::string err;
  if (!cr.started) {
    err = str("could not start ", exe);
  } else if (!exited_ok) {
    err = error_from_output(output);
    if (err.empty()) err = describe_exit(cr.status);
    else if (!WIFEXITED(cr.status)) err += str(" (", describe_exit(cr.status), ")");
    if (cr.timed_out) err = str("timed out after ", static_cast<int>(cr.seconds), " s (", err, ")");
  }
  return err;
}

// The run's status, counted in the outcome: interrupted (the user stopped the bench), ok (noting
// a time cap that stopped training early) or failed (with the error and the end of the output).
void set_run_status(Bench& b, json& rec, const PlannedRun& p, bool exited_ok, const json& bench, const std::string& err,
                    const std::string& output) {
  const json& m = rec["metrics"];
  if (stop_requested()) {
    rec["status"] = "interrupted";
    rec["note"] = str("stopped by the user at step ", m.value("steps", json(0)).dump(), " of ", p.planned_steps);
    ++b.outcome.interrupted;
  } else if (exited_ok) {
    rec["status"] = "ok";
    if (bench.value("stopped", false)) {
      const std::string before = rec.value("note", "");
      rec["note"] = str("time cap reached: stopped at step ", m.value("steps", json(0)).dump(), " of ", p.planned_steps,
                        before.empty() ? "" : " (" + before + ")");
    }
    ++b.outcome.ok;
  } else {
    rec["status"] = "failed";
    rec["error"] = err;
    rec["output_tail"] = tail_lines(output, 15);
    ++b.outcome.failed;
  }
}

// The console line of a finished run: status, quality, training speed, wall time, error.
std::string run_summary_line(size_t i, size_t n, const PlannedRun& p, const json& rec, double seconds,
                             const std::string& err) {
  const json& m = rec["metrics"];
  const std::string metric = m.value("quality_metric", "");
  std::string line = str("bench: [", i + 1, "/", n, "] ", p.suite, "/", p.name, ": ", rec["status"].get<std::string>());
  if (m.contains("quality")) {
    char buf[64];
    std::snprintf(buf, sizeof(buf), metric == "accuracy" ? "%.3f" : "%.2f", m["quality"].get<double>());
    line += str(", ", metric, " ", buf);
  }
  if (m.contains("train_tokens_per_s")) line += str(", ", static_cast<int64_t>(m["train_tokens_per_s"].get<double>()), " train tok/s");
  line += str(", ", static_cast<int>(seconds), " s");
  if (!err.empty() && rec["status"] == "failed") line += str(": ", err);
  return line;
}

// Model i of the plan: not run after a stop, failed on a config error, else run in its child,
// recorded and reported; the report files are rewritten before and after.
void run_model(Bench& b, size_t i) {
  const PlannedRun& p = b.plan[i];
  const size_t n = b.plan.size();
  json& rec = b.results["runs"][i];
  if (stop_requested()) {
    rec["status"] = "not run";
    return;
  }
  if (!p.plan_error.empty()) {
    b.say(str("bench: [", i + 1, "/", n, "] ", p.suite, "/", p.name, ": failed: ", p.plan_error));
    b.done_steps += p.planned_steps;
    ++b.outcome.failed;
    b.save();
    return;
  }
  const double cap = suite_time_cap(b, i, rec);
  b.say(str("bench: [", i + 1, "/", n, "] ", p.suite, "/", p.name, " (", p.planned_steps, " steps)"));
  rec["status"] = "running";
  b.save();
  const ProcessResult cr = run_bench_one(b, p, cap);
  const std::string output = read_or_empty(run_file(p, "output.log"));
  const json bench = record_results(rec, p, cr);
  const bool exited_ok = cr.started && WIFEXITED(cr.status) && WEXITSTATUS(cr.status) == 0 && bench.is_object();
  const std::string err = run_error(cr, exited_ok, output, b.exe);
  set_run_status(b, rec, p, exited_ok, bench, err, output);
  b.say(run_summary_line(i, n, p, rec, cr.seconds, err));
  b.save();
}

// `ops perf --json` output -> its cases, each with the speed-ups over the reference and its
// sequence length (for the report's plots); `arr` gets the parsed array (null when unreadable).
void add_ops_perf_results(const std::string& text, json& arr, json& k) {
  const size_t lb = text.find('[');
  if (lb != std::string::npos) {
    try {
      arr = json::parse(text.substr(lb));
    } catch (...) {
    }
  }
  if (!arr.is_array()) return;
  for (auto& x : arr) {
    json e = x;
    const std::string shape = x.value("shape", "");
    e["seq_len"] = report::seq_len_of_shape(shape);
    const double ms = num_or_nan(x, "ms"), ref = num_or_nan(x, "ref_ms");
    const double fb = num_or_nan(x, "ms_fb"), ref_fb = num_or_nan(x, "ref_ms_fb");
    if (ms > 0 && ref > 0) e["speedup"] = ref / ms;
    if (fb > 0 && ref_fb > 0) e["speedup_fb"] = ref_fb / fb;
    k["results"].push_back(e);
  }
}

// The PyTorch peers of the suite's kernel cases, with the threads `ops perf` was given (all cores
// unless the suite's args say otherwise).
void add_peers(const Bench& b, const Suite& suite, const fs::path& dir, json& k) {
  int threads = available_cores();
  const auto& ka = suite.kernels.args;
  for (size_t i = 0; i + 1 < ka.size(); ++i)
    if (ka[i] == "--threads" && std::atoi(ka[i + 1].c_str()) > 0) threads = std::atoi(ka[i + 1].c_str());
  k["peer_command"] = add_kernel_peers(k["results"], dir, suite.kernels.peer_seconds, threads, k);
  b.say(str("bench: ", suite.name, ": PyTorch peers ", k.contains("peer_error") ? "not measured: " + k["peer_error"].get<std::string>() : "measured"));
}

// The status of a suite's operator timings: interrupted, skipped (no results: why), or ok (noting
// cases that failed).
void set_kernel_status(json& k, const json& arr, const std::string& err_text, const ProcessResult& cr) {
  if (stop_requested()) {
    k["status"] = "interrupted";
  } else if (k["results"].empty()) {
    const std::string e = error_from_output(err_text);
    k["status"] = "skipped";
    k["error"] = e.find("no operator case") != std::string::npos || (arr.is_array() && arr.empty())
                     ? "no registered operator has perf cases yet"
                     : str("ops perf produced no results: ", e.empty() ? describe_exit(cr.status) : e);
  } else {
    k["status"] = "ok";
    if (!(WIFEXITED(cr.status) && WEXITSTATUS(cr.status) == 0)) k["error"] = "some cases failed: " + describe_exit(cr.status);
  }
}

// One suite's operator timings: `lmforge ops perf --json` (with the suite's args) in a child, its
// cases into k["results"], then the PyTorch peers when the suite asks for them.
void run_kernel_part(Bench& b, const Suite& suite, json& k) {
  const fs::path dir = fs::path(b.outcome.out_dir) / "kernels" / safe_name(suite.name);
  fs::create_directories(dir);
  std::vector<std::string> argv = {b.exe, "ops", "perf", "--json"};
  argv.insert(argv.end(), suite.kernels.args.begin(), suite.kernels.args.end());
  std::string cmd = "lmforge ops perf --json";
  for (const auto& a : suite.kernels.args) cmd += " " + shell_quote(a);
  k["command"] = cmd;
  b.say(str("bench: ", suite.name, ": ", cmd));
  ProcessResult cr = run_child(argv, (dir / "ops_perf.json").string(), (dir / "output.log").string(), 0, nullptr);
  json arr;
  add_ops_perf_results(read_or_empty((dir / "ops_perf.json").string()), arr, k);
  if (suite.kernels.peers && !k["results"].empty() && !stop_requested()) add_peers(b, suite, dir, k);
  set_kernel_status(k, arr, read_or_empty((dir / "output.log").string()), cr);
  b.say(str("bench: ", suite.name, ": operator timings ", k["status"].get<std::string>(), ", ", k["results"].size(), " results"));
  b.save();
}

// Every suite's operator timings, after the models (none in a dry run; "not run" after a stop).
void run_kernels(Bench& b) {
  for (auto& [suite, idx] : b.kernel_parts) {
    json& k = b.results["kernels"][idx];
    if (b.o.dry_run) break;
    if (stop_requested()) {
      k["status"] = "not run";
      continue;
    }
    run_kernel_part(b, *suite, k);
  }
}

// The end: runs never started count as not run, results.json gets its final status and the
// outcome names the report files.
void finish_bench(Bench& b) {
  for (const auto& r : b.results["runs"])
    if (r["status"] == "not run" || r["status"] == "pending") ++b.outcome.not_run;
  b.outcome.stopped = stop_requested();
  b.results["status"] = b.o.dry_run ? "planned" : b.outcome.stopped ? "interrupted" : "complete";
  b.save();
  b.outcome.report = (fs::path(b.outcome.out_dir) / "report.html").string();
  b.outcome.results_json = (fs::path(b.outcome.out_dir) / "results.json").string();
  b.outcome.results_csv = (fs::path(b.outcome.out_dir) / "results.csv").string();
  b.outcome.results = b.results;
}

}  // namespace

BenchOutcome run_bench(const BenchOptions& o) {
  clear_stop();
  SignalScope signals;
  Bench b{o};
  open_bench(b);
  plan_suites(b);
  for (const PlannedRun& p : b.plan) b.results["runs"].push_back(planned_record(p));
  b.save();
  std::fprintf(stderr, "bench: %zu model run(s)%s -> %s\n", b.plan.size(),
               b.kernel_parts.empty() ? "" : " + operator timings", b.outcome.out_dir.c_str());
  start_progress(b);
  for (size_t i = 0; i < b.plan.size() && !o.dry_run; ++i) run_model(b, i);
  if (b.bar) b.bar->finish();
  run_kernels(b);
  finish_bench(b);
  clear_stop();
  return b.outcome;
}

}  // namespace lmforge
