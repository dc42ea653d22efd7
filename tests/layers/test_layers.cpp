// The layering of lib/eye, checked on the include graph as the compiler sees it: every
// translation unit of compile_commands.json (and every header on its own) is run through the
// preprocessor with -H, and each include that reaches up to a higher layer, or across to a peer, is
// a failure.

#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <sys/wait.h>
#include <thread>
#include <tuple>
#include <unordered_map>
#include <vector>

#include <catch2/catch.hpp>
#include <fmt/format.h>
#include <rapidjson/document.h>

#include "support/temp_dir.hpp"

namespace fs = std::filesystem;

using eye::testing::TempDir;

namespace {

struct Layer {
    std::string_view folder;
    int rank;
};

// The layers of lib/eye/<folder>/ from bottom to top, as docs/architecture.md describes them. A
// file may include its own folder (subfolders included) or a folder of strictly lower rank; folders
// of equal rank are peers and must not include each other. `apps` is apps/<exe>/main.cpp.
constexpr std::array<Layer, 15> k_layers{{
    {"core", 0},
    {"json", 1},
    {"log", 2},
    {"config", 3},
    {"http", 3},
    {"schedule", 3},
    {"db", 4},
    {"services", 5},
    {"analyzers", 6},
    {"queue", 7},
    {"learning", 7},
    {"runner", 8},
    {"tasks", 9},
    {"commands", 10},
    {"apps", 11},
}};

constexpr std::string_view k_no_layer_hint =
    "add it to the table in tests/layers/test_layers.cpp and to docs/architecture.md";

std::optional<int> rank_of(std::string_view folder) {
    for (const Layer& layer : k_layers) {
        if (layer.folder == folder) {
            return layer.rank;
        }
    }
    return std::nullopt;
}

fs::path canonical_path(const fs::path& path) {
    std::error_code error;
    fs::path canonical = fs::weakly_canonical(path, error);
    return error ? path.lexically_normal() : canonical;
}

// A file of the project: its path from the source root and its layer folder ("tasks" for
// lib/eye/tasks/monitor/x.hpp, "apps" for apps/eye/main.cpp, "" for a file right in lib/eye).
struct Place {
    std::string relative;
    std::string folder;
};

std::optional<Place> place_of(const fs::path& file, const fs::path& root) {
    fs::path relative = file.lexically_relative(root);
    std::vector<std::string> parts;
    for (const fs::path& part : relative) {
        parts.push_back(part.string());
    }
    if (parts.size() >= 3 && parts[0] == "lib" && parts[1] == "eye") {
        return Place{relative.generic_string(), parts.size() == 3 ? "" : parts[2]};
    }
    if (parts.size() >= 2 && parts[0] == "apps") {
        return Place{relative.generic_string(), "apps"};
    }
    return std::nullopt;
}

std::string display(const fs::path& file, const fs::path& root) {
    auto place = place_of(file, root);
    return place ? place->relative : file.string();
}

// The words of a shell command, each kept as written (quotes and backslashes included), so that
// joining them with spaces gives back a command the shell reads the same way.
std::vector<std::string> shell_words(std::string_view command) {
    std::vector<std::string> words;
    std::string word;
    bool in_word = false;
    char quote = 0;
    for (size_t i = 0; i < command.size(); ++i) {
        char c = command[i];
        if (quote == 0 && (c == ' ' || c == '\t' || c == '\n')) {
            if (in_word) {
                words.push_back(word);
                word.clear();
                in_word = false;
            }
            continue;
        }
        in_word = true;
        word += c;
        if (c == '\\' && quote != '\'' && i + 1 < command.size()) {
            word += command[++i];
        } else if (quote == 0 && (c == '\'' || c == '"')) {
            quote = c;
        } else if (c == quote) {
            quote = 0;
        }
    }
    if (in_word) {
        words.push_back(word);
    }
    return words;
}

// What the shell makes of one word of shell_words.
std::string unquoted(std::string_view word) {
    std::string value;
    char quote = 0;
    for (size_t i = 0; i < word.size(); ++i) {
        char c = word[i];
        if (c == '\\' && quote != '\'' && i + 1 < word.size()) {
            char next = word[i + 1];
            if (quote == '"' && std::string_view("$`\"\\\n").find(next) == std::string_view::npos) {
                value += c;
            } else {
                value += next;
                ++i;
            }
        } else if (quote == 0 && (c == '\'' || c == '"')) {
            quote = c;
        } else if (quote != 0 && c == quote) {
            quote = 0;
        } else {
            value += c;
        }
    }
    return value;
}

std::string shell_quote(std::string_view value) {
    std::string quoted = "'";
    for (char c : value) {
        if (c == '\'') {
            quoted += "'\\''";
        } else {
            quoted += c;
        }
    }
    return quoted + "'";
}

// One run of the preprocessor that prints the include tree of `source` on stderr.
struct Compile {
    fs::path source;
    fs::path directory;
    std::string command;
};

// A compile command turned into a preprocessor run of `source_words` that writes no object, no
// dependency file and no warnings, only the -H tree.
std::string include_tree_command(const std::vector<std::string>& words, const fs::path& directory,
                                 const fs::path& compiled_file, std::string_view source_words) {
    const fs::path compiled = (directory / compiled_file).lexically_normal();
    std::string command;
    for (size_t i = 0; i < words.size(); ++i) {
        std::string value = unquoted(words[i]);
        if (value == "-o" || value == "-MF" || value == "-MT" || value == "-MQ") {
            ++i;
            continue;
        }
        if (value == "-c" || value == "-MD" || value == "-MMD" ||
            (directory / value).lexically_normal() == compiled) {
            continue;
        }
        command += words[i] + " ";
    }
    return command + "-E -H -o /dev/null -w " + std::string(source_words);
}

struct CompileDatabase {
    std::vector<Compile> compiles;
    std::vector<std::string> problems;
    // The words of a library entry and the file it compiles, to run files that have no entry.
    std::vector<std::string> library_words;
    fs::path library_directory;
    fs::path library_file;
};

// The entries of compile_commands.json for files under lib/eye and apps/ of `root`.
CompileDatabase read_compile_database(const fs::path& compile_commands, const fs::path& root) {
    CompileDatabase database;
    std::ifstream file(compile_commands);
    if (!file) {
        database.problems.push_back(
            fmt::format("cannot read '{}'\nhint: configure the build with cmake first",
                        compile_commands.string()));
        return database;
    }
    std::stringstream text;
    text << file.rdbuf();
    rapidjson::Document document;
    document.Parse(text.str().c_str());
    if (document.HasParseError() || !document.IsArray()) {
        database.problems.push_back(
            fmt::format("'{}' is not a JSON array of compile commands", compile_commands.string()));
        return database;
    }
    for (const auto& entry : document.GetArray()) {
        if (!entry.IsObject() || !entry.HasMember("file") || !entry.HasMember("directory")) {
            continue;
        }
        fs::path directory = entry["directory"].GetString();
        fs::path source = canonical_path(directory / entry["file"].GetString());
        auto place = place_of(source, root);
        if (!place) {
            continue;
        }
        std::vector<std::string> words;
        if (entry.HasMember("command")) {
            words = shell_words(entry["command"].GetString());
        } else if (entry.HasMember("arguments")) {
            for (const auto& argument : entry["arguments"].GetArray()) {
                words.push_back(shell_quote(argument.GetString()));
            }
        }
        if (place->folder != "apps" && database.library_words.empty()) {
            database.library_words = words;
            database.library_directory = directory;
            database.library_file = entry["file"].GetString();
        }
        database.compiles.push_back(
            {source, directory,
             include_tree_command(words, directory, entry["file"].GetString(),
                                  shell_quote(source.string()))});
    }
    return database;
}

// Every file under lib/eye and apps/ that has no entry of its own (the headers, mostly), run on its
// own with the flags of a library entry. -H prints a header only the first time a translation unit
// opens it, so an include is only sure to show in a run where its includer is the main file.
std::vector<Compile> compiles_without_entry(const CompileDatabase& database, const fs::path& root) {
    std::set<fs::path> with_entry;
    for (const Compile& compile : database.compiles) {
        with_entry.insert(compile.source);
    }
    std::vector<Compile> compiles;
    if (database.library_words.empty()) {
        return compiles;
    }
    for (const fs::path& top : {root / "lib/eye", root / "apps"}) {
        std::error_code error;
        for (fs::recursive_directory_iterator it(top, error), end; !error && it != end;
             it.increment(error)) {
            const fs::path& file = it->path();
            std::string extension = file.extension().string();
            if (!it->is_regular_file() ||
                (extension != ".hpp" && extension != ".h" && extension != ".cpp")) {
                continue;
            }
            fs::path source = canonical_path(file);
            if (with_entry.count(source) != 0) {
                continue;
            }
            compiles.push_back(
                {source, database.library_directory,
                 include_tree_command(database.library_words, database.library_directory,
                                      database.library_file,
                                      "-x c++ " + shell_quote(source.string()))});
        }
    }
    std::sort(compiles.begin(), compiles.end(),
              [](const Compile& a, const Compile& b) { return a.source < b.source; });
    return compiles;
}

struct RunResult {
    int exit_code = -1;
    std::string output;
};

// Runs a shell command in `directory` and returns its exit code and its stderr.
RunResult run_capturing_stderr(const std::string& command, const fs::path& directory) {
    std::string shell =
        "{ cd " + shell_quote(directory.string()) + " && " + command + "; } 2>&1 >/dev/null";
    RunResult result;
    FILE* pipe = popen(shell.c_str(), "re");
    if (pipe == nullptr) {
        result.output = "popen failed";
        return result;
    }
    std::array<char, 65536> buffer;
    size_t count = 0;
    while ((count = fread(buffer.data(), 1, buffer.size(), pipe)) > 0) {
        result.output.append(buffer.data(), count);
    }
    int status = pclose(pipe);
    result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return result;
}

struct Edge {
    fs::path from;
    fs::path to;

    bool operator<(const Edge& other) const {
        return std::tie(from, to) < std::tie(other.from, other.to);
    }
};

std::optional<std::pair<size_t, std::string_view>> tree_line(std::string_view line) {
    size_t depth = line.find_first_not_of('.');
    if (depth == 0 || depth == std::string_view::npos || line[depth] != ' ') {
        return std::nullopt;
    }
    return std::make_pair(depth, line.substr(depth + 1));
}

// The includes in a -H tree: a header at depth n was included by the last header printed at depth
// n-1, or by the translation unit itself at depth 1.
std::vector<Edge> include_edges(std::string_view tree, const fs::path& source,
                                const fs::path& directory) {
    std::vector<Edge> edges;
    std::vector<fs::path> chain{source};
    std::unordered_map<std::string, fs::path> canonical;
    std::istringstream lines{std::string(tree)};
    for (std::string line; std::getline(lines, line);) {
        auto parsed = tree_line(line);
        if (!parsed || parsed->first > chain.size()) {
            continue;
        }
        std::string printed(parsed->second);
        auto known = canonical.find(printed);
        if (known == canonical.end()) {
            known = canonical.emplace(printed, canonical_path(directory / printed)).first;
        }
        chain.resize(parsed->first);
        edges.push_back({chain.back(), known->second});
        chain.push_back(known->second);
    }
    return edges;
}

std::string first_lines(std::string_view output, size_t count) {
    std::string lines;
    std::istringstream stream{std::string(output)};
    for (std::string line; count > 0 && std::getline(stream, line);) {
        if (!tree_line(line)) {
            lines += "    " + line + "\n";
            --count;
        }
    }
    return lines;
}

struct IncludeGraph {
    std::set<Edge> edges;
    std::vector<std::string> failures;
};

// Runs the compiles on a few threads and keeps the includes between files of the project.
IncludeGraph read_include_graph(const std::vector<Compile>& compiles, const fs::path& root) {
    IncludeGraph graph;
    std::mutex mutex;
    std::atomic<size_t> next{0};
    auto work = [&] {
        for (size_t i = next++; i < compiles.size(); i = next++) {
            const Compile& compile = compiles[i];
            RunResult run = run_capturing_stderr(compile.command, compile.directory);
            std::vector<Edge> edges = include_edges(run.output, compile.source, compile.directory);
            std::lock_guard<std::mutex> lock(mutex);
            if (run.exit_code != 0) {
                graph.failures.push_back(fmt::format(
                    "preprocessing {} for its include tree failed (exit {}):\n{}",
                    display(compile.source, root), run.exit_code, first_lines(run.output, 10)));
            }
            for (Edge& edge : edges) {
                if (place_of(edge.from, root) && place_of(edge.to, root)) {
                    graph.edges.insert(std::move(edge));
                }
            }
        }
    };
    unsigned thread_count = std::clamp(std::thread::hardware_concurrency(), 2u, 4u);
    std::vector<std::thread> threads;
    for (unsigned i = 0; i < thread_count; ++i) {
        threads.emplace_back(work);
    }
    for (std::thread& thread : threads) {
        thread.join();
    }
    std::sort(graph.failures.begin(), graph.failures.end());
    return graph;
}

std::string no_layer(const Place& place) {
    if (place.folder.empty()) {
        return fmt::format("'{}' sits right in lib/eye, outside every layer folder",
                           place.relative);
    }
    return fmt::format("folder '{}' under lib/eye has no layer: {}", place.folder, k_no_layer_hint);
}

std::vector<std::string> layer_violations(const std::set<Edge>& edges, const fs::path& root) {
    std::vector<std::string> violations;
    for (const Edge& edge : edges) {
        auto from = place_of(edge.from, root);
        auto to = place_of(edge.to, root);
        if (!from || !to || edge.from == edge.to) {
            continue;
        }
        if (!from->folder.empty() && from->folder == to->folder) {
            continue;
        }
        auto from_rank = rank_of(from->folder);
        auto to_rank = rank_of(to->folder);
        std::string line = fmt::format("{} ({}) includes {} ({}): ", from->relative, from->folder,
                                       to->relative, to->folder);
        if (!from_rank) {
            violations.push_back(line + no_layer(*from));
        } else if (!to_rank) {
            violations.push_back(line + no_layer(*to));
        } else if (*to_rank > *from_rank) {
            violations.push_back(line + "a lower layer must not include a higher one");
        } else if (*to_rank == *from_rank) {
            violations.push_back(line + "peers of the same layer must not include each other");
        }
    }
    return violations;
}

std::vector<std::string> unlayered_folders(const fs::path& root) {
    std::vector<std::string> problems;
    std::error_code error;
    for (const auto& entry : fs::directory_iterator(root / "lib/eye", error)) {
        std::string folder = entry.path().filename().string();
        if (entry.is_directory() && !rank_of(folder)) {
            problems.push_back(
                fmt::format("folder '{}' under lib/eye has no layer: {}", folder, k_no_layer_hint));
        }
    }
    if (error) {
        problems.push_back(
            fmt::format("cannot list '{}': {}", (root / "lib/eye").string(), error.message()));
    }
    std::sort(problems.begin(), problems.end());
    return problems;
}

struct LayerReport {
    size_t translation_units = 0;
    size_t files_without_entry = 0;
    size_t edges = 0;
    std::vector<std::string> problems;
};

enum class FilesWithoutEntry { run, skip };

LayerReport check_layers(const fs::path& compile_commands, const fs::path& source_root,
                         FilesWithoutEntry files_without_entry = FilesWithoutEntry::run) {
    const fs::path root = canonical_path(source_root);
    LayerReport report;
    report.problems = unlayered_folders(root);
    CompileDatabase database = read_compile_database(compile_commands, root);
    report.problems.insert(report.problems.end(), database.problems.begin(),
                           database.problems.end());
    std::vector<Compile> compiles = database.compiles;
    report.translation_units = compiles.size();
    if (files_without_entry == FilesWithoutEntry::run) {
        std::vector<Compile> others = compiles_without_entry(database, root);
        report.files_without_entry = others.size();
        compiles.insert(compiles.end(), others.begin(), others.end());
    }
    IncludeGraph graph = read_include_graph(compiles, root);
    report.edges = graph.edges.size();
    report.problems.insert(report.problems.end(), graph.failures.begin(), graph.failures.end());
    std::vector<std::string> violations = layer_violations(graph.edges, root);
    report.problems.insert(report.problems.end(), violations.begin(), violations.end());
    return report;
}

std::string joined(const std::vector<std::string>& lines) {
    std::string text;
    for (const std::string& line : lines) {
        text += line + "\n";
    }
    return text;
}

const fs::path k_compile_commands = fs::path(EYE_BINARY_DIR) / "compile_commands.json";

// The compiler of the real build, so that the miniature trees below are read the same way.
std::string build_compiler() {
    CompileDatabase database = read_compile_database(k_compile_commands, EYE_SOURCE_DIR);
    REQUIRE(database.problems.empty());
    REQUIRE_FALSE(database.library_words.empty());
    return unquoted(database.library_words.front());
}

// A miniature source tree with a compile_commands.json for its .cpp files, as CMake writes it.
// Its headers must differ in content: g++ takes two #pragma once files with the same bytes and
// time stamp for one and opens only the first.
struct MiniTree {
    TempDir dir;
    std::vector<fs::path> sources;

    void write(const std::string& relative, const std::string& text) {
        fs::path file = dir.path / relative;
        fs::create_directories(file.parent_path());
        std::ofstream(file) << text;
        if (file.extension() == ".cpp") {
            sources.push_back(file);
        }
    }

    fs::path compile_commands(const std::vector<std::string>& only = {}) const {
        const std::string compiler = build_compiler();
        std::string entries;
        for (const fs::path& source : sources) {
            std::string relative = source.lexically_relative(dir.path).generic_string();
            if (!only.empty() && std::find(only.begin(), only.end(), relative) == only.end()) {
                continue;
            }
            std::string command =
                fmt::format("{} -std=c++17 -I{} -o {}.o -c {}", compiler,
                            (dir.path / "lib").string(), source.stem().string(), source.string());
            entries += fmt::format(R"({}{{"directory": "{}", "command": "{}", "file": "{}"}})",
                                   entries.empty() ? "" : ",", dir.str(), command, source.string());
        }
        fs::path file = dir.path / (only.empty() ? "compile_commands.json" : "some_commands.json");
        std::ofstream(file) << "[" << entries << "]";
        return file;
    }
};

}  // namespace

TEST_CASE("no file includes a header of a higher layer (read from the compiler's include tree)") {
    auto start = std::chrono::steady_clock::now();
    LayerReport report = check_layers(k_compile_commands, EYE_SOURCE_DIR);
    std::chrono::duration<double> took = std::chrono::steady_clock::now() - start;
    INFO(fmt::format(
        "{} translation units and {} files without an entry read, {} include edges "
        "inside lib/eye and apps/, in {:.1f} s",
        report.translation_units, report.files_without_entry, report.edges, took.count()));
    CHECK(report.translation_units > 0);
    CHECK(report.edges > 0);
    INFO(joined(report.problems));
    CHECK(report.problems.empty());
}

TEST_CASE("an include of a higher layer is reported once, even when seen through another file") {
    MiniTree tree;
    tree.write("lib/eye/core/low.hpp", "#pragma once\n#include \"eye/tasks/high.hpp\"\n");
    tree.write("lib/eye/core/base.hpp", "#pragma once\nstruct Base {};\n");
    tree.write("lib/eye/tasks/high.hpp", "#pragma once\nstruct High {};\n");
    tree.write("lib/eye/tasks/ok.cpp",
               "#include \"eye/core/base.hpp\"\n#include \"eye/tasks/high.hpp\"\n");
    tree.write("lib/eye/core/bad.cpp", "#include \"eye/core/low.hpp\"\n");
    const std::vector<std::string> expected{
        "lib/eye/core/low.hpp (core) includes lib/eye/tasks/high.hpp (tasks): a lower layer must "
        "not include a higher one"};

    LayerReport all = check_layers(tree.compile_commands(), tree.dir.path);
    CHECK(all.translation_units == 2);
    CHECK(all.files_without_entry == 3);
    CHECK(all.problems == expected);

    LayerReport through_bad_cpp = check_layers(tree.compile_commands({"lib/eye/core/bad.cpp"}),
                                               tree.dir.path, FilesWithoutEntry::skip);
    CHECK(through_bad_cpp.translation_units == 1);
    CHECK(through_bad_cpp.problems == expected);

    LayerReport ok_alone = check_layers(tree.compile_commands({"lib/eye/tasks/ok.cpp"}),
                                        tree.dir.path, FilesWithoutEntry::skip);
    CHECK(ok_alone.translation_units == 1);
    CHECK(ok_alone.edges == 2);
    CHECK(ok_alone.problems.empty());
}

TEST_CASE("an include hidden from -H by an include guard is read from its includer's own run") {
    MiniTree tree;
    tree.write("lib/eye/core/low.hpp", "#pragma once\n#include \"eye/tasks/high.hpp\"\n");
    tree.write("lib/eye/tasks/high.hpp", "#pragma once\nstruct High {};\n");
    tree.write("lib/eye/tasks/first.cpp",
               "#include \"eye/tasks/high.hpp\"\n#include \"eye/core/low.hpp\"\n");

    CHECK(check_layers(tree.compile_commands(), tree.dir.path, FilesWithoutEntry::skip)
              .problems.empty());
    CHECK(check_layers(tree.compile_commands(), tree.dir.path).problems ==
          std::vector<std::string>{"lib/eye/core/low.hpp (core) includes lib/eye/tasks/high.hpp "
                                   "(tasks): a lower layer must not include a higher one"});
}

TEST_CASE("peers of the same layer must not include each other") {
    MiniTree tree;
    tree.write("lib/eye/http/client.hpp", "#pragma once\n#include \"eye/config/config.hpp\"\n");
    tree.write("lib/eye/config/config.hpp", "#pragma once\nstruct Config {};\n");
    tree.write("lib/eye/http/client.cpp", "#include \"eye/http/client.hpp\"\n");

    CHECK(check_layers(tree.compile_commands(), tree.dir.path).problems ==
          std::vector<std::string>{"lib/eye/http/client.hpp (http) includes "
                                   "lib/eye/config/config.hpp (config): peers of the same layer "
                                   "must not include each other"});
}

TEST_CASE("a folder under lib/eye that is not in the table of layers is reported") {
    MiniTree tree;
    tree.write("lib/eye/mystery/x.hpp", "#pragma once\nstruct X {};\n");
    tree.write("lib/eye/tasks/uses.cpp", "#include \"eye/mystery/x.hpp\"\n");
    const std::string no_layer =
        "folder 'mystery' under lib/eye has no layer: add it to the table in "
        "tests/layers/test_layers.cpp and to docs/architecture.md";

    CHECK(unlayered_folders(tree.dir.path) == std::vector<std::string>{no_layer});
    CHECK(
        check_layers(tree.compile_commands(), tree.dir.path).problems ==
        std::vector<std::string>{
            no_layer, "lib/eye/tasks/uses.cpp (tasks) includes lib/eye/mystery/x.hpp (mystery): " +
                          no_layer});
}

TEST_CASE("a file the preprocessor cannot read is a failure that names it") {
    MiniTree tree;
    tree.write("lib/eye/core/broken.cpp", "#include \"eye/core/missing.hpp\"\n");

    LayerReport report = check_layers(tree.compile_commands(), tree.dir.path);
    REQUIRE(report.problems.size() == 1);
    CHECK_THAT(report.problems.front(),
               Catch::StartsWith("preprocessing lib/eye/core/broken.cpp for its include tree "
                                 "failed (exit 1):") &&
                   Catch::Contains("missing.hpp"));
}
