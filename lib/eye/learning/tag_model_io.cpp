#include <cstring>
#include <stdexcept>
#include <string>

#include "eye/learning/tag_model.hpp"

// A tag model as bytes (eye.models.model) and back: a magic word, a format number, then its
// parts in order, each vector with its length first. The bytes are the machine's own
// (little-endian on every machine eye builds for).
namespace eye::learning {
namespace {

constexpr std::uint32_t k_format = 1;
constexpr char k_magic[8] = {'E', 'Y', 'E', 'T', 'A', 'G', 'S', '\0'};

// Little-endian byte writing and reading of the model's parts.
class Out {
public:
    template <typename T>
    void put(T value) {
        m_bytes.append(reinterpret_cast<const char*>(&value), sizeof value);
    }
    template <typename T>
    void put_all(const std::vector<T>& values) {
        put(static_cast<std::uint64_t>(values.size()));
        m_bytes.append(reinterpret_cast<const char*>(values.data()), values.size() * sizeof(T));
    }
    void put_text(const std::string& text) {
        put(static_cast<std::uint32_t>(text.size()));
        m_bytes += text;
    }
    std::string take() { return std::move(m_bytes); }

private:
    std::string m_bytes;
};

class In {
public:
    explicit In(std::string_view bytes) : m_bytes(bytes) {}
    template <typename T>
    T get() {
        T value{};
        need(sizeof value);
        std::memcpy(&value, m_bytes.data(), sizeof value);
        m_bytes.remove_prefix(sizeof value);
        return value;
    }
    template <typename T>
    std::vector<T> get_all(std::size_t limit) {
        const auto count = get<std::uint64_t>();
        if (count > limit) {
            throw std::runtime_error("a part is larger than a model's");
        }
        need(count * sizeof(T));
        std::vector<T> values(count);
        std::memcpy(values.data(), m_bytes.data(), count * sizeof(T));
        m_bytes.remove_prefix(count * sizeof(T));
        return values;
    }
    std::string get_text() {
        const auto size = get<std::uint32_t>();
        need(size);
        std::string text(m_bytes.substr(0, size));
        m_bytes.remove_prefix(size);
        return text;
    }
    bool done() const { return m_bytes.empty(); }

private:
    void need(std::size_t size) const {
        if (m_bytes.size() < size) {
            throw std::runtime_error("it ends early");
        }
    }
    std::string_view m_bytes;
};

}  // namespace

std::string TagModel::serialize() const {
    Out out;
    for (char c : k_magic) {
        out.put(c);
    }
    out.put(k_format);
    out.put(static_cast<std::uint64_t>(m_dimensions));
    out.put_all(m_mean);
    out.put_all(m_centroids);
    out.put_all(m_cell_sizes);
    for (const auto& cell : m_cell_tags) {
        out.put_all(cell);
    }
    out.put(static_cast<std::uint32_t>(m_tags.size()));
    for (const auto& tag : m_tags) {
        out.put_text(tag);
    }
    out.put_all(m_prior);
    out.put_all(m_cooccurrence);
    out.put_all(m_tag_counts);
    out.put_all(m_together);
    out.put_all(m_weights);
    out.put(m_threshold);
    return out.take();
}

tl::expected<TagModel, std::string> TagModel::deserialize(std::string_view bytes) {
    try {
        In in(bytes);
        for (char c : k_magic) {
            if (in.get<char>() != c) {
                return tl::make_unexpected("it is not an eye tag model");
            }
        }
        if (auto format = in.get<std::uint32_t>(); format != k_format) {
            return tl::make_unexpected("it is of format " + std::to_string(format) +
                                       ", this eye reads format " + std::to_string(k_format));
        }
        TagModel model;
        model.m_dimensions = in.get<std::uint64_t>();
        constexpr std::size_t k_limit = std::size_t{1} << 28;
        model.m_mean = in.get_all<float>(k_limit);
        model.m_centroids = in.get_all<float>(k_limit);
        model.m_cell_sizes = in.get_all<std::uint32_t>(k_limit);
        for (std::size_t c = 0; c < model.m_cell_sizes.size(); ++c) {
            model.m_cell_tags.push_back(in.get_all<TagCount>(k_max_tags));
        }
        const auto tags = in.get<std::uint32_t>();
        if (tags > k_max_tags) {
            return tl::make_unexpected("its vocabulary is too large");
        }
        for (std::uint32_t t = 0; t < tags; ++t) {
            model.m_tags.push_back(in.get_text());
        }
        model.m_prior = in.get_all<double>(k_max_tags);
        model.m_cooccurrence = in.get_all<float>(k_max_tags * k_max_tags);
        model.m_tag_counts = in.get_all<std::uint32_t>(k_max_tags);
        model.m_together = in.get_all<std::uint8_t>(k_max_tags * k_max_tags);
        model.m_weights = in.get_all<double>(k_feature_count);
        model.m_threshold = in.get<double>();
        const std::size_t dims = model.m_dimensions;
        const bool consistent = dims > 0 && model.m_mean.size() == dims &&
                                model.m_centroids.size() == dims * model.m_cell_sizes.size() &&
                                !model.m_cell_sizes.empty() && model.m_prior.size() == tags &&
                                model.m_cooccurrence.size() == std::size_t{tags} * tags &&
                                model.m_tag_counts.size() == tags &&
                                model.m_together.size() == std::size_t{tags} * tags &&
                                model.m_weights.size() == k_feature_count && in.done() &&
                                std::is_sorted(model.m_tags.begin(), model.m_tags.end());
        bool tags_in_range = true;
        for (const auto& cell : model.m_cell_tags) {
            for (const auto& entry : cell) {
                tags_in_range = tags_in_range && entry.tag < tags;
            }
        }
        if (!consistent || !tags_in_range) {
            return tl::make_unexpected("its parts do not fit together");
        }
        return model;
    } catch (const std::exception& e) {
        return tl::make_unexpected(std::string("it is damaged: ") + e.what());
    }
}

}  // namespace eye::learning
