#pragma once

#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "eye/learning/tag_model.hpp"

// A labelled library for testing and measuring the tag model: images whose embeddings cluster
// by topic, whose tags come from their topic (some missing, some wrong), some of them between
// two topics with the tags of both, and tags that several topics share.
namespace eye::testing {

struct Topic {
    std::string name;
    std::vector<std::string> tags;
};

inline const std::vector<Topic>& labelled_topics() {
    static const std::vector<Topic> k_topics = {
        {"beach", {"beach", "sea", "sand", "outdoor"}},
        {"harbour", {"boat", "sea", "water", "outdoor"}},
        {"mountain", {"mountain", "snow", "outdoor", "landscape"}},
        {"forest", {"forest", "tree", "green", "outdoor"}},
        {"city", {"city", "building", "street"}},
        {"night", {"city", "night", "lights"}},
        {"portrait", {"person", "face", "portrait"}},
        {"dog", {"dog", "animal", "pet"}},
        {"cat", {"cat", "animal", "pet"}},
        {"food", {"food", "plate", "indoor"}},
        {"kitchen", {"kitchen", "indoor", "food"}},
        {"document", {"text", "document", "paper"}},
    };
    return k_topics;
}

struct LabelledImage {
    learning::Example example;
    std::size_t topic = 0;
    std::vector<std::size_t> topics;  // the topic, and the second one of an image between two
};

// `count` images of `dimensions` values, the same for the same seed. Each topic's tag is kept
// with probability 0.8; a wrong tag is added to one image in ten; one image in eight is between
// two topics, with the tags of both.
inline std::vector<LabelledImage> labelled_library(std::size_t count, std::size_t dimensions,
                                                   std::uint64_t seed = 42) {
    std::mt19937_64 random(seed);
    std::normal_distribution<float> gaussian(0.0f, 1.0f);
    std::uniform_real_distribution<double> uniform(0.0, 1.0);
    const auto& topics = labelled_topics();
    std::vector<std::vector<float>> centres(topics.size(), std::vector<float>(dimensions));
    for (auto& centre : centres) {
        for (auto& value : centre) {
            value = gaussian(random);
        }
    }
    std::vector<std::string> all_tags;
    for (const auto& topic : topics) {
        all_tags.insert(all_tags.end(), topic.tags.begin(), topic.tags.end());
    }
    std::vector<LabelledImage> images;
    images.reserve(count);
    for (std::size_t i = 0; i < count; ++i) {
        LabelledImage image;
        image.example.id = static_cast<std::int64_t>(i + 1);
        image.topic = static_cast<std::size_t>(random() % topics.size());
        std::vector<std::size_t> mix = {image.topic};
        if (uniform(random) < 0.125) {
            mix.push_back(static_cast<std::size_t>(random() % topics.size()));
        }
        image.topics = mix;
        image.example.embedding.assign(dimensions, 0.0f);
        for (std::size_t t : mix) {
            for (std::size_t d = 0; d < dimensions; ++d) {
                image.example.embedding[d] += centres[t][d] / static_cast<float>(mix.size());
            }
        }
        for (auto& value : image.example.embedding) {
            value += 0.9f * gaussian(random);
        }
        for (std::size_t t : mix) {
            for (const auto& tag : topics[t].tags) {
                if (uniform(random) < 0.8) {
                    image.example.tags.push_back(tag);
                }
            }
        }
        if (uniform(random) < 0.1) {
            image.example.tags.push_back(all_tags[random() % all_tags.size()]);
        }
        images.push_back(std::move(image));
    }
    return images;
}

}  // namespace eye::testing
