// Layered TOML configuration: reading, writing, merging, overrides and presets.
#include "lmforge/core/config.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <fstream>
#include <sstream>

namespace lmforge {

namespace detail {

static size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j)
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

std::string closest_key(const std::string& key, const std::vector<std::string>& candidates) {
  std::string best;
  size_t best_d = key.size() / 2 + 2;  // only suggest plausible typos
  for (const auto& c : candidates) {
    size_t d = edit_distance(key, c);
    if (d < best_d) best_d = d, best = c;
  }
  return best;
}

std::string type_name(const toml::node& n) {
  switch (n.type()) {
    case toml::node_type::table: return "a table";
    case toml::node_type::array: return "an array";
    case toml::node_type::string: return "a string";
    case toml::node_type::integer: return "an integer";
    case toml::node_type::floating_point: return "a number";
    case toml::node_type::boolean: return "a boolean";
    default: return "a date/time";
  }
}

std::string node_to_string(const toml::node& n) {
  std::ostringstream os;
  n.visit([&](auto&& x) { os << x; });
  return os.str();
}

}  // namespace detail

using detail::type_name;

void ConfigReader::finish() const {
  if (!table_) return;
  for (const auto& [k, v] : *table_) {
    std::string key(k.str());
    if (std::find(known_.begin(), known_.end(), key) != known_.end()) continue;
    std::string msg = str("unknown config key '", join(key), "'");
    std::string near = detail::closest_key(key, known_);
    if (!near.empty()) msg += str(" (did you mean '", join(near), "'?)");
    std::string keys;
    for (const auto& k2 : known_) keys += (keys.empty() ? "" : ", ") + k2;
    msg += str("; valid keys", path_.empty() ? "" : " in '" + path_ + "'", ": ", keys);
    throw ConfigError(msg);
  }
}

static ConfigError wrong_type(const std::string& where, const char* expected, const toml::node& n) {
  return ConfigError(str("config key '", where, "': expected ", expected, ", got ", type_name(n), " (",
                         detail::node_to_string(n), ")"));
}

void ConfigReader::read(const toml::node& n, int64_t& v, const std::string& where) {
  if (auto x = n.value_exact<int64_t>()) {
    v = *x;
    return;
  }
  // 1e6 written as a float is a common way to give a step count; accept exact integers.
  if (auto d = n.value_exact<double>(); d && *d == std::floor(*d) && std::abs(*d) < 9e15) {
    v = static_cast<int64_t>(*d);
    return;
  }
  throw wrong_type(where, "an integer", n);
}
void ConfigReader::read(const toml::node& n, int& v, const std::string& where) {
  int64_t x = v;
  read(n, x, where);
  v = static_cast<int>(x);
}
void ConfigReader::read(const toml::node& n, double& v, const std::string& where) {
  if (auto x = n.value_exact<double>()) v = *x;
  else if (auto i = n.value_exact<int64_t>()) v = static_cast<double>(*i);
  else throw wrong_type(where, "a number", n);
}
void ConfigReader::read(const toml::node& n, bool& v, const std::string& where) {
  if (auto x = n.value_exact<bool>()) v = *x;
  else throw wrong_type(where, "true or false", n);
}
void ConfigReader::read(const toml::node& n, std::string& v, const std::string& where) {
  if (auto x = n.value_exact<std::string>()) v = *x;
  else throw wrong_type(where, "a string", n);
}
void ConfigReader::read(const toml::node& n, toml::table& v, const std::string& where) {
  if (auto t = n.as_table()) v = *t;
  else throw wrong_type(where, "a table", n);
}

void ConfigReader::read(const toml::node& n, Choice& v, const std::string& where) {
  if (auto s = n.value<std::string>()) {
    v.name = *s;
    v.options = toml::table{};
    return;
  }
  const toml::table* t = n.as_table();
  if (!t) throw wrong_type(where, "a name (string) or a table with 'name'", n);
  v.options = *t;
  if (const toml::node* name = t->get("name")) {
    auto s = name->value<std::string>();
    if (!s) throw wrong_type(where + ".name", "a string", *name);
    v.name = *s;
    v.options.erase("name");
  }  // no name: the field's default component, with these options
}

template <class T, class F>
static void read_array(const toml::node& n, std::vector<T>& v, const std::string& where, const char* what, F get) {
  const toml::array* a = n.as_array();
  if (!a) throw wrong_type(where, what, n);
  v.clear();
  for (size_t i = 0; i < a->size(); ++i) {
    auto x = get((*a)[i]);
    if (!x) throw wrong_type(str(where, "[", i, "]"), what, (*a)[i]);
    v.push_back(*x);
  }
}
void ConfigReader::read(const toml::node& n, std::vector<int64_t>& v, const std::string& where) {
  read_array(n, v, where, "an array of integers", [](const toml::node& e) { return e.value_exact<int64_t>(); });
}
void ConfigReader::read(const toml::node& n, std::vector<double>& v, const std::string& where) {
  read_array(n, v, where, "an array of numbers", [](const toml::node& e) { return e.value<double>(); });
}
void ConfigReader::read(const toml::node& n, std::vector<std::string>& v, const std::string& where) {
  read_array(n, v, where, "an array of strings", [](const toml::node& e) { return e.value_exact<std::string>(); });
}

// --- layering ---------------------------------------------------------------------------------

// Used when a later layer extends a Choice given by name alone, so the name survives the merge.
void widen_choice(toml::table& parent, const std::string& key) {
  toml::node* n = parent.get(key);
  if (!n || !n->is_string()) return;
  toml::table t;
  t.insert("name", *n->value<std::string>());
  parent.insert_or_assign(key, std::move(t));
}

void merge_into(toml::table& base, const toml::table& over) {
  for (const auto& [k, v] : over) {
    if (v.is_table()) widen_choice(base, std::string(k.str()));
    toml::node* existing = base.get(k.str());
    if (existing && existing->is_table() && v.is_table()) {
      merge_into(*existing->as_table(), *v.as_table());
    } else {
      base.insert_or_assign(k, v);
    }
  }
}

static toml::table parse_or_throw(std::string_view text, const std::string& source) {
  try {
    return toml::parse(text, source);
  } catch (const toml::parse_error& e) {
    const auto& b = e.source().begin;
    throw ConfigError(str(source, ":", b.line, ":", b.column, ": invalid TOML: ", e.description()));
  }
}

toml::table parse_toml_string(const std::string& text, const std::string& source_name) {
  return parse_or_throw(text, source_name);
}

toml::table parse_toml_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw InputError(str("cannot read config file '", path, "': ", std::strerror(errno)));
  std::stringstream ss;
  ss << f.rdbuf();
  return parse_or_throw(ss.str(), path);
}

void apply_override(toml::table& t, const std::string& assignment, const std::string& flag) {
  auto eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0)
    throw ConfigError(str(flag, " '", assignment, "': expected key.path=value"));
  std::string key = assignment.substr(0, eq), value = assignment.substr(eq + 1);
  toml::table parsed;
  try {
    parsed = toml::parse("v = " + value);
  } catch (const toml::parse_error&) {
    parsed.insert_or_assign("v", value);  // a bare word: take it as a string
  }
  toml::table* cur = &t;
  size_t start = 0;
  while (true) {
    size_t dot = key.find('.', start);
    std::string part = key.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (part.empty()) throw ConfigError(str(flag, " '", assignment, "': empty component in key"));
    if (dot == std::string::npos) {
      cur->insert_or_assign(part, *parsed.get("v"));
      return;
    }
    widen_choice(*cur, part);
    toml::node* next = cur->get(part);
    if (!next) {
      cur->insert_or_assign(part, toml::table{});
      next = cur->get(part);
    }
    if (!next->is_table())
      throw ConfigError(str(flag, " '", assignment, "': '", key.substr(0, dot), "' is not a table"));
    cur = next->as_table();
    start = dot + 1;
  }
}

static bool file_exists(const std::string& p) {
  std::ifstream f(p);
  return static_cast<bool>(f);
}

static toml::table load_config_depth(const std::string& name, int depth) {
  if (depth > 8) throw ConfigError(str("config '", name, "': 'base' chain is too deep (a cycle?)"));
  toml::table t;
  if (file_exists(name)) {
    t = parse_toml_file(name);
  } else if (const char* text = preset_text(name)) {
    t = parse_toml_string(text, "preset " + name);
  } else {
    std::string names;
    for (const auto& p : preset_names()) names += (names.empty() ? "" : ", ") + p;
    throw InputError(str("config '", name, "': no such file and no such preset (presets: ", names, ")"));
  }
  if (const toml::node* b = t.get("base")) {
    auto base_name = b->value_exact<std::string>();
    if (!base_name) throw ConfigError(str(name, ": 'base' must be a string naming a preset or file"));
    toml::table base = load_config_depth(*base_name, depth + 1);
    t.erase("base");
    merge_into(base, t);
    return base;
  }
  return t;
}

toml::table load_config(const std::string& name_or_path) { return load_config_depth(name_or_path, 0); }

toml::table load_layered(const std::vector<std::string>& configs, const std::vector<std::string>& sets) {
  toml::table t;
  for (const auto& c : configs) merge_into(t, load_config(c));
  for (const auto& s : sets) apply_override(t, s);
  return t;
}

std::string to_toml_string(const toml::table& t) {
  std::ostringstream os;
  os << t << "\n";
  return os.str();
}

}  // namespace lmforge
