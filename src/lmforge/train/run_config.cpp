#include "lmforge/train/run_config.h"

#include <filesystem>

#include "lmforge/core/log.h"
#include "lmforge/core/precision.h"
#include "lmforge/train/optimizer.h"
#include "lmforge/train/schedule.h"
#include "lmforge/train/schedule_clock.h"
#include "lmforge/train/task.h"

namespace lmforge {

namespace fs = std::filesystem;

namespace {

// Configs written before the optimizers were registered components kept Adam's settings in [train]
// (train.beta1, beta2, eps). Presets now say [train.optimizer]; stored run configs of older builds
// are moved over, with a warning naming the new key, so that old runs still resume.
toml::table migrate_legacy_keys(const toml::table& in) {
  toml::table t = in;
  toml::table* train = t["train"].as_table();
  if (!train) return t;
  for (const char* k : {"beta1", "beta2", "eps"}) {
    const toml::node* v = train->get(k);
    if (!v) continue;
    widen_choice(*train, "optimizer");
    if (!train->get("optimizer")) train->insert_or_assign("optimizer", toml::table{});
    toml::table* opt = train->get("optimizer")->as_table();
    LMF_REQUIRE(opt, ConfigError, "config key 'train.optimizer': expected a name or a table");
    if (!opt->get(k)) opt->insert_or_assign(k, *v);
    log_warning_once(str("config key 'train.", k, "' is now 'train.optimizer.", k, "' (moved; update the config)"));
    train->erase(k);
  }
  return t;
}

}  // namespace

RunConfig parse_run_config(const toml::table& t_in) {
  RunConfig c;
  const toml::table t = migrate_legacy_keys(t_in);
  ConfigReader top(&t, "");
  top("run", c.run);
  top("train", c.train);
  top("eval", c.eval);
  top.allow("model");
  top.allow("data");
  top.finish();

  // [data]: the fields, plus the options tables of registered tasks, [data.<task>]. Every such
  // table is checked against its task's options (a typo in an unused one is still an error).
  const toml::node* dn = t.get("data");
  LMF_REQUIRE(!dn || dn->is_table(), ConfigError, "config key 'data': expected a table");
  const toml::table* dt = dn ? dn->as_table() : nullptr;
  {
    ConfigReader r(dt, "data");
    c.data.visit(r);
    for (const std::string& name : TaskRegistry::names()) r.allow(name);
    r.finish();
  }
  const auto& task = TaskRegistry::at(c.data.task, "data.task");
  for (const std::string& name : TaskRegistry::names()) {
    const toml::node* n = dt ? dt->get(name) : nullptr;
    if (!n) continue;
    LMF_REQUIRE(n->is_table(), ConfigError, "config key 'data.", name, "': expected a table of the task's options");
    toml::table resolved = TaskRegistry::at(name, "data.task").resolve(*n->as_table(), "data." + name);
    if (name == c.data.task) c.data.task_options = std::move(resolved);
  }
  if (c.data.task_options.empty()) c.data.task_options = task.resolve(toml::table{}, "data." + c.data.task);

  // The optimizer's and the schedule's own options, every default filled in.
  c.train.optimizer.options =
      OptimizerRegistry::at(c.train.optimizer.name, "train.optimizer.name").resolve(c.train.optimizer.options, "train.optimizer");
  c.train.schedule.options =
      ScheduleRegistry::at(c.train.schedule.name, "train.schedule.name").resolve(c.train.schedule.options, "train.schedule");
  const toml::node* m = t.get("model");
  LMF_REQUIRE(!m || m->is_table(), ConfigError, "config key 'model': expected a table");
  c.model = parse_model_config(m ? m->as_table() : nullptr, "model");

  const TrainConfig& tr = c.train;
  LMF_REQUIRE(tr.steps > 0, ConfigError, "config key 'train.steps': must be positive, got ", tr.steps);
  LMF_REQUIRE(tr.batch_size > 0, ConfigError, "config key 'train.batch_size': must be positive");
  LMF_REQUIRE(tr.seq_len > 0, ConfigError, "config key 'train.seq_len': must be positive");
  LMF_REQUIRE(tr.grad_accum > 0, ConfigError, "config key 'train.grad_accum': must be positive");
  LMF_REQUIRE(tr.lr > 0, ConfigError, "config key 'train.lr': must be positive");
  LMF_REQUIRE(tr.log_every > 0, ConfigError, "config key 'train.log_every': must be positive");
  LMF_REQUIRE(tr.warmup_steps >= 0, ConfigError, "config key 'train.warmup_steps': must be >= 0");
  LMF_REQUIRE(tr.keep_last >= 1, ConfigError, "config key 'train.keep_last': must be at least 1 (checkpoint/ itself), got ",
              tr.keep_last);
  LMF_REQUIRE(tr.on_nonfinite == "stop" || tr.on_nonfinite == "skip", ConfigError,
              "config key 'train.on_nonfinite': expected \"stop\" or \"skip\", got \"", tr.on_nonfinite, "\"");
  LMF_REQUIRE(tr.ddp_bucket_mb > 0, ConfigError, "config key 'train.ddp_bucket_mb': must be positive, got ", tr.ddp_bucket_mb);
  LMF_REQUIRE(tr.ddp_timeout_s > 0, ConfigError, "config key 'train.ddp_timeout_s': must be positive, got ", tr.ddp_timeout_s);
  parse_precision(tr.precision, "train.precision");
  ScheduleClock(parse_schedule_clock(tr.schedule_clock), tr.steps, 60.0 * tr.max_minutes);  // "time" needs a budget
  c.data.tokenizer.validate();
  LMF_REQUIRE(c.model.position != "learned" || tr.seq_len <= c.model.max_seq_len, ConfigError,
              "config key 'train.seq_len' (", tr.seq_len, ") exceeds model.max_seq_len (", c.model.max_seq_len,
              ") with learned positions");
  return c;
}

toml::table run_config_to_toml(const RunConfig& c) {
  toml::table t;
  t.insert_or_assign("run", unbind(c.run));
  toml::table data = unbind(c.data);
  data.insert_or_assign(c.data.task, c.data.task_options);
  t.insert_or_assign("data", std::move(data));
  t.insert_or_assign("model", model_config_to_toml(c.model));
  t.insert_or_assign("train", unbind(c.train));
  t.insert_or_assign("eval", unbind(c.eval));
  return t;
}

std::string resolve_data_path(const DataConfig& d, const std::string& p) {
  if (p.empty() || fs::path(p).is_absolute()) return p;
  if (!d.dir.empty()) return (fs::path(d.dir) / p).string();
  if (fs::exists(p)) return p;
  fs::path shared = fs::path(LMFORGE_SOURCE_DIR) / ".." / "shared" / "data" / p;
  if (fs::exists(shared)) return fs::weakly_canonical(shared).string();
  return p;
}

}  // namespace lmforge
