// Local multi-process launch; see launch.h.
#include "lmforge/train/launch.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

#include "lmforge/core/error.h"
#include "lmforge/core/log.h"

namespace lmforge {

namespace {

std::atomic<int> g_forward{0};  // a signal to pass on to the ranks

void on_signal(int sig) {
  if (sig == SIGTERM) g_forward = SIGTERM;
  // SIGINT: the ranks received it too (same process group); they save and stop.
}

std::vector<std::string> own_arguments() {
  std::ifstream f("/proc/self/cmdline", std::ios::binary);
  std::string all((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  std::vector<std::string> args;
  size_t start = 0;
  for (size_t i = 0; i < all.size(); ++i)
    if (all[i] == '\0') args.push_back(all.substr(start, i - start)), start = i + 1;
  LMF_REQUIRE(!args.empty(), UserError, "--nproc: cannot read this process's arguments from /proc/self/cmdline");
  return args;
}

// A port that is free now (the ranks bind it moments later: a small race, as in torchrun).
int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  LMF_REQUIRE(fd >= 0, UserError, "--nproc: cannot open a socket to find a free port: ", std::strerror(errno));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof(a);
  const bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0 &&
                  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0;
  ::close(fd);
  LMF_REQUIRE(ok, UserError, "--nproc: cannot find a free port on 127.0.0.1: ", std::strerror(errno));
  return ntohs(a.sin_port);
}

std::string describe(int status) {
  if (WIFSIGNALED(status)) {
    const int sig = WTERMSIG(status);
    const char* name = ::strsignal(sig);
    return str("was killed by signal ", sig, " (", name ? name : "?", ")");
  }
  return str("exited with code ", WEXITSTATUS(status));
}

}  // namespace

int launch_local(int nproc, bool quiet) {
  LMF_REQUIRE(nproc >= 1 && nproc <= 1024, UserError, "--nproc ", nproc, ": expected 1 to 1024 processes");
  const std::vector<std::string> args = own_arguments();
  const char* env_port = std::getenv("MASTER_PORT");
  const int port = env_port && *env_port ? std::atoi(env_port) : free_port();
  LMF_REQUIRE(port > 0 && port < 65536, UserError, "MASTER_PORT='", env_port ? env_port : "", "': expected a port number");

  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  struct sigaction old_int {}, old_term {};
  ::sigaction(SIGINT, &sa, &old_int);
  ::sigaction(SIGTERM, &sa, &old_term);

  std::vector<pid_t> pids(nproc, -1);
  for (int r = 0; r < nproc; ++r) {
    const pid_t pid = ::fork();
    LMF_REQUIRE(pid >= 0, UserError, "--nproc: fork failed for rank ", r, ": ", std::strerror(errno));
    if (pid == 0) {
      ::sigaction(SIGINT, &old_int, nullptr);
      ::sigaction(SIGTERM, &old_term, nullptr);
      ::setenv("RANK", std::to_string(r).c_str(), 1);
      ::setenv("LOCAL_RANK", std::to_string(r).c_str(), 1);
      ::setenv("WORLD_SIZE", std::to_string(nproc).c_str(), 1);
      ::setenv("LOCAL_WORLD_SIZE", std::to_string(nproc).c_str(), 1);
      ::setenv("MASTER_ADDR", "127.0.0.1", 1);
      ::setenv("MASTER_PORT", std::to_string(port).c_str(), 1);
      std::vector<char*> argv;
      for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
      argv.push_back(nullptr);
      ::execv("/proc/self/exe", argv.data());
      std::fprintf(stderr, "lmforge: error: rank %d: cannot run /proc/self/exe: %s\n", r, std::strerror(errno));
      ::_exit(127);
    }
    pids[r] = pid;
  }
  if (!quiet) log_line(str("lmforge: started ", nproc, " ranks on 127.0.0.1:", port));

  using Clock = std::chrono::steady_clock;
  int running = nproc, first_failed = -1, first_status = 0;
  Clock::time_point kill_at{};
  const auto grace = std::chrono::seconds(5);
  while (running > 0) {
    if (int sig = g_forward.exchange(0))
      for (pid_t p : pids)
        if (p > 0) ::kill(p, sig);
    int status = 0;
    const pid_t pid = ::waitpid(-1, &status, WNOHANG);
    if (pid > 0) {
      for (int r = 0; r < nproc; ++r) {
        if (pids[r] != pid) continue;
        pids[r] = -1;
        --running;
        const bool ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
        if (!ok && first_failed < 0) {
          first_failed = r, first_status = status;
          kill_at = Clock::now() + grace;
        }
      }
      continue;
    }
    if (pid < 0 && errno != EINTR) break;  // no children left
    if (first_failed >= 0 && Clock::now() >= kill_at)
      for (pid_t& p : pids)
        if (p > 0) ::kill(p, SIGKILL);
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  ::sigaction(SIGINT, &old_int, nullptr);
  ::sigaction(SIGTERM, &old_term, nullptr);
  if (first_failed >= 0)
    throw UserError(str("rank ", first_failed, " of ", nproc, " ", describe(first_status),
                        "; the other ranks were stopped"));
  return 0;
}

}  // namespace lmforge
