#include "eye/core/stop.hpp"

#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <fcntl.h>
#include <mutex>
#include <poll.h>
#include <unistd.h>

namespace eye::stop {
namespace {

std::atomic<bool> g_requested{false};
std::atomic<int> g_signal{0};
std::atomic<int> g_count{0};
std::atomic<bool> g_threads_left_behind{false};
int g_pipe[2] = {-1, -1};
int g_again_pipe[2] = {-1, -1};  // written from the second request on
std::once_flag g_pipe_once;

void make_pipe() {
    std::call_once(g_pipe_once, [] {
        for (int* ends : {g_pipe, g_again_pipe}) {
            if (pipe(ends) == 0) {
                for (int i = 0; i < 2; ++i) {
                    fcntl(ends[i], F_SETFL, fcntl(ends[i], F_GETFL) | O_NONBLOCK);
                    fcntl(ends[i], F_SETFD, FD_CLOEXEC);
                }
            }
        }
    });
}

extern "C" void on_signal(int number) {
    int saved = errno;
    g_signal = number;
    g_requested = true;
    const int count = ++g_count;
    const int fd = count == 1 ? g_pipe[1] : g_again_pipe[1];
    if (fd >= 0) {
        char byte = 1;
        [[maybe_unused]] auto n = write(fd, &byte, 1);
    }
    errno = saved;
}

void drain(int fd) {
    if (fd >= 0) {
        char buffer[64];
        while (read(fd, buffer, sizeof buffer) > 0) {
        }
    }
}

}  // namespace

void install_handlers() {
    make_pipe();
    struct sigaction action {};
    action.sa_handler = on_signal;
    sigemptyset(&action.sa_mask);
    action.sa_flags = 0;  // no SA_RESTART: a blocking poll() should see EINTR
    sigaction(SIGTERM, &action, nullptr);
    sigaction(SIGINT, &action, nullptr);
    // a vanished peer must be an error on the write, not the death of the process
    signal(SIGPIPE, SIG_IGN);
    // so is a file size limit (ulimit -f): EFBIG on the write, reported, nothing left half-written
    signal(SIGXFSZ, SIG_IGN);
}

bool requested() {
    return g_requested.load();
}

bool requested_again() {
    return g_count.load() >= 2;
}

int signal_number() {
    return g_signal.load();
}

const char* signal_name() {
    switch (g_signal.load()) {
        case SIGTERM:
            return "SIGTERM";
        case SIGINT:
            return "SIGINT";
        default:
            return "a stop request";
    }
}

void request(int number) {
    make_pipe();
    on_signal(number);
}

void reset() {
    g_requested = false;
    g_signal = 0;
    g_count = 0;
    g_threads_left_behind = false;
    drain(g_pipe[0]);
    drain(g_again_pipe[0]);
}

bool wait_for(Milliseconds timeout) {
    make_pipe();
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!requested()) {
        auto left =
            std::chrono::duration_cast<Milliseconds>(deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) {
            return false;
        }
        pollfd fd{g_pipe[0], POLLIN, 0};
        poll(&fd, 1, static_cast<int>(std::min<long long>(left.count(), 1000)));
    }
    return true;
}

int wake_fd() {
    make_pipe();
    return g_pipe[0];
}

int again_fd() {
    make_pipe();
    return g_again_pipe[0];
}

void leave_threads_behind() {
    g_threads_left_behind = true;
}

bool threads_left_behind() {
    return g_threads_left_behind.load();
}

}  // namespace eye::stop
