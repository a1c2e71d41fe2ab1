// Running another program: the one fork/exec helper of the project. The data layer runs the
// sentencepiece tools with it (data/sentencepiece_train.cpp), the benchmark runs each model in a
// child `lmforge bench-one` and the PyTorch peers (bench/runner.cpp).
#pragma once
#include <sys/types.h>

#include <functional>
#include <string>
#include <vector>

namespace lmforge {

struct ProcessOptions {
  // Where the child's stdout and stderr go (truncated first); "" = inherited. The same path for
  // both gives one file with both streams in order.
  std::string out_path, err_path;
  bool null_stdin = false;  // stdin from /dev/null instead of inherited
  // The child leads its own process group, with SIGINT and SIGTERM at their defaults, so that a
  // signal sent to the group (kill(-pid, ...)) stops it and whatever it started.
  bool own_group = false;
  // > 0: after this many seconds SIGINT (a graceful stop), then SIGKILL each minute after that;
  // sent to the group when own_group.
  double timeout_s = 0;
  std::function<void()> tick;              // called about every 200 ms while the child runs
  std::function<void(pid_t)> on_start;     // called with the child's pid right after it starts
};

struct ProcessResult {
  bool started = false;    // false: fork failed (a program that cannot be executed exits 127)
  bool timed_out = false;  // the timeout was reached and the child was signalled
  int status = 0;          // the wait status (WIFEXITED / WEXITSTATUS / WIFSIGNALED ...)
  double seconds = 0;      // wall time
  double max_rss_mb = 0;   // the child's peak resident memory
  // The shell's convention: the exit status, 128 + n when killed by signal n, 127 when not started.
  int exit_code() const;
};

// Runs argv[0] (looked up on PATH when it has no '/') with argv[1..] and waits for it. Throws
// InputError when an output file cannot be opened or argv is empty.
ProcessResult run_process(const std::vector<std::string>& argv, const ProcessOptions& o);

// The common case: stdout and stderr both to log_path. Returns exit_code(); throws InputError
// when the program cannot be started at all (fork failed).
int run_process(const std::vector<std::string>& argv, const std::string& log_path);

// "exit code N", "killed by signal N (Name)" or "ended abnormally", from a wait status.
std::string describe_exit(int status);

// True when `name` is an executable file in one of the PATH directories.
bool program_on_path(const std::string& name);

// The last max_bytes bytes of a file ("" when it cannot be read), for error messages.
std::string file_tail(const std::string& path, size_t max_bytes = 2000);

}  // namespace lmforge
