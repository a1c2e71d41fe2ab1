// Fuzzes the TOML config loader (core/config.h) and the registry-free part of the run config schema
// (train/run_config.h): parse_toml_string, the layering (merge_into, widen_choice, apply_override),
// to_toml_string, and binding the [run], [train], [eval] and [data] sections (with
// [data.tokenizer] and its validate()) the way parse_run_config does, unknown keys refused.
// Not reached: [model] and the registered components' options (they need the torch-built
// component registries; tests/core/config_test.cpp covers them).
// Input: TOML text; after a first NUL byte, optional `key.path=value` overrides, one per line.
// Contract (fuzz_contract.h): parses, or throws UserError/ConfigError/InputError.
#include <string_view>

#include "fuzz_contract.h"
#include "lmforge/core/config.h"
#include "lmforge/train/run_config.h"

using namespace lmforge;

namespace {

void bind_sections(const toml::table& t) {
  RunConfig c;
  ConfigReader top(&t, "");
  top("run", c.run);
  top("train", c.train);
  top("eval", c.eval);
  top.allow("model");
  top.allow("data");
  top.finish();
  const toml::node* dn = t.get("data");
  if (dn && !dn->is_table()) throw ConfigError("config key 'data': expected a table");
  ConfigReader r(dn ? dn->as_table() : nullptr, "data");
  c.data.visit(r);
  for (const char* task : {"lm", "mqar", "mlm"}) r.allow(task);  // the registered tasks
  r.finish();
  c.data.tokenizer.validate();
  // What --dump-config and the stored run config do with the result.
  toml::table out;
  out.insert_or_assign("run", unbind(c.run));
  out.insert_or_assign("train", unbind(c.train));
  out.insert_or_assign("data", unbind(c.data));
  (void)to_toml_string(out);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string input = lmforge_fuzz_bytes(data, size);
  const size_t nul = input.find('\0');
  const std::string text = input.substr(0, nul);
  const std::string sets = nul == std::string::npos ? std::string() : input.substr(nul + 1);

  lmforge_fuzz_contract([&] {
    toml::table t = parse_toml_string(text, "fuzz.toml");
    (void)to_toml_string(t);
    // Layering: the input over a base that names components by name alone, as presets do.
    toml::table layered = parse_toml_string(
        "[train]\noptimizer = \"adamw\"\nschedule = \"cosine\"\n[data]\ntask = \"lm\"\n", "base.toml");
    merge_into(layered, t);
    size_t start = 0;
    while (start < sets.size()) {
      size_t end = sets.find('\n', start);
      if (end == std::string::npos) end = sets.size();
      apply_override(layered, sets.substr(start, end - start));
      start = end + 1;
    }
    bind_sections(layered);
  });
  lmforge_fuzz_contract([&] { bind_sections(parse_toml_string(text, "fuzz.toml")); });
  return 0;
}
