// Running an external program (the sentencepiece command-line tools) and finding it on PATH.
// The data layer trains subword models with spm_train instead of linking libsentencepiece.
#pragma once
#include <string>
#include <vector>

namespace lmforge::data {

// Runs argv[0] (looked up on PATH) with argv[1..]; its stdout and stderr go to log_path
// (truncated first). Returns the exit status; 127 when the program could not be started, 128+n
// when it was killed by signal n.
int run_process(const std::vector<std::string>& argv, const std::string& log_path);

// True when `name` is an executable file in one of the PATH directories.
bool program_on_path(const std::string& name);

// The last max_bytes bytes of a file ("" when it cannot be read), for error messages.
std::string file_tail(const std::string& path, size_t max_bytes = 2000);

}  // namespace lmforge::data
