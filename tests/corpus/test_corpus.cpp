// The image pipeline on corpora the test generates (tests/corpus/make_corpus, with ImageMagick,
// the libvips tools and exiftool): every format, every EXIF orientation, 50 megapixels, 16 bits,
// CMYK, grey+alpha and animation analyzed with the size a viewer sees; and the hostile files
// (a PNG bomb, lying headers, 10,000 scans, truncated and corrupt files, a FIFO, a directory,
// links out of the media root) refused for good with one clear line each, by an eye-worker at
// --concurrency 2 whose peak memory stays under 400 MB.
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include "eye/analyzers/builtin/builtin.hpp"
#include "support/analysis.hpp"
#include "support/database.hpp"
#include "support/fixtures.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"

using eye::testing::TempDir;
using eye::testing::TestDatabase;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

// An eye-worker at `concurrency` over the images `paths` (relative to root), queued in `db`,
// with GNU time reporting its peak resident set.
struct WorkerRun {
    long peak_kb = 0;
    std::chrono::milliseconds elapsed{0};
};

WorkerRun run_worker(const TestDatabase& db, const fs::path& root,
                     const std::vector<std::string>& paths, int concurrency) {
    TempDir state;
    for (const auto& path : paths) {
        db.execute(
            fmt::format("INSERT INTO media_files (file_path, processing_status, created_at, "
                        "updated_at) VALUES ('{}', 'pending', now(), now())",
                        path));
    }
    db.execute("INSERT INTO eye.jobs (media_id, reason) SELECT id, 'test' FROM media_files");
    auto worker = eye::testing::run(
        "/usr/bin/time",
        {"-f", "peak_rss_kb=%M", eye::testing::program_path("eye-worker"), "--stop-when-empty",
         fmt::format("--concurrency={}", concurrency), "--analyzer=builtin"},
        {{"EYE_DATABASE_URL", db.url()},
         {"EYE_MEDIA_ROOT", root.string()},
         {"EYE_STATE_DIR", state.str()}},
        300s);
    INFO(worker.err);
    REQUIRE(worker.exit_code == 0);
    const auto at = worker.err.rfind("peak_rss_kb=");
    REQUIRE(at != std::string::npos);
    return {std::stol(worker.err.substr(at + 12)), worker.elapsed};
}

// One corpus per test binary: making it takes some seconds.
const fs::path& corpus() {
    static TempDir dir;
    static const fs::path out = [] {
        const fs::path path = dir.path / "corpus";
        auto made = eye::testing::run(fs::path(EYE_SOURCE_DIR) / "tests/corpus/make_corpus",
                                      {eye::testing::k_images.string(), path.string(), "--tool",
                                       eye::testing::program_path("tests/eye-test-hostile-image")},
                                      {}, 300s);
        INFO(made.err);
        REQUIRE(made.exit_code == 0);
        return path;
    }();
    return out;
}

// The rows of a tsv file after its header, split at tabs.
std::vector<std::vector<std::string>> rows_of(const fs::path& tsv) {
    std::ifstream in(tsv);
    std::vector<std::vector<std::string>> rows;
    std::string line;
    std::getline(in, line);
    while (std::getline(in, line)) {
        std::vector<std::string> fields;
        std::istringstream split(line);
        for (std::string field; std::getline(split, field, '\t');) {
            fields.push_back(field);
        }
        rows.push_back(fields);
    }
    return rows;
}

// Damage inside the compressed picture of a format whose codec has no checksum (VP8, HEVC, AV1)
// decodes without any error, into the garbled image every viewer shows; the decoders cannot tell,
// so neither can eye. Damage to their structure and truncation are refused (the other kinds).
const std::set<std::string> k_undetectable = {"corrupt-webp", "corrupt-heic", "corrupt-avif"};

}  // namespace

TEST_CASE("every format and shape of the good corpus is analyzed at the size a viewer sees") {
    const auto rows = rows_of(corpus() / "good.tsv");
    REQUIRE(rows.size() >= 25);
    for (const auto& row : rows) {
        REQUIRE(row.size() == 4);
        INFO(row[0]);
        const auto result = eye::analyzers::analyze_image_bytes(
            eye::testing::read_file(corpus() / "good" / row[0]));
        CHECK(fmt::format("{}x{}", *result.width, *result.height) ==
              fmt::format("{}x{}", row[1], row[2]));
        CHECK(*result.mime_type == row[3]);
        CHECK(result.embedding->size() == 512);
        CHECK(!result.description->empty());
    }
}

TEST_CASE("hostile files are refused for good, one line each, in bounded memory") {
    TestDatabase db;
    // hostile/ is the media root: its link leads out of it, to the corpus' outside/
    const fs::path root = corpus() / "hostile";
    std::map<std::string, std::string> kinds;
    for (const auto& row : rows_of(corpus() / "hostile.tsv")) {
        kinds[row[0]] = row[1];
    }
    // the good corpus beside the hostile one, as a library would hold them
    std::vector<std::string> good;
    fs::create_directories(root / "good");
    for (const auto& row : rows_of(corpus() / "good.tsv")) {
        good.push_back("good/" + row[0]);
        fs::create_hard_link(corpus() / "good" / row[0], root / good.back());
    }
    REQUIRE(kinds.size() >= 24);
    std::vector<std::string> paths = good;
    for (const auto& [path, kind] : kinds) {
        paths.push_back(path);
    }
    const WorkerRun worker = run_worker(db, root, paths, 2);
    const long peak_kb = worker.peak_kb;
    WARN("eye-worker --concurrency=2 over "
         << paths.size() << " files: peak RSS " << peak_kb / 1024 << " MB, "
         << std::chrono::duration<double>(worker.elapsed).count() << " s");
    CHECK(peak_kb < 400 * 1024);
    CHECK(worker.elapsed < 120s);

    for (const auto& path : good) {
        INFO(path);
        CHECK(db.query_value(fmt::format("SELECT processing_status || coalesce(processing_error, "
                                         "'') FROM media_files WHERE file_path = '{}'",
                                         path)) == "completed");
    }
    for (const auto& [path, kind] : kinds) {
        INFO(path << " (" << kind << ")");
        const std::string error = db.query_value(
            fmt::format("SELECT CASE processing_status WHEN 'failed' THEN processing_error ELSE "
                        "processing_status END FROM media_files WHERE file_path = '{}'",
                        path));
        CHECK(!error.empty());
        if (k_undetectable.count(kind) != 0) {
            continue;
        }
        CHECK(error != "completed");
        // what the line says, by kind: the reason, not just that something went wrong
        const std::map<std::string, std::string> says = {
            {"png-bomb", "PNG decompression bomb: "},
            {"huge-dimensions", "image is too large: "},
            {"many-scans", "JPEG with too many scans: more than 500"},
            {"empty", "not a supported image (the file is empty)"},
            {"text", "not a supported image (looks like text)"},
            {"fifo", "not a regular file"},
            {"directory", "not a regular file"},
            {"symlink-escape", "leads outside EYE_MEDIA_ROOT"},
            {"symlink-outside", "leads outside EYE_MEDIA_ROOT"}};
        if (auto expected = says.find(kind); expected != says.end()) {
            CHECK_THAT(error, Catch::Contains(expected->second));
        } else {
            CHECK_THAT(error, Catch::StartsWith("truncated ") || Catch::StartsWith("corrupt ") ||
                                  Catch::StartsWith("cannot decode "));
        }
        CHECK(error.find('\n') == std::string::npos);
        CHECK(error.size() < 300);
    }
    // refused for good: one attempt each, nothing queued again
    CHECK(db.query_value("SELECT count(*) FROM eye.jobs WHERE status = 'queued'") == "0");
    CHECK(db.query_value("SELECT max(attempts) FROM eye.failed_jobs") == "1");
    CHECK(db.query_value("SELECT count(*) FROM eye.failed_jobs") ==
          std::to_string(kinds.size() - k_undetectable.size()));
}

TEST_CASE("a decode that runs past its time limit is cut off and refused for good") {
    const std::string bytes = eye::testing::read_file(corpus() / "good/50-megapixels.jpg");
    eye::analyzers::DecodeLimits limits;
    limits.max_seconds = 0.001;
    const auto started = std::chrono::steady_clock::now();
    const auto error =
        eye::testing::analysis_error_of([&] { eye::analyzers::decode_image(bytes, 512, limits); });
    CHECK(error.permanent());
    CHECK(std::string(error.what()) ==
          "cannot decode JPEG: decoding took longer than 0.001 s, the limit");
    CHECK(std::chrono::steady_clock::now() - started < 5s);
    // with the default limit it decodes, shrunk on load
    const auto decoded = eye::analyzers::decode_image(bytes, 512);
    CHECK(decoded.width == 8660);
    CHECK(decoded.image.width == 512);
}

TEST_CASE("decodes that hold a whole large image take turns instead of adding up") {
    // a 70-megapixel progressive JPEG: libjpeg keeps every coefficient of it
    TempDir dir;
    const fs::path noise = dir.path / "noise.v";
    for (const std::vector<std::string>& step :
         {std::vector<std::string>{"gaussnoise", noise.string(), "8400", "8400", "--mean", "128",
                                   "--sigma", "20"},
          std::vector<std::string>{"copy", noise.string(),
                                   (dir.path / "big.jpg").string() + "[Q=75,interlace]"}}) {
        auto made = eye::testing::run("/usr/bin/vips", step, {}, 120s);
        INFO(made.err);
        REQUIRE(made.exit_code == 0);
    }
    fs::remove(noise);
    auto peak_of = [&](const std::vector<std::string>& paths, int concurrency) {
        TestDatabase db;
        const long peak_kb = run_worker(db, dir.path, paths, concurrency).peak_kb;
        CHECK(db.query_value("SELECT count(*) FROM media_files WHERE processing_status = "
                             "'completed'") == std::to_string(paths.size()));
        return peak_kb;
    };
    const long one = peak_of({"big.jpg"}, 1);
    const long two = peak_of({"big.jpg", "big.jpg", "big.jpg"}, 2);
    WARN("eye-worker peak RSS: one 70-megapixel progressive JPEG " << one / 1024
                                                                   << " MB; three of them at "
                                                                      "--concurrency=2 "
                                                                   << two / 1024 << " MB");
    // side by side they would hold two sets of coefficients (about 140 MB more)
    CHECK(two < one + 60 * 1024);
}
