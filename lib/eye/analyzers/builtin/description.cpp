#include "eye/analyzers/builtin/description.hpp"

#include <algorithm>
#include <cstdlib>

#include <fmt/format.h>

namespace eye::analyzers {
namespace {

constexpr double k_tag_color_share = 10.0;

std::string join_names(const std::vector<std::string>& names) {
    std::string out;
    for (std::size_t i = 0; i < names.size(); ++i) {
        if (i > 0) {
            out += (i + 1 == names.size()) ? " and " : ", ";
        }
        out += names[i];
    }
    return out;
}

std::string article_for(const std::string& first_word) {
    const char c = first_word.empty() ? 'x' : first_word.front();
    const bool vowel = c == 'a' || c == 'e' || c == 'i' || c == 'o' || c == 'u';
    return vowel ? "An" : "A";
}

std::string human_size(std::int64_t bytes) {
    if (bytes < 1024) {
        return fmt::format("{} bytes", bytes);
    }
    if (bytes < 1024 * 1024) {
        return fmt::format("{:.0f} KiB", bytes / 1024.0);
    }
    return fmt::format("{:.1f} MiB", bytes / (1024.0 * 1024.0));
}

}  // namespace

ImageWords describe_image(const ImageFacts& facts) {
    const Quality& quality = facts.quality;
    ImageWords words;
    const int longer = std::max(facts.width, facts.height);
    const char* orientation = std::abs(facts.width - facts.height) <= longer / 50 ? "square"
                              : facts.width > facts.height                        ? "landscape"
                                                                                  : "portrait";
    const char* palette = facts.color.grayscale ? "grayscale" : "color";
    const std::vector<NamedShare>& shares = facts.shares;
    std::vector<std::string> color_names;
    for (const auto& share : shares) {
        if (share.percentage >= k_tag_color_share && color_names.size() < 3) {
            color_names.push_back(share.name);
        }
    }
    const char* light = quality.brightness >= k_bright_from ? "bright"
                        : quality.brightness < k_dim_below  ? "dark"
                                                            : nullptr;
    const char* focus = quality.sharpness >= k_sharp_from ? "sharp"
                        : quality.blurry                  ? "blurry"
                                                          : nullptr;
    const char* contrast = quality.contrast >= k_high_contrast_from ? "high-contrast"
                           : quality.low_contrast                   ? "low-contrast"
                                                                    : nullptr;

    words.tags = {orientation, palette};
    words.tags.insert(words.tags.end(), color_names.begin(), color_names.end());
    for (const char* tag : {light, focus, contrast}) {
        if (tag != nullptr) {
            words.tags.emplace_back(tag);
        }
    }

    std::vector<std::string> adjectives;
    for (const char* word : {focus, light, contrast}) {
        if (word != nullptr) {
            adjectives.emplace_back(word);
        }
    }
    std::string phrase;
    for (std::size_t i = 0; i < adjectives.size(); ++i) {
        phrase += adjectives[i] + (i + 1 < adjectives.size() ? ", " : " ");
    }
    phrase += fmt::format("{} {} image", orientation, palette);
    std::string sentence = article_for(phrase) + " " + phrase;
    if (!color_names.empty()) {
        sentence += " dominated by " + join_names(color_names);
    }
    words.description = sentence + ".";

    std::vector<std::string> share_texts;
    for (const auto& share : shares) {
        share_texts.push_back(fmt::format("{} ({:.0f}%)", share.name, share.percentage));
    }
    auto level = [](const char* word, const char* otherwise) {
        return word != nullptr ? std::string(word) : std::string(otherwise);
    };
    const std::string format = facts.mime_type == "image/png" ? "PNG" : "JPEG";
    words.detailed_description = fmt::format(
        "A {}x{} pixel {} {} {} image of {} whose main colors are {}; it is {}, {} and {}, "
        "with an overall quality of {:.2f} ({}).",
        facts.width, facts.height, orientation, palette, format, human_size(facts.file_size),
        join_names(share_texts), level(focus, "moderately sharp"),
        level(light, "of medium brightness"), level(contrast, "of moderate contrast"),
        quality.overall, quality.tier);
    return words;
}

}  // namespace eye::analyzers
