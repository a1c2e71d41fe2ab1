#include "lmforge/core/signals.h"

#include <csignal>
#include <cstdlib>
#include <unistd.h>

namespace lmforge {

static volatile std::sig_atomic_t g_stop = 0;

static void on_signal(int sig) {
  if (g_stop) _exit(128 + sig);
  g_stop = 1;
  const char msg[] = "\nlmforge: stop requested, finishing the step and saving (signal again to abort)\n";
  ssize_t ignored = write(2, msg, sizeof(msg) - 1);
  (void)ignored;
}

void install_stop_handlers() {
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
}
bool stop_requested() { return g_stop != 0; }
void request_stop() { g_stop = 1; }
void clear_stop() { g_stop = 0; }

}  // namespace lmforge
