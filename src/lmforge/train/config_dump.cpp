// The commented config dump; see config_dump.h.
#include "lmforge/train/config_dump.h"

#include <map>
#include <sstream>

namespace lmforge {

std::string run_config_to_commented_toml(const RunConfig& c) {
  // ConfigDoc writes "section.key = value    # help"; keep key -> help.
  std::map<std::string, std::string> help;
  auto collect = [&](const ConfigDoc& d) {
    for (const std::string& l : d.lines()) {
      const size_t eq = l.find(" = "), hash = l.find("    # ");
      if (eq != std::string::npos && hash != std::string::npos && hash > eq) help[l.substr(0, eq)] = l.substr(hash + 6);
    }
  };
  auto section = [&](const char* prefix, auto copy) {  // visit() is not const
    ConfigDoc d(prefix);
    copy.visit(d);
    collect(d);
  };
  section("run", c.run);
  section("data", c.data);
  section("train", c.train);
  section("eval", c.eval);
  {
    ConfigDoc d("model");
    ModelConfig m = c.model;
    m.visit_scalars(d);
    collect(d);
  }
  // Annotate the lines "key = value" of the tables "[a.b]" that toml++ writes.
  std::istringstream in(to_toml_string(run_config_to_toml(c)));
  std::string out, line, table;
  while (std::getline(in, line)) {
    const size_t b = line.find_first_not_of(' ');
    if (b != std::string::npos && line[b] == '[' && line.back() == ']') {
      table = line.substr(b + 1, line.size() - b - 2);
      if (!table.empty() && table.front() == '[') table = table.substr(1, table.size() - 2);  // [[array]]
    } else if (b != std::string::npos) {
      const size_t eq = line.find(" = ", b);
      const auto it = eq == std::string::npos ? help.end() : help.find(table + "." + line.substr(b, eq - b));
      if (it != help.end() && !it->second.empty()) line += "    # " + it->second;
    }
    out += line + "\n";
  }
  return out;
}

}  // namespace lmforge
