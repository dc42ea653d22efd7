#pragma once

#include <algorithm>
#include <functional>
#include <string>

#include <catch2/catch.hpp>

#include "eye/analyzers/analyzer.hpp"

namespace eye::testing {

// The AnalysisError that `action` throws; fails the test when it throws none.
inline analyzers::AnalysisError analysis_error_of(const std::function<void()>& action) {
    try {
        action();
    } catch (const analyzers::AnalysisError& error) {
        return error;
    }
    FAIL("expected an AnalysisError");
    return analyzers::AnalysisError(analyzers::AnalysisError::Kind::temporary, "unreachable");
}

// The AnalysisError that analyzing `media` throws.
template <typename Analyzer>
analyzers::AnalysisError analysis_error(Analyzer& analyzer, const analyzers::MediaItem& media) {
    return analysis_error_of([&] { analyzer.analyze(media); });
}

// Whether `result` carries the meta tag `tag` ("portrait", "blurry", "brown").
inline bool has_tag(const AnalysisResult& result, const std::string& tag) {
    return std::find(result.meta_tags.begin(), result.meta_tags.end(), tag) !=
           result.meta_tags.end();
}

}  // namespace eye::testing
