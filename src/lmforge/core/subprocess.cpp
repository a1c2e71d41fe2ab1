// fork/exec, output files, timeout and resource use; see subprocess.h.
#include "lmforge/core/subprocess.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

#include "lmforge/core/error.h"

namespace lmforge {

namespace {

using Clock = std::chrono::steady_clock;

// Opens an output file for the child (close-on-exec: the child gets it through dup2 only).
int open_output(const std::string& path) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  LMF_REQUIRE(fd >= 0, InputError, "file ", path, ": cannot be opened for writing (", std::strerror(errno), ")");
  return fd;
}

// The child's side, between fork and exec: only async-signal-safe calls.
[[noreturn]] void exec_child(char* const* args, int out_fd, int err_fd, const ProcessOptions& o) {
  if (o.own_group) {
    ::setpgid(0, 0);
    ::signal(SIGINT, SIG_DFL);
    ::signal(SIGTERM, SIG_DFL);
  }
  if (o.null_stdin) {
    const int nul = ::open("/dev/null", O_RDONLY);
    if (nul >= 0) ::dup2(nul, 0);
  }
  if (out_fd >= 0) ::dup2(out_fd, 1);
  if (err_fd >= 0) ::dup2(err_fd, 2);
  ::execvp(args[0], args);
  ::_exit(127);
}

// Waits for the child, calling o.tick and enforcing o.timeout_s; fills status and max_rss_mb.
void wait_child(pid_t pid, const ProcessOptions& o, Clock::time_point t0, ProcessResult& r) {
  const bool poll = o.tick || o.timeout_s > 0;
  const pid_t target = o.own_group ? -pid : pid;
  int sent = 0;
  for (;;) {
    struct rusage ru {};
    int status = 0;
    const pid_t w = ::wait4(pid, &status, poll ? WNOHANG : 0, &ru);
    if (w == pid) {
      r.status = status;
      r.max_rss_mb = static_cast<double>(ru.ru_maxrss) / 1024.0;
      return;
    }
    if (w < 0 && errno != EINTR) {  // lost the child (should not happen): report it as not normal
      r.status = 127 << 8;
      return;
    }
    if (!poll) continue;
    const double secs = std::chrono::duration<double>(Clock::now() - t0).count();
    if (o.timeout_s > 0 && secs > o.timeout_s + 60 * sent) {
      r.timed_out = true;
      ::kill(target, sent == 0 ? SIGINT : SIGKILL);  // graceful first, then hard every minute after
      ++sent;
    }
    if (o.tick) o.tick();
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
}

}  // namespace

int ProcessResult::exit_code() const {
  if (!started) return 127;
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 127;
}

ProcessResult run_process(const std::vector<std::string>& argv, const ProcessOptions& o) {
  LMF_REQUIRE(!argv.empty(), InputError, "run_process: empty command");
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  const int out_fd = o.out_path.empty() ? -1 : open_output(o.out_path);
  int err_fd = out_fd;
  if (o.err_path != o.out_path) {
    try {
      err_fd = o.err_path.empty() ? -1 : open_output(o.err_path);
    } catch (...) {
      if (out_fd >= 0) ::close(out_fd);
      throw;
    }
  }
  ProcessResult r;
  const auto t0 = Clock::now();
  const pid_t pid = ::fork();
  if (pid == 0) exec_child(args.data(), out_fd, err_fd, o);
  if (out_fd >= 0) ::close(out_fd);
  if (err_fd >= 0 && err_fd != out_fd) ::close(err_fd);
  if (pid < 0) return r;
  if (o.own_group) ::setpgid(pid, pid);  // also in the parent: no race with an early kill(-pid)
  r.started = true;
  if (o.on_start) o.on_start(pid);
  wait_child(pid, o, t0, r);
  r.seconds = std::chrono::duration<double>(Clock::now() - t0).count();
  return r;
}

int run_process(const std::vector<std::string>& argv, const std::string& log_path) {
  ProcessOptions o;
  o.out_path = o.err_path = log_path;
  const ProcessResult r = run_process(argv, o);
  LMF_REQUIRE(r.started, InputError, "cannot start ", argv[0], ": fork failed");
  return r.exit_code();
}

std::string describe_exit(int status) {
  if (WIFEXITED(status)) return str("exit code ", WEXITSTATUS(status));
  if (WIFSIGNALED(status)) {
    const int s = WTERMSIG(status);
    const char* name = strsignal(s);
    return str("killed by signal ", s, name ? str(" (", name, ")") : std::string());
  }
  return "ended abnormally";
}

bool program_on_path(const std::string& name) {
  const char* path = std::getenv("PATH");
  if (path == nullptr) return false;
  std::stringstream ss(path);
  std::string dir;
  while (std::getline(ss, dir, ':')) {
    if (dir.empty()) continue;
    std::string full = dir + "/" + name;
    if (::access(full.c_str(), X_OK) == 0) return true;
  }
  return false;
}

std::string file_tail(const std::string& path, size_t max_bytes) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "";
  std::stringstream ss;
  ss << in.rdbuf();
  std::string s = ss.str();
  return s.size() > max_bytes ? s.substr(s.size() - max_bytes) : s;
}

}  // namespace lmforge
