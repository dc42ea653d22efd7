// eye-bench-analyze: what the builtin analyzer costs per image, on one thread, for bench/analyze.
//
//   eye-bench-analyze analyze [--rounds R] FILE...   analyze_image_bytes on every file
//   eye-bench-analyze decode [--rounds R] FILE...    the decode to at most 512 pixels alone
//   eye-bench-analyze memory [--analyses N] [--first M] FILE...
//   eye-bench-analyze exec -- COMMAND [ARG...]       the CPU time of one child process
//
// analyze and decode read every file into memory once, handle the first file once untimed (the
// start of libvips, the first allocations), then run R (default 3) timed rounds over all the
// files, checking that every round gives the same result. A round's cost is the process's CPU time
// (user + system, getrusage) over the round divided by the number of files; each file's own CPU
// time (CLOCK_PROCESS_CPUTIME_ID around the call) is kept too, for the per-file table. decode is
// what analyze_image_bytes does before it measures anything: decode_image(bytes, 512) with libvips,
// or with the stb decoder of older sources (built with EYE_BENCH_ANALYZE_STB) the whole image
// decoded and then downscale(image, 512).
//
// memory analyzes the files round-robin N times (default 10,000) and reports VmRSS and VmHWM
// from /proc/self/status after M (default 100) analyses and at a few points up to N, as they are;
// at the end VmRSS once more, after malloc_trim(0) has returned glibc's free memory.
//
// exec runs COMMAND, waits for it (wait4) and reports its user and system CPU time and its wall
// time: bench/analyze measures vipsthumbnail with it.
//
// Output: readable lines, then one line "result key=value ..." (analyze and decode also print one
// "file name=... cpu_ms=..." line per file) that bench/analyze parses.
// Exit: 0 done, 2 the bench could not run (a file that does not read or analyze), 64 bad usage.

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <fstream>
#include <iostream>
#include <iterator>
#include <malloc.h>
#include <sstream>
#include <string>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

#include <fmt/format.h>

#include "eye/analyzers/builtin/builtin.hpp"
#include "eye/analyzers/image/decode.hpp"
#include "eye/analyzers/image/resample.hpp"
#include "proc_status.hpp"

namespace {

using eye::bench::status_kb;

using Clock = std::chrono::steady_clock;
namespace analyzers = eye::analyzers;

#ifdef EYE_BENCH_ANALYZE_STB
constexpr const char* k_decoder = "stb";
#else
constexpr const char* k_decoder = "libvips";
#endif
constexpr int k_work_side = 512;

struct Input {
    std::string name;
    std::string bytes;
};

struct CpuTime {
    double user_ms = 0;
    double system_ms = 0;
    double total_ms() const { return user_ms + system_ms; }
};

double ms_of(const timeval& t) {
    return static_cast<double>(t.tv_sec) * 1e3 + static_cast<double>(t.tv_usec) / 1e3;
}

CpuTime cpu_of(const rusage& usage) {
    return {ms_of(usage.ru_utime), ms_of(usage.ru_stime)};
}

// The CPU time of this process so far, all threads (libvips may start its own).
CpuTime process_cpu() {
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    return cpu_of(usage);
}

// The same total at nanosecond resolution, for timing one call.
double process_cpu_ms() {
    timespec now{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &now);
    return static_cast<double>(now.tv_sec) * 1e3 + static_cast<double>(now.tv_nsec) / 1e6;
}

double ms_since(Clock::time_point start) {
    return std::chrono::duration<double, std::milli>(Clock::now() - start).count();
}

double median(std::vector<double> values) {
    std::sort(values.begin(), values.end());
    const std::size_t n = values.size();
    return n % 2 == 1 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

std::string base_name(const std::string& path) {
    const auto slash = path.rfind('/');
    return slash == std::string::npos ? path : path.substr(slash + 1);
}

std::vector<Input> read_inputs(const std::vector<std::string>& paths) {
    std::vector<Input> inputs;
    for (const std::string& path : paths) {
        std::ifstream in(path, std::ios::binary);
        if (!in) {
            throw std::runtime_error(
                fmt::format("cannot read '{}': {}", path, std::strerror(errno)));
        }
        inputs.push_back({base_name(path), std::string(std::istreambuf_iterator<char>(in), {})});
    }
    return inputs;
}

// What one call leaves behind, checked so that a refusal cannot pass for a fast analysis.
struct Outcome {
    int width = 0;
    int height = 0;
    std::string phash;
};

Outcome analyze_once(const Input& input) {
    const eye::AnalysisResult result = analyzers::analyze_image_bytes(input.bytes);
    if (!result.phash || !result.width || !result.height) {
        throw std::runtime_error(
            fmt::format("'{}' was analyzed without a phash or size", input.name));
    }
    return {*result.width, *result.height, *result.phash};
}

Outcome decode_once(const Input& input) {
#ifdef EYE_BENCH_ANALYZE_STB
    const analyzers::Image image = analyzers::decode_image(input.bytes);
    const analyzers::Image work = analyzers::downscale(image, k_work_side);
#else
    const analyzers::Image work = analyzers::decode_image(input.bytes, k_work_side).image;
#endif
    if (work.width < 1 || work.height < 1) {
        throw std::runtime_error(fmt::format("'{}' decoded to nothing", input.name));
    }
    return {work.width, work.height, ""};
}

int run_timed(const std::string& mode, int rounds, const std::vector<std::string>& paths) {
    const bool analyze = mode == "analyze";
    const std::vector<Input> inputs = read_inputs(paths);
    // libvips' start and the first allocations stay out of the rounds
    if (analyze) {
        analyze_once(inputs.front());
    } else {
        decode_once(inputs.front());
    }
    std::vector<Outcome> outcomes(inputs.size());
    const auto n = static_cast<double>(inputs.size());
    std::vector<double> round_ms;
    std::vector<double> round_user_ms;
    std::vector<double> round_system_ms;
    std::vector<double> round_wall_ms;
    std::vector<std::vector<double>> file_ms(inputs.size());
    for (int round = 0; round < rounds; ++round) {
        const CpuTime before = process_cpu();
        const auto started = Clock::now();
        for (std::size_t i = 0; i < inputs.size(); ++i) {
            const double call_started = process_cpu_ms();
            const Outcome outcome = analyze ? analyze_once(inputs[i]) : decode_once(inputs[i]);
            file_ms[i].push_back(process_cpu_ms() - call_started);
            if (round == 0) {
                outcomes[i] = outcome;
            } else if (outcome.phash != outcomes[i].phash || outcome.width != outcomes[i].width) {
                throw std::runtime_error(
                    fmt::format("'{}' gave a different result in round {}", inputs[i].name, round));
            }
        }
        const double wall = ms_since(started);
        const CpuTime after = process_cpu();
        round_user_ms.push_back((after.user_ms - before.user_ms) / n);
        round_system_ms.push_back((after.system_ms - before.system_ms) / n);
        round_ms.push_back(round_user_ms.back() + round_system_ms.back());
        round_wall_ms.push_back(wall / n);
        std::cout << fmt::format(
            "round {}: {:.2f} ms CPU per image (user {:.2f}, sys {:.2f}), wall {:.2f} ms\n",
            round + 1, round_ms.back(), round_user_ms.back(), round_system_ms.back(),
            round_wall_ms.back());
    }
    std::size_t bytes = 0;
    for (std::size_t i = 0; i < inputs.size(); ++i) {
        bytes += inputs[i].bytes.size();
        std::cout << fmt::format("file name={} bytes={} size={}x{} cpu_ms={:.3f}{}\n",
                                 inputs[i].name, inputs[i].bytes.size(), outcomes[i].width,
                                 outcomes[i].height, median(file_ms[i]),
                                 analyze ? " phash=" + outcomes[i].phash : "");
    }
    std::cout << fmt::format(
        "result mode={} decoder={} model_version={} images={} rounds={} mean_bytes={:.0f} "
        "cpu_ms={:.3f} user_ms={:.3f} sys_ms={:.3f} wall_ms={:.3f} min_cpu_ms={:.3f} "
        "max_cpu_ms={:.3f}",
        mode, k_decoder, analyzers::k_builtin_model_version, inputs.size(), rounds,
        static_cast<double>(bytes) / n, median(round_ms), median(round_user_ms),
        median(round_system_ms), median(round_wall_ms),
        *std::min_element(round_ms.begin(), round_ms.end()),
        *std::max_element(round_ms.begin(), round_ms.end()));
    for (const double ms : round_ms) {
        std::cout << fmt::format(" round_cpu_ms={:.3f}", ms);
    }
    std::cout << "\n";
    return 0;
}

int run_memory(long analyses, long first, const std::vector<std::string>& paths) {
    const std::vector<Input> inputs = read_inputs(paths);
    const long long rss_start = status_kb("VmRSS");
    std::vector<long> checkpoints{first, 1'000, 2'500, 5'000, analyses};
    checkpoints.erase(std::remove_if(checkpoints.begin(), checkpoints.end(),
                                     [&](long at) { return at < first || at > analyses; }),
                      checkpoints.end());
    std::sort(checkpoints.begin(), checkpoints.end());
    checkpoints.erase(std::unique(checkpoints.begin(), checkpoints.end()), checkpoints.end());

    std::cout << fmt::format("memory: {} analyses round-robin over {} files, decoder {}\n",
                             analyses, inputs.size(), k_decoder);
    std::cout << fmt::format("RSS before the first analysis: {} kB\n", rss_start);
    std::ostringstream result;
    result << fmt::format("result mode=memory decoder={} analyses={} files={} rss_start_kb={}",
                          k_decoder, analyses, inputs.size(), rss_start);
    const CpuTime cpu_before = process_cpu();
    const auto started = Clock::now();
    std::size_t next = 0;
    for (long done = 1; done <= analyses; ++done) {
        analyze_once(inputs[next]);
        next = (next + 1) % inputs.size();
        if (std::find(checkpoints.begin(), checkpoints.end(), done) == checkpoints.end()) {
            continue;
        }
        const long long rss = status_kb("VmRSS");
        const long long hwm = status_kb("VmHWM");
        std::cout << fmt::format("after {:6} analyses: VmRSS {} kB, VmHWM {} kB\n", done, rss, hwm);
        result << fmt::format(" rss_{}_kb={} hwm_{}_kb={}", done, rss, done, hwm);
    }
    const double wall = ms_since(started);
    const CpuTime cpu = process_cpu();
    const double cpu_ms = (cpu.total_ms() - cpu_before.total_ms()) / static_cast<double>(analyses);
    // only now, so that no reading above follows a trim
    malloc_trim(0);
    const long long trimmed = status_kb("VmRSS");
    std::cout << fmt::format("after malloc_trim(0): VmRSS {} kB\n", trimmed);
    std::cout << fmt::format("{:.2f} ms CPU per analysis, wall {:.1f} s\n", cpu_ms, wall / 1e3);
    result << fmt::format(" trimmed_kb={} cpu_ms={:.3f} wall_s={:.1f}\n", trimmed, cpu_ms,
                          wall / 1e3);
    std::cout << result.str();
    return 0;
}

// Runs argv[0] with its arguments and reports what wait4 says it used.
int run_exec(char** argv) {
    const auto started = Clock::now();
    const pid_t child = fork();
    if (child < 0) {
        throw std::runtime_error(fmt::format("cannot fork: {}", std::strerror(errno)));
    }
    if (child == 0) {
        execvp(argv[0], argv);
        std::cerr << fmt::format("eye-bench-analyze: cannot run '{}': {}\n", argv[0],
                                 std::strerror(errno));
        _exit(127);
    }
    int status = 0;
    rusage usage{};
    if (wait4(child, &status, 0, &usage) < 0) {
        throw std::runtime_error(
            fmt::format("cannot wait for '{}': {}", argv[0], std::strerror(errno)));
    }
    const double wall = ms_since(started);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        std::cerr << fmt::format("eye-bench-analyze: '{}' failed (wait status {})\n", argv[0],
                                 status);
        return 2;
    }
    const CpuTime cpu = cpu_of(usage);
    std::cout << fmt::format(
        "result mode=exec user_ms={:.3f} sys_ms={:.3f} cpu_ms={:.3f} "
        "wall_ms={:.3f} max_rss_kb={}\n",
        cpu.user_ms, cpu.system_ms, cpu.total_ms(), wall, usage.ru_maxrss);
    return 0;
}

constexpr const char* k_usage =
    "usage: eye-bench-analyze analyze|decode [--rounds R] FILE...\n"
    "       eye-bench-analyze memory [--analyses N] [--first M] FILE...\n"
    "       eye-bench-analyze exec -- COMMAND [ARG...]\n";

int usage(const std::string& why) {
    std::cerr << "eye-bench-analyze: " << why << "\n" << k_usage;
    return 64;
}

bool parse_count(const std::string& text, long& out) {
    char* end = nullptr;
    errno = 0;
    const long value = std::strtol(text.c_str(), &end, 10);
    if (text.empty() || *end != '\0' || errno != 0 || value < 1) {
        return false;
    }
    out = value;
    return true;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        return usage("missing mode");
    }
    const std::string mode = argv[1];
    if (mode == "-h" || mode == "--help") {
        std::cout << k_usage;
        return 0;
    }
    try {
        if (mode == "exec") {
            if (argc < 4 || std::string(argv[2]) != "--") {
                return usage("exec needs -- and a command");
            }
            return run_exec(argv + 3);
        }
        if (mode != "analyze" && mode != "decode" && mode != "memory") {
            return usage("unknown mode '" + mode + "'");
        }
        long rounds = 3;
        long analyses = 10'000;
        long first = 100;
        std::vector<std::string> paths;
        for (int i = 2; i < argc; ++i) {
            const std::string arg = argv[i];
            long* target = arg == "--rounds"     ? &rounds
                           : arg == "--analyses" ? &analyses
                           : arg == "--first"    ? &first
                                                 : nullptr;
            if (target == nullptr) {
                if (arg.rfind("--", 0) == 0) {
                    return usage("unknown option '" + arg + "'");
                }
                paths.push_back(arg);
                continue;
            }
            if (i + 1 >= argc || !parse_count(argv[i + 1], *target)) {
                return usage(arg + " needs a number of at least 1");
            }
            ++i;
        }
        if (paths.empty()) {
            return usage("no files");
        }
        if (mode == "memory") {
            return run_memory(analyses, std::min(first, analyses), paths);
        }
        return run_timed(mode, static_cast<int>(rounds), paths);
    } catch (const std::exception& e) {
        std::cerr << "eye-bench-analyze: " << e.what() << "\n";
        return 2;
    }
}
