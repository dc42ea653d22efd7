#include "eye/learning/current_model.hpp"

#include <algorithm>

#include <fmt/format.h>
#include <pqxx/pqxx>

#include "eye/json/json.hpp"
#include "eye/log/log.hpp"

namespace eye::learning {
namespace {

const db::Statement k_current_info{
    "learning.current_info",
    "SELECT id, version, metrics->'source'->>'analyzer', metrics->'source'->>'model_version' "
    "FROM eye.models WHERE is_current AND status = 'succeeded'"};

const db::Statement k_current_model{
    "learning.current_model",
    "SELECT id, version, metrics->'source'->>'analyzer', metrics->'source'->>'model_version', "
    "       model "
    "FROM eye.models WHERE is_current AND status = 'succeeded'"};

CurrentModelInfo info_of(const pqxx::row& row) {
    CurrentModelInfo info;
    info.id = row[0].as<std::int64_t>();
    info.version = row[1].as<std::string>();
    info.source.analyzer = row[2].is_null() ? "" : row[2].as<std::string>();
    info.source.model_version = row[3].is_null() ? "" : row[3].as<std::string>();
    return info;
}

}  // namespace

void CurrentModel::apply(AnalysisResult& result) const {
    if (!info.applies_to(result.analyzer, result.model_version) || !result.embedding) {
        return;
    }
    json::Writer predicted;
    predicted.begin_object();
    for (const auto& prediction : model.predict(*result.embedding, result.meta_tags)) {
        result.meta_tags.push_back(prediction.tag);
        predicted.field(prediction.tag, prediction.confidence);
    }
    predicted.end_object();
    result.predicted_tags_json = predicted.take();
    result.model_version = info.combined_version(result.model_version);
}

std::string analyzer_version_of(const std::string& recorded) {
    constexpr std::string_view k_marker = "+tags-";
    const auto at = recorded.rfind(k_marker);
    if (at == std::string::npos || at + k_marker.size() == recorded.size()) {
        return recorded;
    }
    const bool digits =
        std::all_of(recorded.begin() + static_cast<std::ptrdiff_t>(at + k_marker.size()),
                    recorded.end(), [](char c) { return c >= '0' && c <= '9'; });
    return digits ? recorded.substr(0, at) : recorded;
}

std::optional<CurrentModelInfo> current_model_info(db::Transaction& tx) {
    auto row = tx.at_most_one(k_current_info);
    if (!row) {
        return std::nullopt;
    }
    return info_of(*row);
}

std::shared_ptr<const CurrentModel> load_current_model(db::Transaction& tx) {
    auto row = tx.at_most_one(k_current_model);
    if (!row) {
        return nullptr;
    }
    CurrentModelInfo info = info_of(*row);
    if ((*row)[4].is_null()) {
        return nullptr;  // a version of an outside trainer: nothing for eye to apply
    }
    pqxx::binarystring blob((*row)[4]);
    auto model = TagModel::deserialize(std::string_view(blob.get(), blob.size()));
    if (!model) {
        log::warning("the current model version {} cannot be used: {}; analyses go on without it",
                     info.version, model.error());
        return nullptr;
    }
    return std::make_shared<const CurrentModel>(CurrentModel{std::move(info), std::move(*model)});
}

bool CurrentModelFollower::refresh(db::Transaction& tx) {
    auto info = current_model_info(tx);
    const std::int64_t id = info ? info->id : 0;
    if (id == m_id) {
        return false;
    }
    m_id = id;
    m_model = info ? load_current_model(tx) : nullptr;
    return true;
}

std::string describe(const CurrentModel& model, const std::string& analyzer,
                     const std::string& model_version) {
    const auto& source = model.info.source;
    return fmt::format(
        "tag model {} ({} tags, learned from {} {} embeddings): {}", model.info.version,
        model.model.vocabulary().size(), source.analyzer, source.model_version,
        model.info.applies_to(analyzer, model_version)
            ? std::string("applied to every analysis")
            : fmt::format("not applied, the analyzer is {} {}", analyzer, model_version));
}

std::string current_version_for(const std::string& analyzer, const std::string& model_version,
                                const std::optional<CurrentModelInfo>& current) {
    return current && current->applies_to(analyzer, model_version)
               ? current->combined_version(model_version)
               : model_version;
}

}  // namespace eye::learning
