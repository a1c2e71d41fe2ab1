// Layers go one way (docs/ARCHITECTURE.md, "Layers"): scripts/check_layers.sh finds no include of
// src/lmforge/ that reaches up, and it does find one planted in a copy of a tree.
#include <filesystem>
#include <string>

#include <gtest/gtest.h>

#include "../test_util.h"

namespace lmforge {
namespace {

namespace fs = std::filesystem;
using test::TempDir;
using test::write_text;

// The source tree: LMFORGE_TEST_DATA_DIR is <root>/tests/golden.
const fs::path kRoot = fs::path(LMFORGE_TEST_DATA_DIR).parent_path().parent_path();

test::CommandResult check_layers(const std::string& root) {
  return test::run_command("bash '" + (kRoot / "scripts" / "check_layers.sh").string() + "' '" + root + "'");
}

TEST(Layers, NoIncludeReachesUp) {
  const test::CommandResult r = check_layers(kRoot.string());
  EXPECT_EQ(r.code, 0) << r.output;
}

TEST(Layers, CheckFindsAnUpwardInclude) {
  TempDir tmp("layers");
  const fs::path src = fs::path(tmp.path()) / "src" / "lmforge";
  for (const char* d : {"core", "nn", "cli", "data"}) fs::create_directories(src / d);
  write_text((src / "nn" / "ok.h").string(), "#include \"lmforge/core/error.h\"\n#include \"kernel.h\"\n");
  write_text((src / "core" / "bad.cpp").string(), "// a comment\n#include <vector>\n#include \"lmforge/cli/subcommand.h\"\n");
  test::CommandResult r = check_layers(tmp.path());
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find("core/bad.cpp:3: core includes cli"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("nn/ok.h"), std::string::npos) << r.output;

  // A folder the order does not know, and a relative include that hides its folder.
  fs::remove(src / "core" / "bad.cpp");
  fs::create_directories(src / "extras");
  write_text((src / "extras" / "x.h").string(), "#pragma once\n");
  write_text((src / "nn" / "rel.cpp").string(), "#include \"../cli/subcommand.h\"\n");
  r = check_layers(tmp.path());
  EXPECT_EQ(r.code, 1) << r.output;
  EXPECT_NE(r.output.find("folder 'extras' has no place in the layer order"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("nn/rel.cpp:1: includes \"../cli/subcommand.h\""), std::string::npos) << r.output;
}

}  // namespace
}  // namespace lmforge
