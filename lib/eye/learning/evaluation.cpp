#include "eye/learning/evaluation.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>

namespace eye::learning {
namespace {

std::uint64_t mix(std::uint64_t x) {
    x += 0x9e3779b97f4a7c15ULL;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

std::uint64_t hash_text(std::string_view text) {
    std::uint64_t h = 1469598103934665603ULL;
    for (unsigned char c : text) {
        h = (h ^ c) * 1099511628211ULL;
    }
    return h;
}

}  // namespace

bool is_held_out(std::int64_t id) {
    return mix(static_cast<std::uint64_t>(id)) % 100 < 15;
}

bool is_calibration(std::int64_t id) {
    return mix(static_cast<std::uint64_t>(id) ^ 0x5bd1e9955bd1e995ULL) % 5 == 0;
}

TagSplit split_tags(std::int64_t id, std::vector<std::string> tags) {
    std::sort(tags.begin(), tags.end());
    tags.erase(std::unique(tags.begin(), tags.end()), tags.end());
    TagSplit split;
    if (tags.empty()) {
        return split;
    }
    std::vector<std::pair<std::uint64_t, std::string>> keyed;
    for (auto& tag : tags) {
        keyed.emplace_back(mix(static_cast<std::uint64_t>(id) ^ hash_text(tag)), std::move(tag));
    }
    std::sort(keyed.begin(), keyed.end());
    // the first half by hash is hidden (at least one), the rest is the context
    const std::size_t hidden = (keyed.size() + 1) / 2;
    for (std::size_t i = 0; i < keyed.size(); ++i) {
        (i < hidden ? split.hidden : split.context).push_back(std::move(keyed[i].second));
    }
    return split;
}

double Scores::f1() const {
    const double p = precision();
    const double r = recall();
    return p + r == 0 ? 0.0 : 2 * p * r / (p + r);
}

namespace {

// Scores the tags `predict(example, split)` gives each held-out image against those it hides.
template <typename Predict>
Scores score(const std::vector<Example>& held_out, Predict predict) {
    Scores scores;
    for (const auto& example : held_out) {
        const TagSplit split = split_tags(example.id, example.tags);
        if (split.hidden.empty()) {
            continue;
        }
        ++scores.images;
        const std::set<std::string> hidden(split.hidden.begin(), split.hidden.end());
        scores.hidden += static_cast<long long>(hidden.size());
        for (const std::string& tag : predict(example, split)) {
            ++scores.predicted;
            scores.correct += hidden.count(tag) != 0 ? 1 : 0;
        }
    }
    return scores;
}

}  // namespace

Scores evaluate(const TagModel& model, const std::vector<Example>& held_out) {
    return score(held_out, [&](const Example& example, const TagSplit& split) {
        std::vector<std::string> tags;
        for (auto& prediction : model.predict(example.embedding, split.context)) {
            tags.push_back(std::move(prediction.tag));
        }
        return tags;
    });
}

Scores evaluate_baseline(const std::vector<Example>& training,
                         const std::vector<Example>& held_out) {
    std::map<std::string, long long> counts;
    long long hidden_total = 0;
    long long images = 0;
    for (const auto& example : training) {
        const TagSplit split = split_tags(example.id, example.tags);  // its tags, once each
        for (const auto* part : {&split.hidden, &split.context}) {
            for (const auto& tag : *part) {
                ++counts[tag];
            }
        }
        hidden_total += static_cast<long long>(split.hidden.size());
        images += split.hidden.empty() ? 0 : 1;
    }
    std::vector<std::pair<long long, std::string>> ranked;
    for (const auto& [tag, count] : counts) {
        ranked.emplace_back(-count, tag);
    }
    std::sort(ranked.begin(), ranked.end());
    const auto per_image = static_cast<std::size_t>(
        images == 0 ? 1 : std::max(1.0, std::round(double(hidden_total) / double(images))));

    // the most frequent tags the image does not have yet
    return score(held_out, [&](const Example&, const TagSplit& split) {
        const std::set<std::string> context(split.context.begin(), split.context.end());
        std::vector<std::string> tags;
        for (const auto& entry : ranked) {
            if (tags.size() == per_image) {
                break;
            }
            if (context.count(entry.second) == 0) {
                tags.push_back(entry.second);
            }
        }
        return tags;
    });
}

}  // namespace eye::learning
