// The builtin trainer's tag model on a labelled library the test builds: it learns what the
// majority-tag baseline cannot, adds the right tags to images that lack them, and survives
// being stored and read back.
#include <algorithm>

#include <catch2/catch.hpp>

#include "eye/learning/evaluation.hpp"
#include "eye/learning/tag_model.hpp"
#include "support/labelled_data.hpp"

using namespace eye::learning;

namespace {

struct Split {
    std::vector<Example> training;
    std::vector<Example> held_out;
};

Split split_library(const std::vector<eye::testing::LabelledImage>& images) {
    Split split;
    for (const auto& image : images) {
        (is_held_out(image.example.id) ? split.held_out : split.training).push_back(image.example);
    }
    return split;
}

bool has(const std::vector<Prediction>& predictions, const std::string& tag) {
    return std::any_of(predictions.begin(), predictions.end(),
                       [&](const Prediction& p) { return p.tag == tag; });
}

}  // namespace

TEST_CASE("held-out images and the tags they hide are chosen by id, the same every time") {
    long long held = 0;
    for (std::int64_t id = 1; id <= 100'000; ++id) {
        held += is_held_out(id) ? 1 : 0;
    }
    CHECK(held > 14'000);
    CHECK(held < 16'000);
    auto split = split_tags(7, {"b", "a", "c", "a"});
    CHECK(split.hidden.size() == 2);
    CHECK(split.context.size() == 1);
    CHECK(split_tags(7, {"c", "b", "a"}).hidden == split.hidden);
    CHECK(split_tags(8, {"only"}).hidden == std::vector<std::string>{"only"});
    CHECK(split_tags(9, {}).hidden.empty());
}

TEST_CASE("the tag model beats the majority-tag baseline on held-out images") {
    const auto images = eye::testing::labelled_library(3000, 64);
    const Split split = split_library(images);
    REQUIRE(split.held_out.size() > 300);
    const TagModel model = TagModel::train(split.training, {});

    const Scores learned = evaluate(model, split.held_out);
    const Scores baseline = evaluate_baseline(split.training, split.held_out);
    INFO("model: precision " << learned.precision() << " recall " << learned.recall()
                             << "; baseline: precision " << baseline.precision() << " recall "
                             << baseline.recall() << "; threshold " << model.threshold());
    CHECK(learned.images == baseline.images);
    CHECK(learned.hidden == baseline.hidden);
    CHECK(learned.precision() > baseline.precision() + 0.2);
    CHECK(learned.recall() > baseline.recall() + 0.2);
    CHECK(learned.f1() > 0.6);
}

TEST_CASE("an image that lacks its topic's tags gets them, and no tag it has") {
    const auto images = eye::testing::labelled_library(2000, 64);
    std::vector<Example> training;
    for (const auto& image : images) {
        training.push_back(image.example);
    }
    const TagModel model = TagModel::train(training, {});
    // fresh images of the harbour, tagged only "boat": the model adds "sea" and "water"
    const auto fresh = eye::testing::labelled_library(200, 64, 42);
    int right = 0, asked = 0;
    for (const auto& image : fresh) {
        if (eye::testing::labelled_topics()[image.topic].name != "harbour") {
            continue;
        }
        ++asked;
        auto predicted = model.predict(image.example.embedding, {"boat"});
        CHECK_FALSE(has(predicted, "boat"));
        right += has(predicted, "sea") && has(predicted, "water") ? 1 : 0;
        for (const auto& p : predicted) {
            CHECK(p.confidence >= model.threshold());
            CHECK(p.confidence <= 1.0);
        }
    }
    REQUIRE(asked > 5);
    CHECK(right * 10 >= asked * 8);
}

TEST_CASE("a stored model reads back and predicts the same; a damaged one is refused") {
    const auto images = eye::testing::labelled_library(500, 32);
    std::vector<Example> training;
    for (const auto& image : images) {
        training.push_back(image.example);
    }
    const TagModel model = TagModel::train(training, {});
    const std::string bytes = model.serialize();
    auto read = TagModel::deserialize(bytes);
    REQUIRE(read.has_value());
    for (std::size_t i = 0; i < 50; ++i) {
        const auto& e = images[i].example;
        auto a = model.confidences(e.embedding, {});
        auto b = read->confidences(e.embedding, {});
        REQUIRE(a.size() == b.size());
        for (std::size_t j = 0; j < a.size(); ++j) {
            CHECK(a[j].tag == b[j].tag);
            CHECK(a[j].confidence == b[j].confidence);
        }
    }
    CHECK(TagModel::train(training, {}).serialize() == bytes);  // deterministic
    CHECK_FALSE(TagModel::deserialize(bytes.substr(0, bytes.size() / 2)).has_value());
    CHECK_FALSE(TagModel::deserialize("not a model").has_value());
    std::string tampered = bytes;
    tampered[8] = 9;  // another format
    CHECK(TagModel::deserialize(tampered).error().find("format 9") != std::string::npos);
    // an embedding of another length gets no prediction
    CHECK(model.predict(std::vector<float>(31, 1.0f), {}).empty());
}

TEST_CASE("the tag model refuses what it cannot learn from") {
    CHECK_THROWS_AS(TagModel::train({}, {}), std::invalid_argument);
    CHECK_THROWS_AS(TagModel::train({{1, {1, 2}, {"a"}}, {2, {1, 2, 3}, {"a"}}}, {}),
                    std::invalid_argument);
    CHECK_THROWS_AS(TagModel::train({{1, {1, 2}, {"a"}}, {2, {2, 1}, {"b"}}}, {}),
                    std::invalid_argument);
    CHECK_THROWS_AS(TagModel::train({{1, {}, {"a"}}}, {}), std::invalid_argument);
    // a stop request abandons it
    TrainSettings stopping;
    stopping.should_stop = [] { return true; };
    CHECK_THROWS_AS(TagModel::train({{1, {1, 2}, {"a"}}, {2, {2, 1}, {"a"}}}, stopping),
                    TrainingStopped);
}
