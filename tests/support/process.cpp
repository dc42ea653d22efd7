#include "support/process.hpp"

#include <cstdlib>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <signal.h>
#include <sstream>
#include <stdexcept>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

#include <fmt/format.h>

extern char** environ;

namespace eye::testing {
namespace {

std::string temp_path(const char* what) {
    static int counter = 0;
    const char* dir = std::getenv("TMPDIR");
    return fmt::format("{}/eye-test-{}-{}-{}", dir ? dir : "/tmp", getpid(), counter++, what);
}

std::string read_file(const std::string& path) {
    std::ifstream file(path);
    std::stringstream buffer;
    buffer << file.rdbuf();
    return buffer.str();
}

std::vector<std::string> child_environment(const Environment& extra) {
    std::vector<std::string> env;
    for (char** entry = environ; *entry != nullptr; ++entry) {
        std::string text(*entry);
        // eye's settings come only from the test; libpq's too, or they would point elsewhere
        if (text.rfind("EYE_", 0) == 0 || text.rfind("DATABASE_URL=", 0) == 0 ||
            text.rfind("PG", 0) == 0) {
            continue;
        }
        env.push_back(text);
    }
    for (const auto& [key, value] : extra) {
        env.push_back(key + "=" + value);
    }
    return env;
}

}  // namespace

std::string program_path(const std::string& program) {
    if (!program.empty() && program.front() == '/') {
        return program;  // a system tool: /usr/bin/prlimit
    }
    return fmt::format("{}/{}", EYE_BINARY_DIR, program);
}

Process::Process(const std::string& program, const std::vector<std::string>& args,
                 const Environment& env)
    : m_out_path(temp_path("out")),
      m_err_path(temp_path("err")),
      m_started(std::chrono::steady_clock::now()) {
    std::string path = program.rfind('/', 0) == 0 ? program : program_path(program);
    std::vector<std::string> argv_text{path};
    argv_text.insert(argv_text.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& arg : argv_text) {
        argv.push_back(arg.data());
    }
    argv.push_back(nullptr);
    auto env_text = child_environment(env);
    std::vector<char*> envp;
    for (auto& entry : env_text) {
        envp.push_back(entry.data());
    }
    envp.push_back(nullptr);

    m_pid = fork();
    if (m_pid < 0) {
        throw std::runtime_error(fmt::format("fork failed: {}", std::strerror(errno)));
    }
    if (m_pid == 0) {
        int out = open(m_out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int err = open(m_err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
        int in = open("/dev/null", O_RDONLY);
        dup2(in, 0);
        dup2(out, 1);
        dup2(err, 2);
        // a fresh process group, so a test can signal the child alone
        setpgid(0, 0);
        execve(argv[0], argv.data(), envp.data());
        std::fprintf(stderr, "cannot run %s: %s\n", argv[0], std::strerror(errno));
        _exit(127);
    }
}

Process::~Process() {
    if (m_pid > 0 && !m_status) {
        kill(m_pid, SIGKILL);
        int status = 0;
        waitpid(m_pid, &status, 0);
    }
    unlink(m_out_path.c_str());
    unlink(m_err_path.c_str());
}

void Process::signal(int number) {
    if (m_pid > 0 && !m_status) {
        kill(m_pid, number);
    }
}

bool Process::running() {
    if (m_status) {
        return false;
    }
    int status = 0;
    if (waitpid(m_pid, &status, WNOHANG) == m_pid) {
        m_status = status;
        return false;
    }
    return true;
}

ProcessResult Process::wait(std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (running()) {
        if (std::chrono::steady_clock::now() > deadline) {
            kill(m_pid, SIGKILL);
            int status = 0;
            waitpid(m_pid, &status, 0);
            m_status = status;
            throw std::runtime_error(
                fmt::format("process {} did not finish within {} ms; stderr: {}", m_pid,
                            timeout.count(), read_file(m_err_path)));
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    ProcessResult result;
    result.elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - m_started);
    if (WIFEXITED(*m_status)) {
        result.exit_code = WEXITSTATUS(*m_status);
    } else if (WIFSIGNALED(*m_status)) {
        result.signal = WTERMSIG(*m_status);
    }
    result.out = read_file(m_out_path);
    result.err = read_file(m_err_path);
    return result;
}

std::string Process::out_so_far() const {
    return read_file(m_out_path);
}
std::string Process::err_so_far() const {
    return read_file(m_err_path);
}

ProcessResult run(const std::string& program, const std::vector<std::string>& args,
                  const Environment& env, std::chrono::milliseconds timeout) {
    Process process(program, args, env);
    return process.wait(timeout);
}

FakeServices::FakeServices(bool ai, bool ollama, const std::vector<std::string>& flags)
    : m_ports_file(temp_path("ports")) {
    std::vector<std::string> args;
    if (ai) {
        args.insert(args.end(), {"--ai-port", "0"});
    }
    if (ollama) {
        args.insert(args.end(), {"--ollama-port", "0"});
    }
    args.insert(args.end(), {"--ports-file", m_ports_file});
    args.insert(args.end(), flags.begin(), flags.end());
    m_process = std::make_unique<Process>("tests/eye-fake-services", args, Environment{});
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (true) {
        std::ifstream file(m_ports_file);
        std::string line;
        bool any = false;
        while (std::getline(file, line)) {
            any = true;
            auto eq = line.find('=');
            if (eq == std::string::npos) {
                continue;
            }
            std::string url = "http://127.0.0.1:" + line.substr(eq + 1);
            if (line.rfind("ai=", 0) == 0) {
                m_ai_url = url;
            } else if (line.rfind("ollama=", 0) == 0) {
                m_ollama_url = url;
            }
        }
        if (any) {
            break;
        }
        if (!m_process->running() || std::chrono::steady_clock::now() > deadline) {
            throw std::runtime_error("the fake services did not start: " + m_process->err_so_far());
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
}

FakeServices::~FakeServices() {
    m_process->signal(SIGTERM);
    try {
        m_process->wait(std::chrono::seconds(5));
    } catch (...) {  // the destructor of Process kills it
    }
    unlink(m_ports_file.c_str());
}

}  // namespace eye::testing
