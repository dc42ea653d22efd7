#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "eye/core/analysis_result.hpp"
#include "eye/db/session.hpp"
#include "eye/learning/tag_model.hpp"

// The model version in use: the eye.models row marked current, which the worker applies to
// what its analyzer found and re-analysis compares against.
namespace eye::learning {

// What a version was trained on: embeddings of one analyzer at one model version. It applies
// only to analyses of the same kind, whose embeddings mean the same.
struct ModelSource {
    std::string analyzer;       // "builtin"
    std::string model_version;  // "builtin-1"
};

struct CurrentModelInfo {
    std::int64_t id = 0;
    std::string version;  // "tags-7"
    ModelSource source;

    // The version an analysis records when this model was applied: "builtin-1+tags-7".
    std::string combined_version(const std::string& analyzer_version) const {
        return analyzer_version + "+" + version;
    }
    // A source without a model version (images analyzed before eye, by Avinash-EYE's own job)
    // fits every version of its analyzer.
    bool applies_to(const std::string& analyzer, const std::string& model_version) const {
        return analyzer == source.analyzer &&
               (source.model_version.empty() || model_version == source.model_version);
    }
};

struct CurrentModel {
    CurrentModelInfo info;
    TagModel model;

    // Adds the tags the model predicts (confidence at or above its threshold, none the analysis
    // has) to the result's meta_tags, their confidences to predicted_tags_json and the combined
    // version to model_version. An analysis of another kind, or without an embedding, is left
    // as it is.
    void apply(AnalysisResult& result) const;
};

// An analysis's model version without the tag model's part: "builtin-1+tags-7" -> "builtin-1";
// "florence+clip" stays as it is (an analyzer's own version may hold a '+').
std::string analyzer_version_of(const std::string& recorded);

// The current version's row without its model (cheap): nullopt when there is none.
std::optional<CurrentModelInfo> current_model_info(db::Transaction& tx);

// The current version with its model; nullptr when there is none or it cannot be read (logged).
std::shared_ptr<const CurrentModel> load_current_model(db::Transaction& tx);

// The current version as a long-running worker sees it: looked up cheaply at every refresh, the
// model read only when the version changed.
class CurrentModelFollower {
public:
    // Looks again; true when the version changed since the last look (model() is then the new
    // one, or null when there is none or it cannot be read).
    bool refresh(db::Transaction& tx);
    const std::shared_ptr<const CurrentModel>& model() const { return m_model; }

private:
    std::int64_t m_id = 0;
    std::shared_ptr<const CurrentModel> m_model;
};

// One line on a model and whether it fits an analyzer: "tag model tags-3 (12 tags, learned from
// builtin builtin-1 embeddings): applied to every analysis".
std::string describe(const CurrentModel& model, const std::string& analyzer,
                     const std::string& model_version);

// The version an analysis by (analyzer, its model version) records now that `current` is in
// use: the combined one where it applies, else the analyzer's own.
std::string current_version_for(const std::string& analyzer, const std::string& model_version,
                                const std::optional<CurrentModelInfo>& current);

}  // namespace eye::learning
