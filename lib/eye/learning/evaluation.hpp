#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "eye/learning/tag_model.hpp"

// How well a tag model does, on images it never saw. An image is held out by a hash of its id,
// so it is held out from every training: two versions are compared on the same images. Each
// held-out image keeps about half its tags as context and hides the rest; a model is scored on
// the hidden ones, which is its job in the worker: adding the tags an image lacks.
namespace eye::learning {

// About 15 % of ids.
bool is_held_out(std::int64_t id);
// About 20 % of the remaining ids: the images a model's confidences are fitted on.
bool is_calibration(std::int64_t id);

struct TagSplit {
    std::vector<std::string> context;
    std::vector<std::string> hidden;  // at least one when there is a tag
};
TagSplit split_tags(std::int64_t id, std::vector<std::string> tags);

// Micro-averaged over every hidden tag and every prediction.
struct Scores {
    long long images = 0;
    long long hidden = 0;
    long long predicted = 0;
    long long correct = 0;
    double precision() const { return predicted == 0 ? 0.0 : double(correct) / double(predicted); }
    double recall() const { return hidden == 0 ? 0.0 : double(correct) / double(hidden); }
    double f1() const;
};

Scores evaluate(const TagModel& model, const std::vector<Example>& held_out);

// The majority-tag baseline: every image gets the training set's most frequent tags it does not
// have, as many as the training images hide on average.
Scores evaluate_baseline(const std::vector<Example>& training,
                         const std::vector<Example>& held_out);

}  // namespace eye::learning
