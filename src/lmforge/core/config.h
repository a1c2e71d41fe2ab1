// Layered TOML configuration bound to plain C++ structs.
//
// Every configurable struct lists its fields once, in a `visit` method:
//
//   struct AdamOptions {
//     double lr = 3e-4;
//     template <class V> void visit(V& v) { v("lr", lr, "peak learning rate"); }
//   };
//
// and the visitors below do the rest: ConfigReader fills the struct from a TOML table (checking
// types, and after `finish()` rejecting keys that no field consumed, with a "did you mean"),
// ConfigWriter turns it back into TOML (so --dump-config shows every default), ConfigDoc lists
// keys with their docs. Layering (presets, files, --set key=value) works on the TOML tree before
// binding: later layers override earlier ones key by key (tables merge, arrays and scalars replace).
#pragma once
#include <cstdint>
#include <set>
#include <string>
#include <type_traits>
#include <vector>

#include <toml++/toml.h>

#include "lmforge/core/error.h"

namespace lmforge {

// A component chosen by name with options of its own: in TOML either a table holding `name` and
// the component's keys,
//   [train.optimizer]
//   name = "adamw"
//   beta2 = 0.98
// or, when its defaults do, the name alone: `train.optimizer = "adamw"`. The options are checked
// by the registry that builds the component (core/registry.h), which knows its Options struct.
struct Choice {
  std::string name;
  toml::table options;  // every key but `name`
};

namespace detail {
std::string closest_key(const std::string& key, const std::vector<std::string>& candidates);
std::string type_name(const toml::node& n);
std::string node_to_string(const toml::node& n);
}  // namespace detail

// Reads fields from one TOML table. `path` is the dotted location used in messages.
class ConfigReader {
 public:
  ConfigReader(const toml::table* table, std::string path) : table_(table), path_(std::move(path)) {}

  template <class T>
  void operator()(const char* key, T& field, const char* /*doc*/ = "") {
    known_.push_back(key);
    if (!table_) return;
    const toml::node* n = table_->get(key);
    if (!n) return;
    read(*n, field, join(key));
  }

  // Throws ConfigError for keys in the table that no field consumed (after `allow`ed ones).
  void finish() const;
  void allow(const std::string& key) { known_.push_back(key); }
  const std::string& path() const { return path_; }
  std::string join(const std::string& key) const { return path_.empty() ? key : path_ + "." + key; }

 private:
  static void read(const toml::node& n, int64_t& v, const std::string& where);
  static void read(const toml::node& n, int& v, const std::string& where);
  static void read(const toml::node& n, double& v, const std::string& where);
  static void read(const toml::node& n, bool& v, const std::string& where);
  static void read(const toml::node& n, std::string& v, const std::string& where);
  static void read(const toml::node& n, std::vector<int64_t>& v, const std::string& where);
  static void read(const toml::node& n, std::vector<double>& v, const std::string& where);
  static void read(const toml::node& n, std::vector<std::string>& v, const std::string& where);
  static void read(const toml::node& n, toml::table& v, const std::string& where);
  static void read(const toml::node& n, Choice& v, const std::string& where);
  template <class S, std::enable_if_t<!std::is_arithmetic_v<S> && !std::is_same_v<S, std::string>, int> = 0>
  static auto read(const toml::node& n, S& v, const std::string& where) -> decltype(v.visit(std::declval<ConfigReader&>()), void()) {
    const toml::table* t = n.as_table();
    if (!t) throw ConfigError(str("config key '", where, "': expected a table, got ", detail::type_name(n)));
    ConfigReader sub(t, where);
    v.visit(sub);
    sub.finish();
  }

  const toml::table* table_;
  std::string path_;
  std::vector<std::string> known_;
};

// Writes fields into a TOML table (for --dump-config and the config stored with every run).
class ConfigWriter {
 public:
  template <class T>
  void operator()(const char* key, const T& field, const char* /*doc*/ = "") {
    if constexpr (std::is_same_v<T, toml::table>) {
      if (!field.empty()) out_.insert_or_assign(key, field);
    } else if constexpr (std::is_same_v<T, Choice>) {
      toml::table t = field.options;
      t.insert_or_assign("name", field.name);
      out_.insert_or_assign(key, std::move(t));
    } else if constexpr (std::is_same_v<T, int>) {
      out_.insert_or_assign(key, static_cast<int64_t>(field));
    } else if constexpr (std::is_arithmetic_v<T> || std::is_same_v<T, std::string>) {
      out_.insert_or_assign(key, field);
    } else if constexpr (std::is_same_v<T, std::vector<int64_t>> || std::is_same_v<T, std::vector<double>> ||
                         std::is_same_v<T, std::vector<std::string>>) {
      toml::array a;
      for (const auto& x : field) a.push_back(x);
      out_.insert_or_assign(key, std::move(a));
    } else {
      ConfigWriter sub;
      const_cast<T&>(field).visit(sub);
      out_.insert_or_assign(key, std::move(sub.out_));
    }
  }
  toml::table& table() { return out_; }

 private:
  toml::table out_;
};

// Lists every key with its default and doc: `lmforge config --list`.
class ConfigDoc {
 public:
  explicit ConfigDoc(std::string prefix = "") : prefix_(std::move(prefix)) {}
  template <class T>
  void operator()(const char* key, const T& field, const char* doc = "") {
    std::string name = prefix_.empty() ? key : prefix_ + "." + key;
    if constexpr (std::is_arithmetic_v<T> || std::is_same_v<T, std::string> || std::is_same_v<T, toml::table> ||
                  std::is_same_v<T, std::vector<int64_t>> || std::is_same_v<T, std::vector<double>> ||
                  std::is_same_v<T, std::vector<std::string>>) {
      ConfigWriter w;
      w("v", field);
      lines_.push_back(name + " = " + detail::node_to_string(*w.table().get("v")) + (doc && *doc ? "    # " + std::string(doc) : ""));
    } else if constexpr (std::is_same_v<T, Choice>) {
      lines_.push_back(name + ".name = \"" + field.name + "\"" + (doc && *doc ? "    # " + std::string(doc) : ""));
    } else {
      ConfigDoc sub(name);
      const_cast<T&>(field).visit(sub);
      lines_.insert(lines_.end(), sub.lines_.begin(), sub.lines_.end());
    }
  }
  const std::vector<std::string>& lines() const { return lines_; }

 private:
  std::string prefix_;
  std::vector<std::string> lines_;
};

// Binds a whole struct from a table, rejecting unknown keys.
template <class S>
void bind(const toml::table& t, S& s, const std::string& path = "") {
  ConfigReader r(&t, path);
  s.visit(r);
  r.finish();
}
template <class S>
toml::table unbind(const S& s) {
  ConfigWriter w;
  const_cast<S&>(s).visit(w);
  return std::move(w.table());
}

// --- layering ---------------------------------------------------------------------------------

// Deep merge: tables merge key by key, everything else in `over` replaces what is in `base`.
void merge_into(toml::table& base, const toml::table& over);
// A Choice written as its name alone (parent[key] = "adamw") becomes the table form
// {name = "adamw"}, so that options can be added beside the name; anything else is left alone.
void widen_choice(toml::table& parent, const std::string& key);

// Parses a TOML file; errors name the file, line and column.
toml::table parse_toml_file(const std::string& path);
toml::table parse_toml_string(const std::string& text, const std::string& source_name);

// Applies `key.path=value`: the value is parsed as a TOML value (3e-4, true, "x", [1,2]); a bare
// word that is not valid TOML is taken as a string. Intermediate tables are created. `flag` names
// the command-line option in messages.
void apply_override(toml::table& t, const std::string& assignment, const std::string& flag = "--set");

// Resolves a config name: an existing file path, or the name of a preset (configs/NAME.toml,
// embedded in the binary). A file may start from another with `base = "name-or-path"`.
toml::table load_config(const std::string& name_or_path);

// Layers: each config in order, then the --set overrides.
toml::table load_layered(const std::vector<std::string>& configs, const std::vector<std::string>& sets);

// Names of the embedded presets and their text.
std::vector<std::string> preset_names();
const char* preset_text(const std::string& name);  // nullptr when unknown

std::string to_toml_string(const toml::table& t);

}  // namespace lmforge
