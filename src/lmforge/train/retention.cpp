// Checkpoint snapshots (train.keep_last) and the best-metric checkpoint (train.keep_best); see
// retention.h.
#include "lmforge/train/retention.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <vector>

#include "lmforge/core/error.h"
#include "lmforge/core/file_io.h"
#include "lmforge/core/log.h"

namespace lmforge {

namespace fs = std::filesystem;

namespace {

constexpr const char* kSnapshots = "checkpoints";
constexpr const char* kPrefix = "step-";

std::string snapshot_name(int64_t step) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%s%08lld", kPrefix, static_cast<long long>(step));
  return buf;
}

// The step of a finished snapshot folder name ("step-00000400" -> 400), or -1 for anything else
// (temporary folders, files a user put there).
int64_t snapshot_step(const std::string& name) {
  if (name.rfind(kPrefix, 0) != 0 || name.size() == std::string(kPrefix).size()) return -1;
  int64_t v = 0;
  for (size_t i = std::string(kPrefix).size(); i < name.size(); ++i) {
    if (name[i] < '0' || name[i] > '9') return -1;
    v = v * 10 + (name[i] - '0');
  }
  return v;
}

void link_or_copy(const fs::path& from, const fs::path& to) {
  std::error_code ec;
  fs::create_hard_link(from, to, ec);
  if (!ec) return;
  fs::copy_file(from, to, fs::copy_options::overwrite_existing, ec);
  LMF_REQUIRE(!ec, InputError, "checkpoint snapshot: cannot link or copy '", from.string(), "' to '", to.string(),
              "' (", ec.message(), ")");
}

}  // namespace

void snapshot_checkpoint(const std::string& run_dir, int64_t step, int64_t keep) {
  const fs::path run(run_dir), dir = run / kSnapshots, src = run / "checkpoint";
  std::error_code ec;
  if (keep > 1) {
    LMF_REQUIRE(fs::is_directory(src), InputError, "checkpoint snapshot: '", src.string(), "' does not exist");
    fs::create_directories(dir, ec);
    LMF_REQUIRE(fs::is_directory(dir), InputError, "checkpoint snapshot: cannot create '", dir.string(), "'",
                ec ? " (" + ec.message() + ")" : "");
    const fs::path tmp = dir / (snapshot_name(step) + ".tmp-" + std::to_string(::getpid()));
    const fs::path final_dir = dir / snapshot_name(step);
    fs::remove_all(tmp, ec);
    fs::create_directories(tmp, ec);
    for (const auto& e : fs::directory_iterator(src)) link_or_copy(e.path(), tmp / e.path().filename());
    fsync_dir(tmp.string());
    fs::remove_all(final_dir, ec);  // the same step saved again (stopped, then resumed and stopped)
    fs::rename(tmp, final_dir, ec);
    LMF_REQUIRE(!ec, InputError, "checkpoint snapshot: cannot rename '", tmp.string(), "' to '", final_dir.string(),
                "' (", ec.message(), ")");
    fsync_dir(dir.string());
  }
  if (!fs::is_directory(dir)) return;
  // Newest `keep` finished snapshots stay (none when keep <= 1); temporary leftovers of a crash go.
  std::vector<std::pair<int64_t, fs::path>> found;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string n = e.path().filename().string();
    if (n.find(".tmp-") != std::string::npos && n.rfind(kPrefix, 0) == 0) {
      fs::remove_all(e.path(), ec);
      continue;
    }
    const int64_t s = snapshot_step(n);
    if (s >= 0 && e.is_directory()) found.emplace_back(s, e.path());
  }
  std::sort(found.begin(), found.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  const size_t kept = keep > 1 ? static_cast<size_t>(keep) : 0;
  for (size_t i = kept; i < found.size(); ++i) fs::remove_all(found[i].second, ec);
  fsync_dir(dir.string());
}

bool lower_is_better(const std::string& metric) {
  if (metric.find("bits_per") != std::string::npos) return true;
  // By whole '_'-separated parts, so that e.g. "answer_accuracy" is not read as a word error rate.
  size_t b = 0;
  while (b <= metric.size()) {
    size_t e = metric.find('_', b);
    if (e == std::string::npos) e = metric.size();
    const std::string part = metric.substr(b, e - b);
    for (const char* w : {"loss", "ppl", "perplexity", "bpb", "error", "cer", "wer"})
      if (part == w) return true;
    b = e + 1;
  }
  return false;
}

BestMetric::BestMetric(std::string metric, const nlohmann::json& best)
    : metric_(std::move(metric)), lower_(lower_is_better(metric_)) {
  if (best.is_object() && best.value("metric", "") == metric_ && best.contains("value") && best["value"].is_number()) {
    have_ = true;
    value_ = best["value"].get<double>();
    step_ = best.value("step", int64_t{0});
  } else if (best.is_object()) {
    log_warning_once(str("train.keep_best is now '", metric_, "' (it was '", best.value("metric", ""),
                         "'): checkpoint-best/ will be replaced at the next evaluation"));
  }
}

bool BestMetric::update(const nlohmann::json& eval, int64_t step) {
  if (!eval.contains(metric_) || !eval[metric_].is_number()) {
    std::string have;
    for (const auto& [k, v] : eval.items())
      if (v.is_number() && k != "step") have += (have.empty() ? "" : ", ") + k;
    throw ConfigError(str("config key 'train.keep_best' = \"", metric_, "\": the evaluation reports no such metric (it reports: ",
                          have.empty() ? "none" : have, ")"));
  }
  const double v = eval[metric_].get<double>();
  if (!std::isfinite(v)) return false;
  if (have_ && (lower_ ? v >= value_ : v <= value_)) return false;
  have_ = true;
  value_ = v;
  step_ = step;
  return true;
}

nlohmann::json BestMetric::record() const {
  if (!have_) return nullptr;
  return {{"metric", metric_}, {"value", value_}, {"step", step_}};
}

}  // namespace lmforge
