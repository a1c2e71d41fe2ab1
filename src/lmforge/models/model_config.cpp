#include "lmforge/models/model_config.h"

#include "lmforge/nn/components.h"

namespace lmforge {

namespace {

bool is_component(const std::string& k) {
  return MixerRegistry::has(k) || NormRegistry::has(k) || FfnRegistry::has(k);
}

// Reads one block spec (already merged over the default block).
BlockSpec parse_block(const toml::table& t, const std::string& path) {
  BlockSpec b;
  b.path = path;
  ConfigReader r(&t, path);
  r("mixer", b.mixer);
  r("norm", b.norm);
  r("ffn", b.ffn);
  r("norm_position", b.norm_position);
  r("repeat", b.repeat);
  for (const auto& [k, v] : t) {
    std::string key(k.str());
    if (!is_component(key)) continue;
    r.allow(key);
    LMF_REQUIRE(v.is_table(), ConfigError, "config key '", path, ".", key, "': expected a table of ", key, " options");
    b.options.insert_or_assign(key, v);
  }
  r.finish();
  LMF_REQUIRE(b.norm_position == "pre" || b.norm_position == "post", ConfigError, "config key '", path,
              ".norm_position': expected \"pre\" or \"post\", got \"", b.norm_position, "\"");
  LMF_REQUIRE(b.repeat >= 1, ConfigError, "config key '", path, ".repeat': must be >= 1");
  // Validate the chosen components' options now, before anything is built; and those given for
  // components not chosen (so a typo there is not silently ignored).
  MixerRegistry::at(b.mixer, path + ".mixer");
  NormRegistry::at(b.norm, path + ".norm");
  if (b.ffn != "none") FfnRegistry::at(b.ffn, path + ".ffn");
  for (const auto& [k, v] : b.options) {
    std::string key(k.str());
    std::string where = path + "." + key;
    if (MixerRegistry::has(key)) MixerRegistry::at(key, where).resolve(*v.as_table(), where);
    else if (NormRegistry::has(key)) NormRegistry::at(key, where).resolve(*v.as_table(), where);
    else FfnRegistry::at(key, where).resolve(*v.as_table(), where);
  }
  return b;
}

const toml::table& options_of(const BlockSpec& b, const std::string& name) {
  static const toml::table kEmpty;
  const toml::node* n = b.options.get(name);
  return n ? *n->as_table() : kEmpty;
}

toml::table block_to_toml(const BlockSpec& b) {
  toml::table t;
  t.insert_or_assign("mixer", b.mixer);
  t.insert_or_assign("norm", b.norm);
  t.insert_or_assign("ffn", b.ffn);
  t.insert_or_assign("norm_position", b.norm_position);
  t.insert_or_assign("repeat", b.repeat);
  t.insert_or_assign(b.mixer, MixerRegistry::at(b.mixer, b.path).resolve(options_of(b, b.mixer), b.path));
  t.insert_or_assign(b.norm, NormRegistry::at(b.norm, b.path).resolve(options_of(b, b.norm), b.path));
  if (b.ffn != "none") t.insert_or_assign(b.ffn, FfnRegistry::at(b.ffn, b.path).resolve(options_of(b, b.ffn), b.path));
  return t;
}

}  // namespace

ModelConfig parse_model_config(const toml::table* model, const std::string& path) {
  ModelConfig m;
  ConfigReader r(model, path);
  m.visit_scalars(r);
  r.allow("block");
  r.allow("blocks");
  r.allow("peft");
  r.allow("hmt");
  r.finish();
  if (const toml::node* pn = model ? model->get("peft") : nullptr) {
    LMF_REQUIRE(pn->is_table(), ConfigError, "config key '", path, ".peft': expected a table ([", path, ".peft])");
    lmforge::bind(*pn->as_table(), m.peft, path + ".peft");  // qualified: ADL would find std::bind
  }
  validate_peft_config(m.peft, path + ".peft");
  if (const toml::node* hn = model ? model->get("hmt") : nullptr) {
    LMF_REQUIRE(hn->is_table(), ConfigError, "config key '", path, ".hmt': expected a table ([", path, ".hmt])");
    lmforge::bind(*hn->as_table(), m.hmt, path + ".hmt");
  }
  LMF_REQUIRE(m.kind == "decoder" || m.kind == "encoder", ConfigError, "config key '", path,
              ".kind': expected \"decoder\" or \"encoder\", got \"", m.kind, "\"");
  LMF_REQUIRE(m.position == "learned" || m.position == "rope" || m.position == "alibi" || m.position == "none",
              ConfigError, "config key '", path, ".position': expected learned, rope, alibi or none, got \"",
              m.position, "\"");
  LMF_REQUIRE(m.d_model > 0 && m.n_layers > 0 && m.max_seq_len > 0, ConfigError, "config keys '", path,
              ".d_model', '", path, ".n_layers', '", path, ".max_seq_len' must be positive");
  LMF_REQUIRE(m.dropout >= 0 && m.dropout < 1, ConfigError, "config key '", path, ".dropout': must be in [0, 1)");

  toml::table base;
  if (model) {
    if (const toml::node* b = model->get("block")) {
      LMF_REQUIRE(b->is_table(), ConfigError, "config key '", path, ".block': expected a table");
      base = *b->as_table();
    }
  }
  const toml::array* groups = model ? model->get_as<toml::array>("blocks") : nullptr;
  if (model && model->get("blocks") && !groups)
    throw ConfigError(str("config key '", path, ".blocks': expected an array of tables ([[", path, ".blocks]])"));
  if (!groups || groups->empty()) {
    BlockSpec b = parse_block(base, path + ".block");
    b.repeat = 1;
    m.layers.assign(static_cast<size_t>(m.n_layers), b);
    return m;
  }
  int64_t total = 0;
  for (size_t i = 0; i < groups->size(); ++i) {
    const toml::table* g = (*groups)[i].as_table();
    std::string where = str(path, ".blocks[", i, "]");
    LMF_REQUIRE(g, ConfigError, "config key '", where, "': expected a table");
    toml::table merged = base;
    merge_into(merged, *g);
    BlockSpec b = parse_block(merged, where);
    for (int64_t k = 0; k < b.repeat; ++k) m.layers.push_back(b);
    total += b.repeat;
  }
  LMF_REQUIRE(total == m.n_layers, ConfigError, "config key '", path, ".blocks': the repeats add up to ", total,
              " layers but ", path, ".n_layers is ", m.n_layers);
  return m;
}

toml::table model_config_to_toml(const ModelConfig& m) {
  ConfigWriter w;
  const_cast<ModelConfig&>(m).visit_scalars(w);
  toml::table t = std::move(w.table());
  toml::array groups;
  for (size_t i = 0; i < m.layers.size();) {
    size_t j = i;
    while (j < m.layers.size() && m.layers[j].path == m.layers[i].path) ++j;
    toml::table g = block_to_toml(m.layers[i]);
    g.insert_or_assign("repeat", static_cast<int64_t>(j - i));
    groups.push_back(std::move(g));
    i = j;
  }
  t.insert_or_assign("blocks", std::move(groups));
  t.insert_or_assign("peft", unbind(m.peft));
  t.insert_or_assign("hmt", unbind(m.hmt));
  return t;
}

}  // namespace lmforge
