// The suite runner behind `lmforge bench`: expands the suite (and the suites it includes) into a
// matrix of models, trains and measures each in its own `lmforge bench-one` process (same work,
// same budget), runs the operator timings when the suite asks, and rewrites results.json,
// results.csv and report.html after every run, so an interrupted suite (Ctrl-C, a crash, a
// killed machine) always leaves a valid partial report. A run that fails (divergence, NaN, an
// exception, a crash) is recorded with its error and the suite goes on.
//
// Signals: the first SIGINT/SIGTERM stops the current model gracefully (it saves and is recorded
// as interrupted), writes the report and returns; a second one kills the child and exits.
#pragma once
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace lmforge {

struct BenchOptions {
  std::string suite = "quick";     // built-in name or a suite file
  std::string out;                 // output folder ("" = runs/bench-SUITE-YYYYmmdd-HHMMSS)
  std::string data_dir;            // --data: where the data files of text suites are
  std::vector<std::string> set;    // overrides for every model (after the suite's and the budget)
  std::vector<std::string> models; // only these models (by name)
  std::string exe;                 // lmforge binary for the children ("" = this process's binary)
  std::vector<std::string> subcommands;  // what the binary offers, for suites' [requires] (cli fills it)
  std::string command;             // the command line, for the report
  bool dry_run = false;            // plan only: write the report with every run "pending"
  bool progress = true;            // progress bar with ETA (drawn only when stderr is a terminal)
};

struct BenchOutcome {
  std::string out_dir, report, results_json, results_csv;
  int ok = 0, failed = 0, interrupted = 0, not_run = 0;
  bool stopped = false;  // interrupted by a signal
  nlohmann::json results;
};

BenchOutcome run_bench(const BenchOptions& o);

// Summary of a run's log.jsonl: the training curve (step, loss), the evaluation curve, the median
// training tokens/s over logged intervals after the first (warm-up), and the last eval record.
nlohmann::json summarize_log(const std::string& log_path);

// Writes results.json, results.csv and report.html into `out_dir` (each atomically).
void write_report_files(const nlohmann::json& results, const std::string& out_dir);

}  // namespace lmforge
