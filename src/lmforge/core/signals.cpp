#include "lmforge/core/signals.h"

#include <csignal>
#include <cstdlib>
#include <cstring>
#include <unistd.h>

namespace lmforge {

static volatile std::sig_atomic_t g_stop = 0;
static const char kDefaultMessage[] = "\nlmforge: stop requested, finishing the step and saving (signal again to abort)\n";
// Set before the handlers are installed, read only by the handler (length kept: strlen there is
// not async-signal-safe).
static const char* g_message = kDefaultMessage;
static size_t g_message_len = sizeof(kDefaultMessage) - 1;

static void on_signal(int sig) {
  if (g_stop) _exit(128 + sig);
  g_stop = 1;
  ssize_t ignored = write(2, g_message, g_message_len);
  (void)ignored;
}

void install_stop_handlers(const char* message) {
  if (message) {
    g_message = message;
    g_message_len = std::strlen(message);
  }
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);
}
bool stop_requested() { return g_stop != 0; }
void request_stop() { g_stop = 1; }
void clear_stop() { g_stop = 0; }

}  // namespace lmforge
