#pragma once

#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <sys/types.h>
#include <vector>

// Running the built executables from tests: end-to-end runs check the exit code, the output and
// what the program left in the database.
namespace eye::testing {

// The path of a built program: "eye-monitor" -> "<build>/eye-monitor"; an absolute path stays.
std::string program_path(const std::string& program);

// Environment for a child: eye's own variables from the test's environment are dropped, so a
// developer's EYE_* settings cannot leak into a test; `extra` is added.
using Environment = std::map<std::string, std::string>;

struct ProcessResult {
    int exit_code = -1;  // -1 when killed by a signal
    int signal = 0;
    std::string out;
    std::string err;
    std::chrono::milliseconds elapsed{0};
};

// A child process with its stdout and stderr captured to temporary files.
class Process {
public:
    Process(const std::string& program, const std::vector<std::string>& args,
            const Environment& env);
    ~Process();  // kills the child if it still runs
    Process(const Process&) = delete;
    Process& operator=(const Process&) = delete;

    pid_t pid() const { return m_pid; }
    void signal(int number);
    // Waits for the child to end; throws when it takes longer than `timeout`.
    ProcessResult wait(std::chrono::milliseconds timeout = std::chrono::seconds(60));
    bool running();
    // The output so far.
    std::string out_so_far() const;
    std::string err_so_far() const;

private:
    pid_t m_pid = -1;
    std::string m_out_path;
    std::string m_err_path;
    std::chrono::steady_clock::time_point m_started;
    std::optional<int> m_status;
};

// Runs a program to completion.
ProcessResult run(const std::string& program, const std::vector<std::string>& args,
                  const Environment& env = {},
                  std::chrono::milliseconds timeout = std::chrono::seconds(60));

// The fake AI service and fake Ollama (tests/fakes/fake_services.cpp) in a child process.
class FakeServices {
public:
    // Extra flags such as {"--ai-mode", "html"}; pass ai/ollama to start either fake.
    FakeServices(bool ai, bool ollama, const std::vector<std::string>& flags = {});
    ~FakeServices();
    std::string ai_url() const { return m_ai_url; }
    std::string ollama_url() const { return m_ollama_url; }

private:
    std::unique_ptr<Process> m_process;
    std::string m_ports_file;
    std::string m_ai_url;
    std::string m_ollama_url;
};

}  // namespace eye::testing
