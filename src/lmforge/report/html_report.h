// The benchmark report: one self-contained HTML file (inline CSS, inline SVG plots, a few lines of
// inline script for table sorting; no external scripts, fonts or network), plus CSV for machines.
// Sections: summary, the results table (sortable by any column), per suite the loss curves and
// quality against training throughput with its Pareto front, the kernel speed-ups against the
// plain-ATen reference by sequence length (when the kernels suite ran), and the exact command and
// resolved config of every run. Failed runs appear in the table with their error.
//
// Input: the results JSON the suite runner writes (results.json):
//   {format, title, status ("running"|"complete"|"interrupted"), command, started, updated,
//    host {cpu, threads, version, torch},
//    suites [{name, description, status ("ran"|"skipped"), reason, budget, text}],
//    runs [{suite, name, status ("ok"|"failed"|"interrupted"|"pending"|"not run"), error, note, command,
//           config, run_dir, task,
//           metrics {quality, quality_metric, higher_is_better, accuracy, word_ppl, valid_loss, parameters,
//                    train_flops_per_token, train_tokens_per_s, infer_tokens_per_s, peak_rss_mb,
//                    steps, planned_steps, tokens, train_seconds, wall_seconds},
//           curve {step [], loss []}, eval_curve {step [], valid_loss [], accuracy []}}],
//    kernels [{suite, status, error, command, results [{op, shape, dtype, isa, seq_len, ms, ref_ms,
//              ms_fb, ref_ms_fb, speedup, speedup_fb, gflops}]}]}
#pragma once
#include <string>

#include <nlohmann/json.hpp>

namespace lmforge::report {

std::string render_html(const nlohmann::json& results);

// One row per run: suite, model, status, quality metric and value, the measurements, error.
std::string render_csv(const nlohmann::json& results);

// The results table as Markdown (for docs/benchmarks/*.md), with the command and host.
std::string render_markdown(const nlohmann::json& results);

// Sequence length from an operator case's shape name ("B4_H768_L4096_gated" -> 4096); 0 if none.
int64_t seq_len_of_shape(const std::string& shape);
// The shape name with its L part removed ("B4_H768_L4096_gated" -> "B4_H768_gated").
std::string shape_without_seq_len(const std::string& shape);

}  // namespace lmforge::report
