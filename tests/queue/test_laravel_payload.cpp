// Laravel's queue payloads for Avinash-EYE's ProcessImageAnalysis job, built byte for byte as
// Laravel 11 and 12 write them (Queue::createObjectPayload, json_encode with
// JSON_UNESCAPED_UNICODE, the command serialized through SerializesModels::__serialize, which
// leaves out properties at their defaults), with and without the Queueable properties set; and
// what the bridge must leave alone.
#include <string>

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include "eye/queue/laravel_payload.hpp"

using eye::queue::image_analysis_id;
using eye::queue::php_object_int;

namespace {

// PHP's json_encode of a string with JSON_UNESCAPED_UNICODE: quotes, backslashes and slashes
// escaped, control characters as \b \f \n \r \t or \u00XX.
std::string php_json_string(const std::string& text) {
    std::string out = "\"";
    for (char c : text) {
        switch (c) {
            case '"':
                out += "\\\"";
                break;
            case '\\':
                out += "\\\\";
                break;
            case '/':
                out += "\\/";
                break;
            case '\n':
                out += "\\n";
                break;
            case '\t':
                out += "\\t";
                break;
            default:
                if (static_cast<unsigned char>(c) < 0x20) {
                    out += fmt::format("\\u{:04x}", static_cast<unsigned char>(c));
                } else {
                    out += c;
                }
        }
    }
    return out + "\"";
}

// PHP's serialize() of a string: its length in bytes.
std::string php_string(const std::string& text) {
    return fmt::format("s:{}:\"{}\";", text.size(), text);
}

// The job object as serialize() writes it through SerializesModels: imageFileId (promoted, no
// default) always; Queueable's properties only when set.
std::string command(long long id, const std::string& set_properties = "", int extra = 0) {
    const std::string name = "App\\Jobs\\ProcessImageAnalysis";
    return fmt::format("O:{}:\"{}\":{}:{{{}i:{};{}}}", name.size(), name, 1 + extra,
                       php_string("imageFileId"), id, set_properties);
}

// Laravel 11's payload (Queue::createObjectPayload) for the job, whose $tries is 3 and $timeout
// 300.
std::string laravel11(const std::string& serialized) {
    return fmt::format(
        "{{\"uuid\":\"9f3b5c1e-8a2d-4f6b-9c7e-1d2a3b4c5d6e\",\"displayName\":{},\"job\":{},"
        "\"maxTries\":3,\"maxExceptions\":null,\"failOnTimeout\":false,\"backoff\":null,"
        "\"timeout\":300,\"retryUntil\":null,\"data\":{{\"commandName\":{},\"command\":{}}}}}",
        php_json_string("App\\Jobs\\ProcessImageAnalysis"),
        php_json_string("Illuminate\\Queue\\CallQueuedHandler@call"),
        php_json_string("App\\Jobs\\ProcessImageAnalysis"), php_json_string(serialized));
}

// Laravel 12 adds data.batchId and createdAt.
std::string laravel12(const std::string& serialized) {
    return fmt::format(
        "{{\"uuid\":\"0d1e2f3a-4b5c-4d6e-8f70-8192a3b4c5d6\",\"displayName\":{},\"job\":{},"
        "\"maxTries\":3,\"maxExceptions\":null,\"failOnTimeout\":false,\"backoff\":null,"
        "\"timeout\":300,\"retryUntil\":null,\"data\":{{\"commandName\":{},\"command\":{},"
        "\"batchId\":null}},\"createdAt\":1764669600}}",
        php_json_string("App\\Jobs\\ProcessImageAnalysis"),
        php_json_string("Illuminate\\Queue\\CallQueuedHandler@call"),
        php_json_string("App\\Jobs\\ProcessImageAnalysis"), php_json_string(serialized));
}

}  // namespace

TEST_CASE("the image id of ProcessImageAnalysis payloads as Laravel 11 and 12 write them") {
    // ProcessImageAnalysis::dispatch(42): nothing but the id
    const std::string plain = command(42);
    CHECK(plain == "O:29:\"App\\Jobs\\ProcessImageAnalysis\":1:{s:11:\"imageFileId\";i:42;}");
    CHECK(laravel11(plain) ==
          "{\"uuid\":\"9f3b5c1e-8a2d-4f6b-9c7e-1d2a3b4c5d6e\",\"displayName\":\"App\\\\Jobs\\\\"
          "ProcessImageAnalysis\",\"job\":\"Illuminate\\\\Queue\\\\CallQueuedHandler@call\","
          "\"maxTries\":3,\"maxExceptions\":null,\"failOnTimeout\":false,\"backoff\":null,"
          "\"timeout\":300,\"retryUntil\":null,\"data\":{\"commandName\":\"App\\\\Jobs\\\\"
          "ProcessImageAnalysis\",\"command\":\"O:29:\\\"App\\\\Jobs\\\\ProcessImageAnalysis"
          "\\\":1:{s:11:\\\"imageFileId\\\";i:42;}\"}}");
    CHECK(image_analysis_id(laravel11(plain)) == 42);
    CHECK(image_analysis_id(laravel12(plain)) == 42);

    // ->onQueue('image-processing'), as the uploader dispatches it
    const std::string on_queue =
        command(7, php_string("queue") + php_string("image-processing"), 1);
    CHECK(on_queue ==
          "O:29:\"App\\Jobs\\ProcessImageAnalysis\":2:{s:11:\"imageFileId\";i:7;s:5:"
          "\"queue\";s:16:\"image-processing\";}");
    CHECK(image_analysis_id(laravel11(on_queue)) == 7);
    CHECK(image_analysis_id(laravel12(on_queue)) == 7);

    // every Queueable property set: connection, queue, a Carbon delay, afterCommit, middleware,
    // a chained job (itself serialized into a string), chain connection and queue
    const std::string carbon =
        "O:25:\"Illuminate\\Support\\Carbon\":3:{s:4:\"date\";s:26:\"2026-12-02 10:00:00.000000\";"
        "s:13:\"timezone_type\";i:3;s:8:\"timezone\";s:3:\"UTC\";}";
    const std::string chained_job = command(8);
    const std::string everything =
        command(123456789,
                php_string("connection") + php_string("database") + php_string("queue") +
                    php_string("image-processing") + php_string("delay") + carbon +
                    php_string("afterCommit") + "b:1;" + php_string("middleware") +
                    "a:1:{i:0;O:8:\"stdClass\":0:{}}" + php_string("chained") + "a:1:{i:0;" +
                    php_string(chained_job) + "}" + php_string("chainConnection") + "N;" +
                    php_string("chainQueue") + php_string("default") + php_string("ratio") +
                    "d:0.5;" + php_string(std::string("\0*\0secret", 9)) + "s:2:\"x;\";",
                10);
    CHECK(image_analysis_id(laravel11(everything)) == 123456789);
    CHECK(image_analysis_id(laravel12(everything)) == 123456789);
    // the id after the other properties is found too
    const std::string id_last =
        "O:29:\"App\\Jobs\\ProcessImageAnalysis\":2:{s:5:\"queue\";s:1:\"}\";"
        "s:11:\"imageFileId\";i:99;}";
    CHECK(image_analysis_id(laravel11(id_last)) == 99);
}

TEST_CASE("payloads the bridge cannot use are refused with a reason, never guessed") {
    auto reason = [](const std::string& payload) {
        auto id = image_analysis_id(payload);
        REQUIRE_FALSE(id.has_value());
        return id.error();
    };
    CHECK_THAT(reason("not json"), Catch::StartsWith("the payload is not JSON: "));
    CHECK(reason("[]") == "not a Laravel job payload");
    CHECK(reason("{\"displayName\":\"App\\\\Jobs\\\\ProcessBatchImages\",\"data\":{\"command\":"
                 "\"\"}}") == "a App\\Jobs\\ProcessBatchImages job");
    // ShouldBeEncrypted: the command is the encrypter's base64 JSON
    CHECK(reason(laravel11("eyJpdiI6IjEyMyIsInZhbHVlIjoiNDU2In0=")) ==
          "the command is encrypted or not serialized PHP");
    // a string length that runs past the end
    CHECK_THAT(reason(laravel11("O:29:\"App\\Jobs\\ProcessImageAnalysis\":1:{s:99:\"imageFileId\";"
                                "i:42;}")),
               Catch::StartsWith("malformed property name"));
    // a member count that does not match
    CHECK_THAT(reason(laravel11(
                   "O:29:\"App\\Jobs\\ProcessImageAnalysis\":2:{s:11:\"imageFileId\";i:42;}")),
               Catch::StartsWith("malformed property name at byte "));
    CHECK(reason(laravel11(command(42) + "trailing")) ==
          "the serialized object does not end where it says");
    CHECK(reason(laravel11("O:29:\"App\\Jobs\\ProcessImageAnalysis\":1:{s:11:\"imageFileId\";s:"
                           "2:\"42\";}")) == "the command has no integer 'imageFileId'");
    CHECK(reason(laravel11(command(0))) == "imageFileId 0 is not an id");
    CHECK(reason(laravel11(command(-3))) == "imageFileId -3 is not an id");
    // deep nesting is refused, not recursed into without end
    std::string deep =
        "O:29:\"App\\Jobs\\ProcessImageAnalysis\":2:{s:11:\"imageFileId\";i:1;"
        "s:1:\"a\";";
    for (int i = 0; i < 100; ++i) {
        deep += "a:1:{i:0;";
    }
    deep += "N;" + std::string(100, '}') + "}";
    CHECK_THAT(reason(laravel11(deep)), Catch::StartsWith("malformed value of 'a'"));
}

TEST_CASE("php_object_int reads one integer property of a serialized object") {
    CHECK(php_object_int("O:8:\"stdClass\":1:{s:1:\"n\";i:-5;}", "n") == -5);
    CHECK_FALSE(php_object_int("a:1:{s:1:\"n\";i:5;}", "n").has_value());
    CHECK_FALSE(php_object_int("O:8:\"stdClass\":1:{s:1:\"n\";i:5;", "n").has_value());
    CHECK_FALSE(php_object_int("", "n").has_value());
}
