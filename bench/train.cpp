// eye-bench-train --images N [--dims D] [--seed S] [--apply A] [--threads T]: what the builtin
// trainer's tag model costs, in process, on a synthetic labelled library
// (tests/support/labelled_data.hpp: images whose embeddings cluster by topic, tags from their
// topic with some missing and some wrong).
//
// It builds the library in memory (timed apart: that is not training), splits it held-out with
// learning::is_held_out as eye-train does, trains learning::TagModel with settings.threads = the
// hardware threads, and reports the training's wall time, the resident memory before training
// (the data) and at its peak, the held-out precision/recall/F1 against the majority-tag
// baseline's, the serialized model's size, and what applying the model costs the worker: A
// (default 2,000) fresh AnalysisResults (analyzer builtin, model_version builtin-1, the embedding
// of a held-out image, half its tags as meta_tags) through learning::CurrentModel::apply, each
// timed alone, after 50 untimed ones.
//
// Output: a human-readable block, then one line "result key=value ..." that bench/train parses.
// Exit: 0 done, 2 the bench could not run, 64 bad usage.

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <numeric>
#include <string>
#include <sys/resource.h>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "../tests/support/labelled_data.hpp"
#include "eye/core/analysis_result.hpp"
#include "eye/learning/current_model.hpp"
#include "eye/learning/evaluation.hpp"
#include "eye/learning/tag_model.hpp"
#include "proc_status.hpp"

namespace {

using eye::bench::status_kb;

using Clock = std::chrono::steady_clock;
namespace learning = eye::learning;

double seconds_since(Clock::time_point start) {
    return std::chrono::duration<double>(Clock::now() - start).count();
}

// The CPU time the process has used so far (user + system, all threads), in seconds.
double cpu_seconds() {
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    auto seconds = [](const timeval& t) {
        return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6;
    };
    return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

// The process's peak resident set so far, in kB (Linux reports ru_maxrss in kB).
long long peak_rss_kb() {
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    return usage.ru_maxrss;
}

// Resets VmHWM to the present RSS (Linux: "5" to clear_refs), so that the next VmHWM is the
// peak of what follows. False when the kernel does not allow it.
bool reset_peak() {
    std::ofstream out("/proc/self/clear_refs");
    out << "5";
    out.flush();
    return static_cast<bool>(out);
}

double mb(long long kb) {
    return static_cast<double>(kb) / 1024.0;
}

struct Options {
    std::size_t images = 10'000;
    std::size_t dims = 512;
    std::uint64_t seed = 42;
    std::size_t apply = 2'000;
    int threads = 0;  // 0: the hardware threads
};

int usage(const char* why) {
    std::cerr << "eye-bench-train: " << why
              << "\nusage: eye-bench-train --images N [--dims D] [--seed S] [--apply A] "
                 "[--threads T]\n";
    return 64;
}

}  // namespace

int main(int argc, char** argv) {
    Options options;
    for (int i = 1; i < argc; ++i) {
        const std::string arg = argv[i];
        if (arg == "-h" || arg == "--help") {
            std::cout << "usage: eye-bench-train --images N [--dims D] [--seed S] [--apply A] "
                         "[--threads T]\n";
            return 0;
        }
        if (i + 1 >= argc) {
            return usage(("missing value after " + arg).c_str());
        }
        const std::string value = argv[++i];
        char* end = nullptr;
        const unsigned long long number = std::strtoull(value.c_str(), &end, 10);
        if (value.empty() || *end != '\0') {
            return usage(("not a number: " + arg + " " + value).c_str());
        }
        if (arg == "--images") {
            options.images = number;
        } else if (arg == "--dims") {
            options.dims = number;
        } else if (arg == "--seed") {
            options.seed = number;
        } else if (arg == "--apply") {
            options.apply = number;
        } else if (arg == "--threads") {
            options.threads = static_cast<int>(number);
        } else {
            return usage(("unknown argument " + arg).c_str());
        }
    }
    if (options.images < 100 || options.dims == 0 || options.apply == 0) {
        return usage("--images must be at least 100, --dims and --apply at least 1");
    }
    const int threads = options.threads > 0
                            ? options.threads
                            : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));

    try {
        // 1. the library, in memory
        const long long rss_start = status_kb("VmRSS");
        auto started = Clock::now();
        std::vector<learning::Example> training;
        std::vector<learning::Example> held_out;
        {
            auto library =
                eye::testing::labelled_library(options.images, options.dims, options.seed);
            for (auto& image : library) {
                (learning::is_held_out(image.example.id) ? held_out : training)
                    .push_back(std::move(image.example));
            }
        }
        const double library_s = seconds_since(started);
        const long long rss_before = status_kb("VmRSS");
        const long long peak_before = peak_rss_kb();

        // 2. training
        const bool peak_reset = reset_peak();
        learning::TrainSettings settings;
        settings.threads = threads;
        const double cpu_before = cpu_seconds();
        started = Clock::now();
        learning::TagModel model = learning::TagModel::train(training, settings);
        const double train_s = seconds_since(started);
        const double train_cpu_s = cpu_seconds() - cpu_before;
        const long long peak_after = peak_rss_kb();
        const long long hwm_train = peak_reset ? status_kb("VmHWM") : -1;
        const long long rss_after = status_kb("VmRSS");

        // 3. held-out scores, as eye-train computes them
        started = Clock::now();
        const learning::Scores scores = learning::evaluate(model, held_out);
        const double evaluate_s = seconds_since(started);
        started = Clock::now();
        const learning::Scores baseline = learning::evaluate_baseline(training, held_out);
        const double baseline_s = seconds_since(started);

        // 4. the stored model
        started = Clock::now();
        const std::string bytes = model.serialize();
        const double serialize_s = seconds_since(started);
        started = Clock::now();
        auto loaded = learning::TagModel::deserialize(bytes);
        const double deserialize_s = seconds_since(started);
        if (!loaded) {
            std::cerr << "eye-bench-train: the serialized model does not read back: "
                      << loaded.error() << "\n";
            return 2;
        }

        // 5. the worker's apply, on the model as the worker loads it
        learning::CurrentModel current{{}, std::move(*loaded)};
        current.info.id = 1;
        current.info.version = "tags-1";
        current.info.source = {"builtin", "builtin-1"};
        constexpr std::size_t k_warmup = 50;
        std::vector<eye::AnalysisResult> results;
        results.reserve(k_warmup + options.apply);
        for (std::size_t i = 0; i < k_warmup + options.apply; ++i) {
            const learning::Example& image = held_out[i % held_out.size()];
            eye::AnalysisResult result;
            result.analyzer = "builtin";
            result.model_version = "builtin-1";
            result.description = "a photo";
            result.embedding = image.embedding;
            result.meta_tags = learning::split_tags(image.id, image.tags).context;
            results.push_back(std::move(result));
        }
        std::vector<double> apply_ms;
        apply_ms.reserve(options.apply);
        std::size_t given = 0;
        std::size_t added = 0;
        std::size_t versioned = 0;
        for (std::size_t i = 0; i < results.size(); ++i) {
            eye::AnalysisResult& result = results[i];
            const std::size_t before = result.meta_tags.size();
            const auto t0 = Clock::now();
            current.apply(result);
            const auto t1 = Clock::now();
            if (i < k_warmup) {
                continue;
            }
            apply_ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
            given += before;
            added += result.meta_tags.size() - before;
            versioned += result.model_version == "builtin-1+tags-1" ? 1 : 0;
        }
        if (versioned != apply_ms.size()) {
            std::cerr << fmt::format(
                "eye-bench-train: apply() did not mark {} of {} analyses with the model's "
                "version\n",
                apply_ms.size() - versioned, apply_ms.size());
            return 2;
        }
        const double apply_total = std::accumulate(apply_ms.begin(), apply_ms.end(), 0.0);
        std::vector<double> sorted = apply_ms;
        std::sort(sorted.begin(), sorted.end());
        auto percentile = [&](double p) {
            const auto at = static_cast<std::size_t>(p * static_cast<double>(sorted.size() - 1));
            return sorted[at];
        };
        const double apply_mean = apply_total / static_cast<double>(sorted.size());
        const long long peak_end = peak_rss_kb();
        const double data_mb =
            static_cast<double>(options.images * options.dims * sizeof(float)) / (1024.0 * 1024.0);
        const double model_peak_mb =
            hwm_train >= 0 ? mb(hwm_train - rss_before) : mb(peak_after - rss_before);

        std::cout << fmt::format(
            "== in-process: {} images x {} dims (seed {}), {} training / {} held out, {} "
            "threads\n",
            options.images, options.dims, options.seed, training.size(), held_out.size(), threads);
        std::cout << fmt::format("library built in         {:8.2f} s (not training)\n", library_s);
        std::cout << fmt::format(
            "training                 {:8.2f} s  (CPU {:.2f} s on {} threads; {} tags, {} cells, "
            "threshold {:.2f})\n",
            train_s, train_cpu_s, threads, model.vocabulary().size(), model.cells(),
            model.threshold());
        std::cout << fmt::format(
            "evaluate / baseline      {:8.2f} s / {:.2f} s ({} held-out "
            "images)\n",
            evaluate_s, baseline_s, held_out.size());
        std::cout << fmt::format("RSS at start             {:8.1f} MB\n", mb(rss_start));
        std::cout << fmt::format(
            "RSS before training      {:8.1f} MB  (embeddings alone: {:.1f} "
            "MB; peak so far {:.1f} MB)\n",
            mb(rss_before), data_mb, mb(peak_before));
        std::cout << fmt::format(
            "peak RSS during training {:8.1f} MB  (+{:.1f} MB over the data; "
            "{})\n",
            hwm_train >= 0 ? mb(hwm_train) : mb(peak_after), model_peak_mb,
            hwm_train >= 0 ? "VmHWM reset before training"
                           : "ru_maxrss, the peak could not be reset");
        std::cout << fmt::format(
            "peak RSS (ru_maxrss)     {:8.1f} MB after training, {:.1f} MB "
            "at the end; RSS after training {:.1f} MB\n",
            mb(peak_after), mb(peak_end), mb(rss_after));
        std::cout << fmt::format(
            "held out                 precision {:.3f} recall {:.3f} F1 {:.3f} ({} images, {} "
            "hidden tags, {} predicted)\n",
            scores.precision(), scores.recall(), scores.f1(), scores.images, scores.hidden,
            scores.predicted);
        std::cout << fmt::format(
            "majority-tag baseline    precision {:.3f} recall {:.3f} F1 {:.3f} ({} predicted)\n",
            baseline.precision(), baseline.recall(), baseline.f1(), baseline.predicted);
        std::cout << fmt::format(
            "serialized model         {:8.1f} KB  (serialize {:.1f} ms, "
            "deserialize {:.1f} ms)\n",
            static_cast<double>(bytes.size()) / 1024.0, serialize_s * 1e3, deserialize_s * 1e3);
        std::cout << fmt::format(
            "apply per image          mean {:.3f} ms, p50 {:.3f}, p99 {:.3f}, max {:.3f} ({} "
            "analyses after {} untimed; {:.2f} tags given, {:.2f} added on average)\n",
            apply_mean, percentile(0.5), percentile(0.99), sorted.back(), sorted.size(), k_warmup,
            static_cast<double>(given) / static_cast<double>(sorted.size()),
            static_cast<double>(added) / static_cast<double>(sorted.size()));

        std::cout << fmt::format(
            "result images={} dims={} threads={} training_images={} held_out_images={} "
            "library_s={:.3f} train_s={:.3f} train_cpu_s={:.3f} evaluate_s={:.3f} "
            "baseline_s={:.3f} "
            "rss_before_train_mb={:.1f} peak_before_train_mb={:.1f} train_peak_mb={:.1f} "
            "train_extra_mb={:.1f} peak_rss_mb={:.1f} data_mb={:.1f} tags={} cells={} "
            "threshold={:.2f} precision={:.4f} recall={:.4f} f1={:.4f} baseline_precision={:.4f} "
            "baseline_recall={:.4f} baseline_f1={:.4f} model_kb={:.1f} apply_n={} "
            "apply_mean_ms={:.4f} apply_p50_ms={:.4f} apply_p99_ms={:.4f} apply_max_ms={:.4f} "
            "apply_added={:.2f}\n",
            options.images, options.dims, threads, training.size(), held_out.size(), library_s,
            train_s, train_cpu_s, evaluate_s, baseline_s, mb(rss_before), mb(peak_before),
            hwm_train >= 0 ? mb(hwm_train) : mb(peak_after), model_peak_mb, mb(peak_end), data_mb,
            model.vocabulary().size(), model.cells(), model.threshold(), scores.precision(),
            scores.recall(), scores.f1(), baseline.precision(), baseline.recall(), baseline.f1(),
            static_cast<double>(bytes.size()) / 1024.0, sorted.size(), apply_mean, percentile(0.5),
            percentile(0.99), sorted.back(),
            static_cast<double>(added) / static_cast<double>(sorted.size()));
        return 0;
    } catch (const std::exception& e) {
        std::cerr << "eye-bench-train: " << e.what() << "\n";
        return 2;
    }
}
