// SIGINT/SIGTERM ask long jobs to stop at the next safe point (the trainer saves a checkpoint and
// exits; the bench suite writes its partial report). A second signal exits at once.
#pragma once

namespace lmforge {
void install_stop_handlers();
bool stop_requested();
void request_stop();  // for tests
void clear_stop();
}  // namespace lmforge
