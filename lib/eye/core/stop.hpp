#pragma once

#include "eye/core/units.hpp"

// Graceful shutdown: SIGTERM and SIGINT set a process-wide flag that long work checks between
// units, and wake any wait_for() at once. A second signal asks to stop waiting for the work in
// hand too.
namespace eye::stop {

// Installs the handlers (idempotent). Until then requested() is only set by request().
void install_handlers();

bool requested();
// Whether a stop was asked for twice (Ctrl-C again): waiting for work in hand should end now.
bool requested_again();
// The signal that asked us to stop (SIGTERM, SIGINT), or 0.
int signal_number();
// "SIGTERM", "SIGINT" or "a stop request".
const char* signal_name();

// Asks for a stop from inside the process (tests, a fatal condition in another thread).
void request(int signal_number = 0);
// Forgets a previous request and threads left behind (tests only).
void reset();

// Sleeps up to `timeout`, returning early (true) as soon as a stop is requested.
bool wait_for(Milliseconds timeout);

// A file descriptor that becomes readable when a stop is requested, for poll() loops.
int wake_fd();
// One that becomes readable when it is requested again.
int again_fd();

// Records that threads which would not stop (an analysis stuck in a decoder or a system call)
// are still running. A program's main then ends the process at once after flushing its output,
// rather than run static destructors under them.
void leave_threads_behind();
bool threads_left_behind();

}  // namespace eye::stop
