// Reading WikiText files (wiki.{train,valid,test}.tokens and the -raw variants) the way the
// published numbers count them (specs/training-and-evaluation.md §10b):
//   - every line is kept, empty ones included; a line becomes its tokens plus one end-of-sequence
//     token, so an empty line is a single eos (fairseq preprocess --only-source);
//   - words = whitespace-separated items + 1 per line (WikiText-103 valid: 217,646; test:
//     245,569), the denominator of word-level perplexity;
//   - bytes = UTF-8 bytes of the original file, newlines included (byte perplexity, bits/byte).
// Files are streamed line by line; nothing holds the whole file.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace lmforge::data {

class Tokenizer;

struct TextCounts {
  int64_t lines = 0;  // a last line without '\n' counts too
  int64_t words = 0;  // whitespace items + 1 end-of-line per line
  int64_t bytes = 0;  // bytes of the file
};

// Counts of a text file; throws InputError naming the file when it cannot be read.
TextCounts count_text(const std::string& path);
// Adds one line (without its '\n') to running counts.
void add_line(TextCounts& c, std::string_view line, bool had_newline = true);

// Streams the file: fn(ids, line_number) gets each line's ids followed by tok.eos_id().
void encode_lines(const Tokenizer& tok, const std::string& path,
                  const std::function<void(const std::vector<int64_t>& ids, int64_t line)>& fn);

// True for an article title line of WikiText: " = Title = " (one '=' each side; section headings
// have two or more). lm-evaluation-harness splits the corpus into documents at these lines.
bool is_article_title(std::string_view line);

}  // namespace lmforge::data
