#include "lmforge/train/run_config.h"

#include <filesystem>

#include "lmforge/core/precision.h"

namespace lmforge {

namespace fs = std::filesystem;

RunConfig parse_run_config(const toml::table& t) {
  RunConfig c;
  ConfigReader top(&t, "");
  top("run", c.run);
  top("data", c.data);
  top("train", c.train);
  top("eval", c.eval);
  top.allow("model");
  top.finish();
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
  LMF_REQUIRE(tr.ddp_bucket_mb > 0, ConfigError, "config key 'train.ddp_bucket_mb': must be positive, got ", tr.ddp_bucket_mb);
  LMF_REQUIRE(tr.ddp_timeout_s > 0, ConfigError, "config key 'train.ddp_timeout_s': must be positive, got ", tr.ddp_timeout_s);
  parse_precision(tr.precision, "train.precision");
  c.data.tokenizer.validate();
  if (c.data.task == "mqar") c.data.mqar.validate();
  LMF_REQUIRE(c.data.task == "lm" || c.data.task == "mqar" || c.data.task == "mlm", ConfigError,
              "config key 'data.task': expected \"lm\", \"mqar\" or \"mlm\", got \"", c.data.task, "\"");
  LMF_REQUIRE(c.data.task != "mlm" || c.model.kind == "encoder", ConfigError,
              "config key 'data.task' = \"mlm\" needs model.kind = \"encoder\" (a causal model cannot see the masked token's right context)");
  LMF_REQUIRE(c.model.position != "learned" || tr.seq_len <= c.model.max_seq_len, ConfigError,
              "config key 'train.seq_len' (", tr.seq_len, ") exceeds model.max_seq_len (", c.model.max_seq_len,
              ") with learned positions");
  return c;
}

toml::table run_config_to_toml(const RunConfig& c) {
  toml::table t;
  t.insert_or_assign("run", unbind(c.run));
  t.insert_or_assign("data", unbind(c.data));
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
