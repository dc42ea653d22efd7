#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <tl/expected.hpp>

// Reading the jobs Avinash-EYE puts in Laravel's queue table (`jobs.payload`): the JSON that
// Laravel's Queue::createPayload writes, whose data.command is the job object as PHP's serialize()
// writes it (with Laravel's SerializesModels: only properties that differ from their defaults).
// For `ProcessImageAnalysis::dispatch(42)->onQueue('image-processing')` the command is
//   O:29:"App\Jobs\ProcessImageAnalysis":2:{s:11:"imageFileId";i:42;s:5:"queue";s:16:"image-processing";}
namespace eye::queue {

inline constexpr std::string_view k_image_analysis_job = "App\\Jobs\\ProcessImageAnalysis";

// The image id of a ProcessImageAnalysis payload, or why it cannot be read: another job class
// ("a App\Jobs\ProcessBatchImages job"), JSON that is not a Laravel payload, an encrypted command
// (ShouldBeEncrypted), a command that is not PHP's serialize() format or has no integer
// imageFileId. Never throws.
tl::expected<std::int64_t, std::string> image_analysis_id(std::string_view payload);

// The value of the top-level property `name` of a serialized PHP object, when it is an integer
// (i:42;). Walks nested arrays and objects by their declared lengths without building them;
// a malformed or truncated string gives an error.
tl::expected<std::int64_t, std::string> php_object_int(std::string_view serialized,
                                                       std::string_view name);

}  // namespace eye::queue
