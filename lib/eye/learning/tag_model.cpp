#include "eye/learning/tag_model.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <map>
#include <stdexcept>
#include <thread>

#include "eye/learning/evaluation.hpp"

namespace eye::learning {
namespace {

constexpr std::size_t k_max_cells = 1024;
constexpr std::size_t k_images_per_cell = 25;
constexpr std::size_t k_kmeans_sample = 20'000;
constexpr int k_kmeans_rounds = 8;
constexpr std::size_t k_neighbours = 10;
constexpr double k_sharpness = 10.0;  // how fast a cell's weight falls with its distance
constexpr double k_smoothing = 1.0;   // pseudo-images at the overall frequency
constexpr std::size_t k_min_calibration = 10;
constexpr std::size_t k_max_calibration = 3000;
constexpr std::uint32_t k_min_exclusion_support = 2;

float dot(const float* a, const float* b, std::size_t n) {
    // eight sums the compiler keeps in vector registers
    float s[8] = {};
    std::size_t i = 0;
    for (; i + 8 <= n; i += 8) {
        for (int k = 0; k < 8; ++k) {
            s[k] += a[i + k] * b[i + k];
        }
    }
    float total = ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));
    for (; i < n; ++i) {
        total += a[i] * b[i];
    }
    return total;
}

double logit(double p) {
    p = std::clamp(p, 1e-4, 1 - 1e-4);
    return std::log(p / (1 - p));
}

double sigmoid(double x) {
    return 1 / (1 + std::exp(-x));
}

// Runs body(begin, end) over [0, count) on up to `threads` threads.
template <typename Body>
void parallel_for(std::size_t count, int threads, Body body) {
    const std::size_t parts = std::max<std::size_t>(1, std::min<std::size_t>(threads, count / 64));
    if (parts <= 1) {
        body(std::size_t{0}, count);
        return;
    }
    std::vector<std::thread> pool;
    for (std::size_t p = 0; p < parts; ++p) {
        pool.emplace_back(body, count * p / parts, count * (p + 1) / parts);
    }
    for (auto& thread : pool) {
        thread.join();
    }
}

void normalize(float* v, std::size_t n) {
    const float norm = std::sqrt(dot(v, v, n));
    if (norm > 0) {
        for (std::size_t i = 0; i < n; ++i) {
            v[i] /= norm;
        }
    }
}

// The examples' embeddings, centred and of unit length, one after another.
struct Points {
    std::size_t dimensions = 0;
    std::vector<float> values;
    const float* row(std::size_t i) const { return values.data() + i * dimensions; }
};

Points centre(const std::vector<const Example*>& examples, const std::vector<float>& mean) {
    Points points;
    points.dimensions = mean.size();
    points.values.resize(examples.size() * mean.size());
    for (std::size_t i = 0; i < examples.size(); ++i) {
        float* out = points.values.data() + i * mean.size();
        for (std::size_t d = 0; d < mean.size(); ++d) {
            out[d] = examples[i]->embedding[d] - mean[d];
        }
        normalize(out, mean.size());
    }
    return points;
}

std::uint32_t nearest(const float* point, const std::vector<float>& centroids, std::size_t dims) {
    const std::size_t cells = centroids.size() / dims;
    std::uint32_t best = 0;
    float best_similarity = -2;
    for (std::size_t c = 0; c < cells; ++c) {
        const float similarity = dot(point, centroids.data() + c * dims, dims);
        if (similarity > best_similarity) {
            best_similarity = similarity;
            best = static_cast<std::uint32_t>(c);
        }
    }
    return best;
}

std::vector<std::uint32_t> assign(const Points& points, std::size_t count,
                                  const std::vector<float>& centroids, int threads) {
    std::vector<std::uint32_t> assignment(count);
    parallel_for(count, threads, [&](std::size_t begin, std::size_t end) {
        for (std::size_t i = begin; i < end; ++i) {
            assignment[i] = nearest(points.row(i), centroids, points.dimensions);
        }
    });
    return assignment;
}

// The nearest cell of each example, centred and normalized one at a time (no copy of them all).
std::vector<std::uint32_t> assign_examples(const std::vector<const Example*>& examples,
                                           const std::vector<float>& mean,
                                           const std::vector<float>& centroids, int threads) {
    std::vector<std::uint32_t> assignment(examples.size());
    const std::size_t dims = mean.size();
    parallel_for(examples.size(), threads, [&](std::size_t begin, std::size_t end) {
        std::vector<float> point(dims);
        for (std::size_t i = begin; i < end; ++i) {
            for (std::size_t d = 0; d < dims; ++d) {
                point[d] = examples[i]->embedding[d] - mean[d];
            }
            normalize(point.data(), dims);
            assignment[i] = nearest(point.data(), centroids, dims);
        }
    });
    return assignment;
}

// The logistic regression of the features on whether the tag was right: Newton's method with a
// little L2 regularization, which also keeps it defined when the classes separate.
std::vector<double> fit_logistic(const std::vector<float>& rows, const std::vector<char>& labels,
                                 std::size_t width) {
    std::vector<double> w(width, 0.0);
    const std::size_t n = labels.size();
    const double lambda = 1e-2;
    for (int round = 0; round < 25; ++round) {
        std::vector<double> gradient(width, 0.0);
        std::vector<double> hessian(width * width, 0.0);
        for (std::size_t i = 0; i < n; ++i) {
            const float* x = rows.data() + i * width;
            double z = 0;
            for (std::size_t j = 0; j < width; ++j) {
                z += w[j] * x[j];
            }
            const double p = sigmoid(z);
            const double error = p - labels[i];
            const double curvature = std::max(p * (1 - p), 1e-9);
            for (std::size_t j = 0; j < width; ++j) {
                gradient[j] += error * x[j];
                for (std::size_t k = 0; k <= j; ++k) {
                    hessian[j * width + k] += curvature * x[j] * x[k];
                }
            }
        }
        for (std::size_t j = 0; j < width; ++j) {
            gradient[j] += lambda * w[j];
            hessian[j * width + j] += lambda;
            for (std::size_t k = 0; k < j; ++k) {
                hessian[k * width + j] = hessian[j * width + k];
            }
        }
        // solve hessian * step = gradient (Gaussian elimination; the matrix is 5x5)
        std::vector<double> a = hessian;
        std::vector<double> step = gradient;
        for (std::size_t c = 0; c < width; ++c) {
            std::size_t pivot = c;
            for (std::size_t r = c + 1; r < width; ++r) {
                if (std::abs(a[r * width + c]) > std::abs(a[pivot * width + c])) {
                    pivot = r;
                }
            }
            for (std::size_t k = 0; k < width; ++k) {
                std::swap(a[c * width + k], a[pivot * width + k]);
            }
            std::swap(step[c], step[pivot]);
            for (std::size_t r = 0; r < width; ++r) {
                if (r == c || a[c * width + c] == 0) {
                    continue;
                }
                const double factor = a[r * width + c] / a[c * width + c];
                for (std::size_t k = 0; k < width; ++k) {
                    a[r * width + k] -= factor * a[c * width + k];
                }
                step[r] -= factor * step[c];
            }
        }
        double change = 0;
        for (std::size_t j = 0; j < width; ++j) {
            const double delta = a[j * width + j] == 0 ? 0 : step[j] / a[j * width + j];
            w[j] -= delta;
            change = std::max(change, std::abs(delta));
        }
        if (change < 1e-6) {
            break;
        }
    }
    return w;
}

}  // namespace

void TagModel::fit_cells(const std::vector<const Example*>& examples,
                         const TrainSettings& settings) {
    const std::size_t dims = m_dimensions;
    // k-means on an evenly spread sample (only it is centred and held twice); the cells start
    // at evenly spread points of it
    std::vector<const Example*> sample;
    const std::size_t sample_size = std::min(examples.size(), k_kmeans_sample);
    for (std::size_t i = 0; i < sample_size; ++i) {
        sample.push_back(examples[i * examples.size() / sample_size]);
    }
    const Points sampled = centre(sample, m_mean);
    const std::size_t cells =
        std::clamp<std::size_t>(examples.size() / k_images_per_cell, 1, k_max_cells);
    m_centroids.assign(cells * dims, 0.0f);
    for (std::size_t c = 0; c < cells; ++c) {
        std::copy_n(sampled.row(c * sample_size / cells), dims,
                    m_centroids.begin() + static_cast<std::ptrdiff_t>(c * dims));
    }
    std::vector<std::uint32_t> assignment;
    for (int round = 0; round < k_kmeans_rounds; ++round) {
        if (settings.should_stop && settings.should_stop()) {
            throw TrainingStopped{};
        }
        auto next = assign(sampled, sample.size(), m_centroids, settings.threads);
        std::size_t moved = 0;
        for (std::size_t i = 0; i < next.size(); ++i) {
            moved += assignment.empty() || assignment[i] != next[i] ? 1 : 0;
        }
        assignment = std::move(next);
        std::vector<float> sums(cells * dims, 0.0f);
        std::vector<std::size_t> sizes(cells, 0);
        for (std::size_t i = 0; i < assignment.size(); ++i) {
            float* sum = sums.data() + assignment[i] * dims;
            const float* p = sampled.row(i);
            for (std::size_t d = 0; d < dims; ++d) {
                sum[d] += p[d];
            }
            ++sizes[assignment[i]];
        }
        for (std::size_t c = 0; c < cells; ++c) {
            if (sizes[c] == 0) {
                continue;  // an empty cell keeps its place
            }
            normalize(sums.data() + c * dims, dims);
            std::copy_n(sums.data() + c * dims, dims,
                        m_centroids.begin() + static_cast<std::ptrdiff_t>(c * dims));
        }
        if (moved * 200 < assignment.size()) {
            break;
        }
    }
}

void TagModel::count_tags(const std::vector<const Example*>& examples,
                          const std::vector<std::uint32_t>& assignment) {
    const std::size_t cells = m_centroids.size() / m_dimensions;
    const std::size_t tags = m_tags.size();
    m_cell_sizes.assign(cells, 0);
    std::vector<std::map<std::uint32_t, std::uint32_t>> cell_tags(cells);
    std::vector<double> tag_counts(tags, 0.0);
    std::vector<double> pair_counts(tags * tags, 0.0);
    for (std::size_t i = 0; i < examples.size(); ++i) {
        ++m_cell_sizes[assignment[i]];
        const std::vector<int> ids = tag_ids(examples[i]->tags);
        for (int t : ids) {
            ++cell_tags[assignment[i]][static_cast<std::uint32_t>(t)];
            ++tag_counts[static_cast<std::size_t>(t)];
            for (int u : ids) {
                ++pair_counts[static_cast<std::size_t>(t) * tags + static_cast<std::size_t>(u)];
            }
        }
    }
    m_cell_tags.assign(cells, {});
    for (std::size_t c = 0; c < cells; ++c) {
        for (const auto& [tag, count] : cell_tags[c]) {
            m_cell_tags[c].push_back({tag, count});
        }
    }
    const double n = static_cast<double>(examples.size());
    m_prior.assign(tags, 0.0);
    for (std::size_t t = 0; t < tags; ++t) {
        m_prior[t] = (tag_counts[t] + 0.5) / (n + 1.0);
    }
    m_cooccurrence.assign(tags * tags, 0.0f);
    m_tag_counts.assign(tags, 0);
    m_together.assign(tags * tags, 0);
    for (std::size_t t = 0; t < tags; ++t) {
        m_tag_counts[t] = static_cast<std::uint32_t>(tag_counts[t]);
        for (std::size_t u = 0; u < tags; ++u) {
            m_together[t * tags + u] = pair_counts[t * tags + u] > 0 ? 1 : 0;
            m_cooccurrence[t * tags + u] =
                static_cast<float>((pair_counts[t * tags + u] + k_smoothing * m_prior[t]) /
                                   (tag_counts[u] + k_smoothing));
        }
    }
}

std::vector<int> TagModel::tag_ids(const std::vector<std::string>& tags) const {
    std::vector<int> ids;
    for (const auto& tag : tags) {
        auto it = std::lower_bound(m_tags.begin(), m_tags.end(), tag);
        if (it != m_tags.end() && *it == tag) {
            ids.push_back(static_cast<int>(it - m_tags.begin()));
        }
    }
    std::sort(ids.begin(), ids.end());
    ids.erase(std::unique(ids.begin(), ids.end()), ids.end());
    return ids;
}

void TagModel::features(const std::vector<float>& embedding, const std::vector<int>& context,
                        std::vector<double>& neighbours, std::vector<double>& cooccurrence) const {
    const std::size_t dims = m_dimensions;
    const std::size_t tags = m_tags.size();
    std::vector<float> point(dims);
    for (std::size_t d = 0; d < dims; ++d) {
        point[d] = embedding[d] - m_mean[d];
    }
    normalize(point.data(), dims);
    const std::size_t cells = m_cell_sizes.size();
    std::vector<std::pair<float, std::uint32_t>> similar(cells);
    for (std::size_t c = 0; c < cells; ++c) {
        similar[c] = {dot(point.data(), m_centroids.data() + c * dims, dims),
                      static_cast<std::uint32_t>(c)};
    }
    const std::size_t k = std::min(k_neighbours, cells);
    std::partial_sort(similar.begin(), similar.begin() + static_cast<std::ptrdiff_t>(k),
                      similar.end(), [](const auto& a, const auto& b) {
                          return a.first != b.first ? a.first > b.first : a.second < b.second;
                      });
    neighbours.assign(tags, 0.0);
    double mass = 0;
    for (std::size_t i = 0; i < k; ++i) {
        const auto cell = similar[i].second;
        const double weight = std::exp(k_sharpness * (similar[i].first - similar[0].first));
        mass += weight * m_cell_sizes[cell];
        for (const auto& [tag, count] : m_cell_tags[cell]) {
            neighbours[tag] += weight * count;
        }
    }
    for (std::size_t t = 0; t < tags; ++t) {
        neighbours[t] = (neighbours[t] + k_smoothing * m_prior[t]) / (mass + k_smoothing);
    }
    cooccurrence.assign(tags, 0.0);
    if (!context.empty()) {
        for (int u : context) {
            for (std::size_t t = 0; t < tags; ++t) {
                cooccurrence[t] += m_cooccurrence[t * tags + static_cast<std::size_t>(u)];
            }
        }
        for (auto& value : cooccurrence) {
            value /= static_cast<double>(context.size());
        }
    }
}

TagModel TagModel::train(const std::vector<Example>& examples, const TrainSettings& settings) {
    if (examples.empty()) {
        throw std::invalid_argument("there is no image to learn from");
    }
    TagModel model;
    model.m_dimensions = examples.front().embedding.size();
    if (model.m_dimensions == 0) {
        throw std::invalid_argument("the images have no embedding");
    }
    std::map<std::string, std::size_t> counts;
    for (const auto& example : examples) {
        if (example.embedding.size() != model.m_dimensions) {
            throw std::invalid_argument("the embeddings are not all of one length");
        }
        std::vector<std::string> tags = example.tags;
        std::sort(tags.begin(), tags.end());
        tags.erase(std::unique(tags.begin(), tags.end()), tags.end());
        for (const auto& tag : tags) {
            ++counts[tag];
        }
    }
    // the vocabulary: tags on at least two images, the most frequent first, at most 512
    std::vector<std::pair<std::size_t, std::string>> ranked;
    for (const auto& [tag, count] : counts) {
        if (count >= 2) {
            ranked.emplace_back(count, tag);
        }
    }
    std::stable_sort(ranked.begin(), ranked.end(),
                     [](const auto& a, const auto& b) { return a.first > b.first; });
    ranked.resize(std::min(ranked.size(), k_max_tags));
    for (const auto& entry : ranked) {
        model.m_tags.push_back(entry.second);
    }
    std::sort(model.m_tags.begin(), model.m_tags.end());
    if (model.m_tags.empty()) {
        throw std::invalid_argument("no tag is on two images or more");
    }

    const std::size_t dims = model.m_dimensions;
    model.m_mean.assign(dims, 0.0f);
    std::vector<double> sum(dims, 0.0);
    for (const auto& example : examples) {
        for (std::size_t d = 0; d < dims; ++d) {
            sum[d] += example.embedding[d];
        }
    }
    for (std::size_t d = 0; d < dims; ++d) {
        model.m_mean[d] = static_cast<float>(sum[d] / static_cast<double>(examples.size()));
    }

    // the cells learn from most images; the confidences are fitted on the others
    std::vector<const Example*> fit;
    std::vector<const Example*> calibration;
    for (const auto& example : examples) {
        const bool calibrates =
            is_calibration(example.id) && calibration.size() < k_max_calibration;
        (calibrates ? calibration : fit).push_back(&example);
    }
    if (calibration.size() < k_min_calibration || fit.empty()) {
        fit.insert(fit.end(), calibration.begin(), calibration.end());
        calibration.clear();
    }
    model.fit_cells(fit, settings);
    std::vector<std::uint32_t> assignment =
        assign_examples(fit, model.m_mean, model.m_centroids, settings.threads);
    model.count_tags(fit, assignment);

    model.m_weights = {0.0, 1.0, 0.5, 0.0, 0.0};
    model.m_threshold = 0.5;
    if (!calibration.empty()) {
        if (settings.should_stop && settings.should_stop()) {
            throw TrainingStopped{};
        }
        std::vector<float> rows;
        std::vector<char> labels;
        std::vector<double> neighbours, cooccurrence;
        for (const Example* example : calibration) {
            TagSplit split = split_tags(example->id, example->tags);
            const std::vector<int> context = model.tag_ids(split.context);
            const std::vector<int> hidden = model.tag_ids(split.hidden);
            model.features(example->embedding, context, neighbours, cooccurrence);
            for (std::size_t t = 0; t < model.m_tags.size(); ++t) {
                if (std::binary_search(context.begin(), context.end(), static_cast<int>(t))) {
                    continue;
                }
                rows.insert(
                    rows.end(),
                    {1.0f, static_cast<float>(logit(neighbours[t])),
                     context.empty() ? 0.0f : static_cast<float>(logit(cooccurrence[t])),
                     static_cast<float>(logit(model.m_prior[t])), context.empty() ? 0.0f : 1.0f});
                labels.push_back(
                    std::binary_search(hidden.begin(), hidden.end(), static_cast<int>(t)) ? 1 : 0);
            }
        }
        model.m_weights = fit_logistic(rows, labels, k_feature_count);
        // the threshold with the best F1 on the calibration images
        long long positives = 0;
        for (char label : labels) {
            positives += label;
        }
        double best_f1 = -1;
        for (int step = 10; step <= 90; step += 5) {
            const double threshold = step / 100.0;
            long long predicted = 0, correct = 0;
            for (std::size_t i = 0; i < labels.size(); ++i) {
                double z = 0;
                for (std::size_t j = 0; j < k_feature_count; ++j) {
                    z += model.m_weights[j] * rows[i * k_feature_count + j];
                }
                if (sigmoid(z) >= threshold) {
                    ++predicted;
                    correct += labels[i];
                }
            }
            const double p = predicted == 0 ? 0 : double(correct) / double(predicted);
            const double r = positives == 0 ? 0 : double(correct) / double(positives);
            const double f1 = p + r == 0 ? 0 : 2 * p * r / (p + r);
            if (f1 > best_f1) {
                best_f1 = f1;
                model.m_threshold = threshold;
            }
        }
        // the final counts take every image, the calibration ones too
        std::vector<const Example*> all = fit;
        all.insert(all.end(), calibration.begin(), calibration.end());
        const auto more =
            assign_examples(calibration, model.m_mean, model.m_centroids, settings.threads);
        assignment.insert(assignment.end(), more.begin(), more.end());
        model.count_tags(all, assignment);
    }
    return model;
}

std::vector<Prediction> TagModel::confidences(const std::vector<float>& embedding,
                                              const std::vector<std::string>& context_tags) const {
    std::vector<Prediction> predictions;
    if (embedding.size() != m_dimensions || m_dimensions == 0) {
        return predictions;
    }
    const std::vector<int> context = tag_ids(context_tags);
    std::vector<std::string> given = context_tags;
    std::sort(given.begin(), given.end());
    std::vector<double> neighbours, cooccurrence;
    features(embedding, context, neighbours, cooccurrence);
    const std::size_t tags = m_tags.size();
    for (std::size_t t = 0; t < tags; ++t) {
        if (std::binary_search(given.begin(), given.end(), m_tags[t])) {
            continue;
        }
        const bool excluded = std::any_of(context.begin(), context.end(), [&](int u) {
            const auto column = static_cast<std::size_t>(u);
            return m_tag_counts[column] >= k_min_exclusion_support &&
                   m_together[t * tags + column] == 0;
        });
        if (excluded) {
            predictions.push_back({m_tags[t], 0.0});
            continue;
        }
        const double z =
            m_weights[0] + m_weights[1] * logit(neighbours[t]) +
            (context.empty() ? 0.0 : m_weights[2] * logit(cooccurrence[t]) + m_weights[4]) +
            m_weights[3] * logit(m_prior[t]);
        predictions.push_back({m_tags[t], sigmoid(z)});
    }
    std::sort(predictions.begin(), predictions.end(), [](const auto& a, const auto& b) {
        return a.confidence != b.confidence ? a.confidence > b.confidence : a.tag < b.tag;
    });
    return predictions;
}

std::vector<Prediction> TagModel::predict(const std::vector<float>& embedding,
                                          const std::vector<std::string>& context) const {
    std::vector<Prediction> predictions = confidences(embedding, context);
    predictions.erase(std::find_if(predictions.begin(), predictions.end(),
                                   [&](const auto& p) { return p.confidence < m_threshold; }),
                      predictions.end());
    return predictions;
}

}  // namespace eye::learning
