// The component registry: every mixer, norm, feed-forward, optimiser, schedule and task is
// registered once under a name, with an options struct, and chosen by that name in the config.
//
//   static const bool kRegistered = MixerRegistry::add<AttentionOptions>(
//       "attention", "softmax attention", [](const AttentionOptions& o, const LayerContext& c) {
//         return std::make_shared<Attention>(o, c); });
//
// The options of a component come from a TOML table named after it (e.g. [model.block.attention]);
// the registry binds that table to the component's Options struct, so unknown keys and wrong types
// are reported with their full key path before anything is built, and resolve() fills in every
// default for --dump-config.
#pragma once
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "lmforge/core/config.h"

namespace lmforge {

struct NoOptions {
  template <class V>
  void visit(V&) {}
};

// Base: what a factory builds; Ctx: what it is built from; Tag::kKind names the kind of component
// in messages ("mixer", "optimizer"). Tag defaults to Base; give one when Base is a foreign type
// (torch::optim::Optimizer) that cannot carry kKind.
template <class Base, class Ctx, class Tag = Base>
class Registry {
 public:
  using Built = std::shared_ptr<Base>;
  struct Entry {
    std::string doc;
    std::function<Built(const toml::table&, const std::string&, const Ctx&)> build;
    std::function<toml::table(const toml::table&, const std::string&)> resolve;
    std::function<std::vector<std::string>(const std::string&)> describe;
  };

  template <class Options>
  static bool add(const std::string& name, const std::string& doc,
                  std::function<Built(const Options&, const Ctx&)> make) {
    Entry e;
    e.doc = doc;
    e.build = [make](const toml::table& t, const std::string& path, const Ctx& ctx) {
      Options o;
      ::lmforge::bind(t, o, path);
      return make(o, ctx);
    };
    e.resolve = [](const toml::table& t, const std::string& path) {
      Options o;
      ::lmforge::bind(t, o, path);
      return ::lmforge::unbind(o);
    };
    e.describe = [](const std::string& prefix) {
      Options o;
      ConfigDoc d(prefix);
      o.visit(d);
      return d.lines();
    };
    entries().emplace(name, std::move(e));
    return true;
  }

  static bool has(const std::string& name) { return entries().count(name) > 0; }

  // Looks a name up; `where` is the config key that named it.
  static const Entry& at(const std::string& name, const std::string& where) {
    auto it = entries().find(name);
    if (it == entries().end()) {
      std::string names;
      for (const auto& [n, e] : entries()) names += (names.empty() ? "" : ", ") + n;
      const std::string near = detail::closest_key(name, Registry::names());
      throw ConfigError(str("config key '", where, "': unknown ", Tag::kKind, " '", name, "'",
                            near.empty() ? std::string() : str(" (did you mean '", near, "'?)"), " (registered: ", names,
                            ")"));
    }
    return it->second;
  }

  static std::vector<std::string> names() {
    std::vector<std::string> v;
    for (const auto& [n, e] : entries()) v.push_back(n);
    return v;
  }

  static std::map<std::string, Entry>& entries() {
    static std::map<std::string, Entry> m;
    return m;
  }
};

}  // namespace lmforge
