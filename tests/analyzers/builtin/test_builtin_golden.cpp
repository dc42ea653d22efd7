// The builtin analyzer's output on every fixture, byte for byte, against a committed golden file.
// It pins every field (the embedding's floats exactly), so moving or re-implementing the code
// underneath (decoding, resizing, hashing) cannot change a single result unnoticed. A deliberate
// change of the analyzer regenerates the file and bumps k_builtin_model_version:
//
//     EYE_UPDATE_GOLDEN=1 build/tests/analyzers-builtin-test_builtin_golden

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include "eye/analyzers/builtin/builtin.hpp"
#include "eye/analyzers/image/decode.hpp"
#include "eye/analyzers/image/encode.hpp"
#include "eye/core/digest.hpp"
#include "support/fixtures.hpp"

namespace fs = std::filesystem;

namespace {

using eye::testing::k_images;
using eye::testing::read_file;

const fs::path k_golden = fs::path(EYE_SOURCE_DIR) / "tests/analyzers/builtin/golden/builtin.txt";

std::vector<fs::path> fixtures() {
    std::vector<fs::path> files;
    for (const auto& entry : fs::directory_iterator(k_images)) {
        auto ext = entry.path().extension();
        if (ext == ".png" || ext == ".jpg") {
            files.push_back(entry.path());
        }
    }
    std::sort(files.begin(), files.end());
    return files;
}

template <typename T>
std::string text(const std::optional<T>& value) {
    return value ? fmt::format("{}", *value) : std::string("(none)");
}

// Every field of a result, one per line; floats with 9 significant digits, which is exact for
// a float.
std::string describe(const eye::AnalysisResult& result) {
    std::string out;
    out += fmt::format("analyzer {}\nmodel_version {}\n", result.analyzer, result.model_version);
    out += fmt::format("width {}\nheight {}\n", text(result.width), text(result.height));
    out += fmt::format("mime_type {}\nfile_size {}\nfile_hash {}\n", text(result.mime_type),
                       text(result.file_size), text(result.file_hash));
    out += fmt::format("phash {}\ndhash {}\n", text(result.phash), text(result.dhash));
    out += fmt::format("quality_tier {}\n", text(result.quality_tier));
    out += fmt::format("image_quality {}\n", text(result.image_quality_json));
    out += fmt::format("dominant_colors {}\n", text(result.dominant_colors_json));
    out += fmt::format("meta_tags {}\n", fmt::join(result.meta_tags, ","));
    out += fmt::format("description {}\n", text(result.description));
    out += fmt::format("detailed_description {}\n", text(result.detailed_description));
    out += fmt::format("face_count {}\n", result.face_count);
    if (result.embedding) {
        out += fmt::format("embedding {}", result.embedding->size());
        for (std::size_t i = 0; i < result.embedding->size(); ++i) {
            out += fmt::format("{}{:.9g}", i % 8 == 0 ? "\n  " : " ", (*result.embedding)[i]);
        }
        out += "\n";
    } else {
        out += "embedding (none)\n";
    }
    return out;
}

std::string everything() {
    std::string out;
    for (const auto& path : fixtures()) {
        const std::string bytes = read_file(path);
        out += fmt::format("== {}\n", path.filename().string());
        out += describe(eye::analyzers::analyze_image_bytes(bytes));
        // the copy the ollama analyzer sends: decoding, orientation, area resize and encoding
        const auto image = eye::analyzers::decode_image(bytes, 720).image;
        out += fmt::format("jpeg_720_q85_sha256 {}\n",
                           eye::sha256_hex(eye::analyzers::encode_jpeg(image, 720, 85)));
    }
    // a folded embedding: the signed feature hashing of sizes below 512
    eye::analyzers::BuiltinOptions small;
    small.embedding_dimension = 64;
    out += "== chelsea.png, embedding_dimension 64\n";
    out +=
        describe(eye::analyzers::analyze_image_bytes(read_file(k_images / "chelsea.png"), small));
    return out;
}

}  // namespace

TEST_CASE("the builtin analyzer gives the golden result on every fixture, byte for byte") {
    REQUIRE(fixtures().size() >= 14);
    const std::string now = everything();
    if (const char* update = std::getenv("EYE_UPDATE_GOLDEN"); update && *update) {
        fs::create_directories(k_golden.parent_path());
        std::ofstream(k_golden, std::ios::binary) << now;
        WARN("rewrote " << k_golden.string());
    }
    const std::string golden = read_file(k_golden);
    REQUIRE_FALSE(golden.empty());
    // line by line, so a failure names the fixture and field that changed
    std::istringstream expected(golden);
    std::istringstream actual(now);
    std::string want;
    std::string got;
    std::string fixture;
    int line = 0;
    while (std::getline(expected, want)) {
        ++line;
        if (want.rfind("== ", 0) == 0) {
            fixture = want.substr(3);
        }
        std::getline(actual, got);
        INFO(fmt::format("{} line {} ({})", k_golden.filename().string(), line, fixture));
        REQUIRE(got == want);
    }
    CHECK_FALSE(std::getline(actual, got));
}
