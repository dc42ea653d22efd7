#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include <tl/expected.hpp>

// The builtin trainer's model: the library's tag vocabulary learned from its embeddings and tags
// (design section 7). It answers "which tags does an image with this embedding and these tags
// most likely lack?", with a confidence for each.
//
// How it predicts, for an image x with tags C (its context):
// - nearest neighbours: the embeddings are centred and normalized, and grouped into up to 1,024
//   cells by spherical k-means; each cell counts the tags of its images. x's 10 nearest cells,
//   weighted by their similarity, give a neighbourhood frequency p(t|x) for every tag t;
// - co-occurrence: P(t|u) for every pair of tags, smoothed; the mean over u in C says how well t
//   goes with what x has already;
// - both, with t's overall frequency, are combined by a logistic regression fitted on images the
//   cells did not see, so a confidence of 0.8 means about 8 in 10 such predictions were right.
//   The threshold above which a tag is added is the one with the best F1 on those images;
// - exclusion: a tag never seen together with one the image has (on 2 images or more) is not
//   added, whatever its confidence: "grayscale" beside "color", "blurry" beside "sharp".
// Training and prediction are deterministic: the same examples give the same model.
namespace eye::learning {

// One training image: its embedding and the tags it has (not those an earlier model added).
struct Example {
    std::int64_t id = 0;
    std::vector<float> embedding;
    std::vector<std::string> tags;
};

struct Prediction {
    std::string tag;
    double confidence = 0;
};

struct TrainSettings {
    int threads = 2;
    // called between steps; returning true abandons the training (a timeout, a signal)
    std::function<bool()> should_stop;
};

// Thrown by TagModel::train when should_stop said so.
struct TrainingStopped {};

class TagModel {
public:
    // Learns from the examples (all of one analyzer, all of one embedding length). Throws
    // std::invalid_argument when they cannot make a model: none, lengths that differ, no tag.
    static TagModel train(const std::vector<Example>& examples, const TrainSettings& settings);

    // The tags an image lacks, most confident first: those with a confidence at or above the
    // threshold, none of `context`. An embedding of another length gives none.
    std::vector<Prediction> predict(const std::vector<float>& embedding,
                                    const std::vector<std::string>& context) const;
    // As predict, with every candidate tag, whatever its confidence.
    std::vector<Prediction> confidences(const std::vector<float>& embedding,
                                        const std::vector<std::string>& context) const;

    std::string serialize() const;
    static tl::expected<TagModel, std::string> deserialize(std::string_view bytes);

    std::size_t dimensions() const { return m_dimensions; }
    std::size_t cells() const { return m_cell_sizes.size(); }
    const std::vector<std::string>& vocabulary() const { return m_tags; }
    double threshold() const { return m_threshold; }
    // the logistic regression's weights: bias, neighbours, co-occurrence, frequency, has-context
    const std::vector<double>& weights() const { return m_weights; }

    static constexpr std::size_t k_max_tags = 512;     // the vocabulary's size at most
    static constexpr std::size_t k_feature_count = 5;  // the weights above

private:
    void fit_cells(const std::vector<const Example*>& examples, const TrainSettings& settings);
    void count_tags(const std::vector<const Example*>& examples,
                    const std::vector<std::uint32_t>& assignment);
    void features(const std::vector<float>& embedding, const std::vector<int>& context,
                  std::vector<double>& neighbours, std::vector<double>& cooccurrence) const;
    std::vector<int> tag_ids(const std::vector<std::string>& tags) const;

    std::size_t m_dimensions = 0;
    std::vector<float> m_mean;       // dimensions
    std::vector<float> m_centroids;  // cells x dimensions, unit length
    std::vector<std::uint32_t> m_cell_sizes;
    struct TagCount {
        std::uint32_t tag;
        std::uint32_t count;
    };
    std::vector<std::vector<TagCount>> m_cell_tags;
    std::vector<std::string> m_tags;          // vocabulary
    std::vector<double> m_prior;              // per tag: share of images with it
    std::vector<float> m_cooccurrence;        // tags x tags: P(row tag | column tag)
    std::vector<std::uint32_t> m_tag_counts;  // per tag: images with it
    std::vector<std::uint8_t> m_together;     // tags x tags: 1 when some image had both
    std::vector<double> m_weights;            // 5
    double m_threshold = 0.5;
};

}  // namespace eye::learning
