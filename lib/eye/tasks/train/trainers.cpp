#include "eye/tasks/train/trainers.hpp"

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fcntl.h>
#include <fstream>
#include <map>
#include <set>
#include <signal.h>
#include <sys/wait.h>
#include <thread>
#include <unistd.h>

#include <fmt/format.h>

#include "eye/core/error.hpp"
#include "eye/core/stop.hpp"
#include "eye/http/client.hpp"
#include "eye/json/json.hpp"
#include "eye/learning/evaluation.hpp"
#include "eye/log/log.hpp"

namespace eye::tasks {
namespace {

using Clock = std::chrono::steady_clock;
constexpr const char* k_upstream_analyzer = "avinash";

// The builtin trainer's examples: the export's images of the analyzer most of them come from,
// their tags less those an earlier model added.
struct ExportedImages {
    learning::ModelSource source;
    std::vector<learning::Example> training;
    std::vector<learning::Example> held_out;
    long long skipped = 0;  // without an embedding, or of another analyzer
};

ExportedImages read_export(const std::filesystem::path& path) {
    std::ifstream in(path);
    if (!in) {
        throw IoError(
            fmt::format("cannot read the export '{}': {}", path.string(), std::strerror(errno)));
    }
    struct Row {
        learning::Example example;
        learning::ModelSource source;
    };
    std::vector<Row> rows;
    std::map<std::pair<std::string, std::string>, long long> sources;
    std::string line;
    long long number = 0;
    while (std::getline(in, line)) {
        ++number;
        auto document = json::parse(line);
        if (!document || !document->IsObject()) {
            throw TaskFailedError(
                fmt::format("the export '{}' has a line that is not JSON "
                            "(line {})",
                            path.string(), number));
        }
        const auto& d = *document;
        Row row;
        row.example.id = json::get_int(d, "id").value_or(0);
        // an image analyzed before eye, by Avinash-EYE's own job, has no analyzer recorded:
        // its embedding is the AI service's, as the avinash analyzer's is
        row.source.analyzer = json::get_string(d, "analyzer").value_or(k_upstream_analyzer);
        std::string version = json::get_string(d, "model_version").value_or("");
        row.source.model_version = learning::analyzer_version_of(version);
        auto embedding = d.FindMember("embedding");
        if (embedding == d.MemberEnd() || !embedding->value.IsArray() || embedding->value.Empty()) {
            continue;
        }
        for (const auto& value : embedding->value.GetArray()) {
            row.example.embedding.push_back(value.IsNumber() ? value.GetFloat() : 0.0f);
        }
        std::set<std::string> predicted;
        if (auto p = d.FindMember("predicted_tags"); p != d.MemberEnd() && p->value.IsObject()) {
            for (const auto& member : p->value.GetObject()) {
                predicted.insert(member.name.GetString());
            }
        }
        if (auto tags = d.FindMember("meta_tags"); tags != d.MemberEnd() && tags->value.IsArray()) {
            for (const auto& tag : tags->value.GetArray()) {
                if (tag.IsString() && predicted.count(tag.GetString()) == 0) {
                    row.example.tags.emplace_back(tag.GetString(), tag.GetStringLength());
                }
            }
        }
        ++sources[{row.source.analyzer, row.source.model_version}];
        rows.push_back(std::move(row));
    }
    ExportedImages images;
    if (sources.empty()) {
        return images;
    }
    auto most = std::max_element(sources.begin(), sources.end(),
                                 [](const auto& a, const auto& b) { return a.second < b.second; });
    images.source = {most->first.first, most->first.second};
    const std::size_t dimensions = [&] {
        for (const auto& row : rows) {
            if (row.source.analyzer == images.source.analyzer &&
                row.source.model_version == images.source.model_version) {
                return row.example.embedding.size();
            }
        }
        return std::size_t{0};
    }();
    for (auto& row : rows) {
        if (row.source.analyzer != images.source.analyzer ||
            row.source.model_version != images.source.model_version ||
            row.example.embedding.size() != dimensions) {
            ++images.skipped;
            continue;
        }
        (learning::is_held_out(row.example.id) ? images.held_out : images.training)
            .push_back(std::move(row.example));
    }
    return images;
}

void scores_json(json::Writer& w, const char* name, const learning::Scores& scores) {
    w.key(name);
    w.begin_object();
    w.field("precision", scores.precision());
    w.field("recall", scores.recall());
    w.field("f1", scores.f1());
    w.field("images", scores.images);
    w.field("hidden_tags", scores.hidden);
    w.field("predicted_tags", scores.predicted);
    w.field("correct_tags", scores.correct);
    w.end_object();
}

class BuiltinTrainer final : public Trainer {
public:
    std::string name() const override { return "builtin"; }
    std::string export_format() const override { return "jsonl"; }

    TrainingOutput train(const TrainingInput& input) override {
        const auto started = Clock::now();
        ExportedImages images = read_export(input.files.data);
        if (images.training.empty()) {
            throw TaskFailedError("the export has no image with an embedding to learn from",
                                  "analyze images with an analyzer that gives embeddings "
                                  "(builtin, avinash)");
        }
        const auto deadline = started + input.timeout;
        learning::TrainSettings settings;
        settings.threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
        settings.should_stop = [&] {
            return stop::requested() || (input.timeout.count() > 0 && Clock::now() > deadline);
        };
        std::optional<learning::TagModel> model;
        try {
            model = learning::TagModel::train(images.training, settings);
        } catch (const learning::TrainingStopped&) {
            if (stop::requested()) {
                throw TempFailError(fmt::format("training stopped by {}", stop::signal_name()),
                                    "run eye-train again");
            }
            throw TaskFailedError(fmt::format("training took longer than --timeout {}",
                                              format_duration(input.timeout)),
                                  "give it a longer --timeout or export fewer images (--limit)");
        } catch (const std::invalid_argument& e) {
            throw TaskFailedError(fmt::format("cannot learn from the export: {}", e.what()));
        }
        const auto took = std::chrono::duration_cast<Milliseconds>(Clock::now() - started);

        const learning::Scores scores = learning::evaluate(*model, images.held_out);
        const learning::Scores baseline =
            learning::evaluate_baseline(images.training, images.held_out);
        std::optional<learning::Scores> current;
        if (input.current && input.current->info.source.analyzer == images.source.analyzer &&
            input.current->info.source.model_version == images.source.model_version) {
            current = learning::evaluate(input.current->model, images.held_out);
        }

        TrainingOutput output;
        output.model = model->serialize();
        const bool better = !current || scores.f1() >= current->f1();
        output.make_current = better || input.promote_always;

        json::Writer w;
        w.begin_object();
        w.key("source");
        w.begin_object();
        w.field("analyzer", images.source.analyzer);
        w.field("model_version", images.source.model_version);
        w.end_object();
        w.field("training_images", static_cast<long long>(images.training.size()));
        w.field("held_out_images", static_cast<long long>(images.held_out.size()));
        w.field("skipped_images", images.skipped);
        w.field("tags", static_cast<long long>(model->vocabulary().size()));
        w.field("cells", static_cast<long long>(model->cells()));
        w.field("threshold", model->threshold());
        w.field("training_ms", static_cast<long long>(took.count()));
        scores_json(w, "held_out", scores);
        scores_json(w, "baseline", baseline);
        if (current) {
            w.field("compared_with", input.current->info.version);
            scores_json(w, "current_on_same_images", *current);
        }
        w.field("promoted", output.make_current);
        w.end_object();
        output.metrics_json = w.take();
        output.summary = fmt::format(
            "{} tags from {} images; held out {}: precision {:.3f} recall {:.3f} (majority-tag "
            "baseline {:.3f} / {:.3f}){}",
            model->vocabulary().size(), images.training.size(), images.held_out.size(),
            scores.precision(), scores.recall(), baseline.precision(), baseline.recall(),
            current ? fmt::format("; {} had F1 {:.3f}, this one {:.3f}",
                                  input.current->info.version, current->f1(), scores.f1())
                    : std::string());
        return output;
    }
};

class HttpTrainer final : public Trainer {
public:
    explicit HttpTrainer(std::string url, std::string token)
        : m_url(std::move(url)), m_token(std::move(token)) {}
    std::string name() const override { return "http"; }
    std::string export_format() const override { return "jsonl"; }

    TrainingOutput train(const TrainingInput& input) override {
        json::Writer body;
        body.begin_object();
        body.field("training_data_path", input.files.data.string());
        body.field("format", export_format());
        body.field("manifest_path", input.files.manifest.string());
        body.end_object();
        http::Request request;
        request.method = "POST";
        request.url = m_url;
        request.body = body.take();
        request.headers.emplace_back("Content-Type", "application/json");
        request.bearer_token = m_token;
        request.timeouts.total =
            input.timeout.count() > 0 ? input.timeout : Milliseconds(3'600'000);
        request.max_response_bytes = 1024 * 1024;
        http::Client client;
        client.set_abort_check([] { return stop::requested(); });
        auto result = client.send(request);
        if (!result) {
            if (result.error().kind == http::FailureKind::aborted) {
                throw TempFailError(fmt::format("training stopped by {}", stop::signal_name()));
            }
            if (result.error().kind == http::FailureKind::timeout) {
                throw TaskFailedError(
                    fmt::format("the trainer at {} did not answer within "
                                "--timeout {}",
                                m_url, format_duration(input.timeout)));
            }
            throw UnavailableError(
                fmt::format("cannot reach the trainer at {}: {}", m_url, result.error().message),
                "check EYE_TRAIN_URL and that the service is up");
        }
        if (!result->ok()) {
            std::string detail;
            if (auto document = json::parse(result->body); document && document->IsObject()) {
                detail = json::get_string(*document, "detail").value_or("");
            }
            throw TaskFailedError(fmt::format("the trainer at {} answered {}{}", m_url,
                                              result->status,
                                              detail.empty() ? "" : ": " + detail.substr(0, 300)));
        }
        TrainingOutput output;
        json::Writer w;
        w.begin_object();
        w.field("url", m_url);
        w.field("status", static_cast<long long>(result->status));
        if (auto document = json::parse(result->body); document && document->IsObject()) {
            w.key("response");
            w.raw(result->body);
        }
        w.end_object();
        output.metrics_json = w.take();
        output.summary = fmt::format("the trainer at {} answered {}", m_url, result->status);
        return output;
    }

private:
    std::string m_url;
    std::string m_token;
};

class CommandTrainer final : public Trainer {
public:
    explicit CommandTrainer(std::string command) : m_command(std::move(command)) {}
    std::string name() const override { return "command"; }
    std::string export_format() const override { return "avinash"; }

    TrainingOutput train(const TrainingInput& input) override {
        const auto started = Clock::now();
        pid_t pid = fork();
        if (pid < 0) {
            throw TaskFailedError(
                fmt::format("cannot start the trainer: {}", std::strerror(errno)));
        }
        if (pid == 0) {
            setpgid(0, 0);
            setenv("EYE_TRAINING_DATA", input.files.data.c_str(), 1);
            setenv("EYE_TRAINING_MANIFEST", input.files.manifest.c_str(), 1);
            const std::string dir = input.files.data.parent_path().string();
            setenv("EYE_TRAINING_DIR", dir.c_str(), 1);
            int null = open("/dev/null", O_RDONLY);
            if (null >= 0) {
                dup2(null, STDIN_FILENO);
            }
            dup2(STDERR_FILENO, STDOUT_FILENO);  // its output joins eye's log
            execl("/bin/sh", "sh", "-c", m_command.c_str(), static_cast<char*>(nullptr));
            _exit(127);
        }
        setpgid(pid, pid);
        log::info("trainer started (pid {}): {}", pid, m_command);
        int status = 0;
        const char* ended_by = nullptr;
        auto signalled_at = Clock::time_point::max();
        while (true) {
            pid_t done = waitpid(pid, &status, WNOHANG);
            if (done == pid) {
                break;
            }
            if (done < 0 && errno != EINTR) {
                throw TaskFailedError(fmt::format("lost the trainer: {}", std::strerror(errno)));
            }
            const auto now = Clock::now();
            if (!ended_by && stop::requested()) {
                ended_by = "signal";
            } else if (!ended_by && input.timeout.count() > 0 && now - started > input.timeout) {
                ended_by = "timeout";
            }
            if (ended_by && signalled_at == Clock::time_point::max()) {
                kill(-pid, SIGTERM);
                signalled_at = now;
            } else if (ended_by && now - signalled_at > std::chrono::seconds(10)) {
                kill(-pid, SIGKILL);
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
        kill(-pid, SIGKILL);  // what it left running in its group goes with it
        const auto took = std::chrono::duration_cast<Milliseconds>(Clock::now() - started);
        if (ended_by && std::string_view(ended_by) == "signal") {
            throw TempFailError(fmt::format("training stopped by {}", stop::signal_name()),
                                "run eye-train again");
        }
        if (ended_by) {
            throw TaskFailedError(
                fmt::format("the trainer took longer than --timeout {} and was stopped",
                            format_duration(input.timeout)),
                "give it a longer --timeout");
        }
        if (WIFSIGNALED(status)) {
            throw TaskFailedError(
                fmt::format("the trainer was killed by signal {}", WTERMSIG(status)));
        }
        const int code = WEXITSTATUS(status);
        if (code != 0) {
            throw TaskFailedError(fmt::format("the trainer exited with {}{}", code,
                                              code == 127 ? " (command not found)" : ""),
                                  "its output is above in the log");
        }
        TrainingOutput output;
        json::Writer w;
        w.begin_object();
        w.field("command", m_command);
        w.field("exit_code", 0LL);
        w.field("training_ms", static_cast<long long>(took.count()));
        w.end_object();
        output.metrics_json = w.take();
        output.summary =
            fmt::format("the trainer command ended with 0 in {}", format_duration(took));
        return output;
    }

private:
    std::string m_command;
};

}  // namespace

std::unique_ptr<Trainer> make_trainer(const Config& config) {
    if (config.trainer == "http") {
        std::string url = config.train_url;
        if (url.rfind("http://", 0) != 0 && url.rfind("https://", 0) != 0) {
            if (config.ai_url.empty()) {
                throw ConfigError(fmt::format("the http trainer's URL '{}' is a path, and "
                                              "EYE_AI_URL is not set",
                                              url),
                                  "set EYE_TRAIN_URL to an absolute URL, or EYE_AI_URL");
            }
            std::string base = config.ai_url;
            while (!base.empty() && base.back() == '/') {
                base.pop_back();
            }
            url = base + (url.empty() || url.front() != '/' ? "/" : "") + url;
        }
        return std::make_unique<HttpTrainer>(url, config.ai_token);
    }
    if (config.trainer == "command") {
        if (config.train_command.empty()) {
            throw ConfigError("the command trainer has no command",
                              "set EYE_TRAIN_COMMAND, e.g. 'python /app/train_model.py'");
        }
        return std::make_unique<CommandTrainer>(config.train_command);
    }
    return std::make_unique<BuiltinTrainer>();
}

}  // namespace eye::tasks
