// Helpers for the data-layer tests: a temporary directory removed at scope exit, file writing,
// and the path of a file of ../shared/data (empty when absent, so tests can GTEST_SKIP).
#pragma once
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <string>

namespace lmforge::data::testing {

class TempDir {
 public:
  explicit TempDir(const std::string& tag) {
    static int counter = 0;
    path_ = (std::filesystem::temp_directory_path() /
             ("lmforge_" + tag + "_" + std::to_string(::getpid()) + "_" +
              std::to_string(counter++)))
                .string();
    std::filesystem::remove_all(path_);
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

inline void write_text(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
}

// Full path of a file under ../shared/data, or "" when it does not exist.
inline std::string shared_data(const std::string& rel) {
  std::string p = std::string(LMFORGE_SHARED_DATA_DIR) + "/" + rel;
  return std::filesystem::exists(p) ? p : std::string();
}

// A few thousand lines of WikiText-like text from a fixed seed: pseudo-words over a Zipf-ish
// distribution, " @-@ " joins, "<unk>", " = heading = " lines, empty lines, leading spaces.
inline std::string synthetic_corpus(int lines, unsigned seed = 7) {
  std::mt19937 rng(seed);
  const char* syll[] = {"ka", "lo", "ri", "the", "an", "ed", "ing", "er", "s", "mo", "qu", "é", "ß"};
  std::vector<std::string> words;
  for (int i = 0; i < 3000; ++i) {
    std::string w;
    int n = 1 + static_cast<int>(rng() % 4);
    for (int k = 0; k < n; ++k) {
      if (rng() % 3 == 0) w += static_cast<char>('a' + rng() % 26);
      else w += syll[rng() % 13];
    }
    words.push_back(w);
  }
  std::string out;
  for (int l = 0; l < lines; ++l) {
    int kind = static_cast<int>(rng() % 10);
    if (kind == 0) { out += "\n"; continue; }
    if (kind == 1) { out += " = " + words[rng() % 50] + " = \n"; continue; }
    out += " ";
    int n = 3 + static_cast<int>(rng() % 25);
    for (int k = 0; k < n; ++k) {
      double u = std::uniform_real_distribution<double>(0, 1)(rng);
      size_t idx = static_cast<size_t>(u * u * u * words.size());
      int r = static_cast<int>(rng() % 40);
      out += r == 0 ? "<unk>" : r == 1 ? "@-@" : r == 2 ? "," : r == 3 ? "1999" : words[idx];
      out += " ";
    }
    out += ".\n";
  }
  return out;
}

}  // namespace lmforge::data::testing
