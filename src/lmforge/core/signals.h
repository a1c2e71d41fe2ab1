// SIGINT/SIGTERM ask long jobs to stop at the next safe point (the trainer saves a checkpoint and
// exits; the bench suite writes its partial report). A second signal exits at once.
#pragma once

namespace lmforge {
// message: what the first signal prints (a string with static storage); null = the trainer's.
void install_stop_handlers(const char* message = nullptr);
bool stop_requested();
void request_stop();  // for tests
void clear_stop();
}  // namespace lmforge
