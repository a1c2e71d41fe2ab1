// WikiText reading and counting; see wikitext.h.
#include "lmforge/data/wikitext.h"

#include "lmforge/data/text_util.h"
#include "lmforge/data/tokenizer.h"

namespace lmforge::data {

void add_line(TextCounts& c, std::string_view line, bool had_newline) {
  c.lines += 1;
  c.words += count_words(line) + 1;
  c.bytes += static_cast<int64_t>(line.size()) + (had_newline ? 1 : 0);
}

TextCounts count_text(const std::string& path) {
  TextCounts c;
  for_each_line(path, [&](std::string_view line, int64_t) {
    add_line(c, line);
    return true;
  });
  // for_each_line cannot tell whether the last line ended with '\n'; the file size can.
  std::FILE* f = std::fopen(path.c_str(), "rb");
  if (f != nullptr) {
    std::fseek(f, 0, SEEK_END);
    c.bytes = std::ftell(f);
    std::fclose(f);
  }
  return c;
}

void encode_lines(const Tokenizer& tok, const std::string& path,
                  const std::function<void(const std::vector<int64_t>&, int64_t)>& fn) {
  const int64_t eos = tok.eos_id();
  std::string buf;
  for_each_line(path, [&](std::string_view line, int64_t number) {
    buf.assign(line);
    std::vector<int64_t> ids = tok.encode(buf);
    ids.push_back(eos);
    fn(ids, number);
    return true;
  });
}

bool is_article_title(std::string_view line) {
  while (!line.empty() && is_space(line.back())) line.remove_suffix(1);
  while (!line.empty() && is_space(line.front())) line.remove_prefix(1);
  return line.size() >= 5 && line.substr(0, 2) == "= " && line[2] != '=' &&
         line.substr(line.size() - 2) == " =" && line[line.size() - 3] != '=';
}

}  // namespace lmforge::data
