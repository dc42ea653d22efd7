// eye serve end to end: the built program on a loopback port, asked over HTTP (cpp-httplib's
// client), its answers checked against what the database holds.

#include <arpa/inet.h>
#include <chrono>
#include <csignal>
#include <fstream>
#include <httplib.h>
#include <map>
#include <netinet/in.h>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <fmt/format.h>

#include "eye/analyzers/builtin/builtin.hpp"
#include "eye/json/json.hpp"
#include "support/database.hpp"
#include "support/media.hpp"
#include "support/process.hpp"
#include "support/temp_dir.hpp"

using eye::testing::insert_media;
using eye::testing::MediaRow;
using eye::testing::TempDir;
using eye::testing::TestDatabase;
using namespace std::chrono_literals;

namespace {

// A port nothing listens on right now.
int free_port() {
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0);
    socklen_t size = sizeof address;
    getsockname(fd, reinterpret_cast<sockaddr*>(&address), &size);
    close(fd);
    return ntohs(address.sin_port);
}

// eye serve on a loopback port, stopped with SIGTERM at the end.
class Served {
public:
    Served(const TestDatabase& db, std::vector<std::string> args = {},
           eye::testing::Environment extra = {})
        : m_port(free_port()), m_client("127.0.0.1", m_port) {
        eye::testing::Environment env{{"EYE_DATABASE_URL", db.url()},
                                      {"EYE_STATE_DIR", m_state.str()}};
        for (auto& [key, value] : extra) {
            env[key] = value;
        }
        args.push_back(fmt::format("--listen=127.0.0.1:{}", m_port));
        m_process.emplace("eye", prepend("serve", args), env);
        m_client.set_connection_timeout(2);
        auto deadline = std::chrono::steady_clock::now() + 15s;
        while (!m_client.Get("/healthz")) {
            REQUIRE(m_process->running());
            REQUIRE(std::chrono::steady_clock::now() < deadline);
            std::this_thread::sleep_for(50ms);
        }
    }
    ~Served() {
        m_process->signal(SIGTERM);
        m_process->wait();
    }

    httplib::Client& client() { return m_client; }
    int port() const { return m_port; }

private:
    static std::vector<std::string> prepend(const std::string& first,
                                            std::vector<std::string> rest) {
        rest.insert(rest.begin(), first);
        return rest;
    }

    TempDir m_state;
    int m_port;
    httplib::Client m_client;
    std::optional<eye::testing::Process> m_process;
};

rapidjson::Document status_of(httplib::Client& client) {
    auto response = client.Get("/api/status");
    REQUIRE(response);
    REQUIRE(response->status == 200);
    auto parsed = eye::json::parse(response->body);
    REQUIRE(parsed);
    return std::move(*parsed);
}

}  // namespace

TEST_CASE("eye serve's figures are the database's, and one snapshot serves a refresh interval") {
    TestDatabase db;
    for (int i = 0; i < 3; ++i) {
        insert_media(db, MediaRow().with_status("completed"));
    }
    insert_media(db, MediaRow().with_status("failed"));
    insert_media(db, MediaRow().with_status("pending"));
    insert_media(db, MediaRow().with_status("pending").of_type("video"));
    db.execute("INSERT INTO eye.jobs (media_id) VALUES (5)");
    Served served(db, {"--refresh=30s"});
    auto status = status_of(served.client());
    const auto& images = status["images_by_status"];
    for (const char* state : {"pending", "processing", "completed", "failed"}) {
        INFO(state);
        CHECK(std::to_string(images[state].GetInt64()) ==
              db.query_value(fmt::format("SELECT count(*) FROM media_files WHERE "
                                         "processing_status = '{}' AND media_type = 'image' AND "
                                         "deleted_at IS NULL",
                                         state)));
    }
    CHECK(status["queue"]["queued"].GetInt64() == 1);
    CHECK(std::string(status["status"].GetString()) == "ok");
    // within the refresh interval every client gets the same snapshot
    db.execute("INSERT INTO eye.jobs (media_id) VALUES (4)");
    auto again = status_of(served.client());
    CHECK(std::string(again["taken_at"].GetString()) == status["taken_at"].GetString());
    CHECK(again["queue"]["queued"].GetInt64() == 1);
    // serve records no runs and writes nothing
    CHECK(db.query_value("SELECT count(*) FROM eye.runs") == "0");
}

TEST_CASE("eye serve shows each live worker with its heartbeat's age and the jobs it holds") {
    TestDatabase db;
    const auto held = insert_media(db, MediaRow().with_status("processing").at("2024/held.jpg"));
    const auto other = insert_media(db, MediaRow().with_status("processing").at("other.jpg"));
    db.execute(
        "INSERT INTO eye.workers (id, host, pid, heartbeat_at, jobs_done) VALUES "
        "('w-1', 'host-a', 11, now() - interval '20 seconds', 7), "
        "('w-2', 'host-b', 12, now(), 0)");
    db.execute(
        "INSERT INTO eye.workers (id, host, pid, status) VALUES ('w-old', 'h', 1, 'stopped')");
    db.execute(fmt::format(
        "INSERT INTO eye.jobs (media_id, status, worker_id, started_at, heartbeat_at, attempts) "
        "VALUES ({0}, 'running', 'w-1', now() - interval '90 seconds', now(), 1), "
        "({1}, 'running', 'w-2', now(), now(), 1)",
        held, other));
    const std::string job =
        db.query_value(fmt::format("SELECT id FROM eye.jobs WHERE media_id = {}", held));
    Served served(db, {"--refresh=30s"});
    auto status = status_of(served.client());
    const auto& workers = status["workers"];
    REQUIRE(workers.Size() == 2);  // the stopped one is not alive
    CHECK(std::string(workers[0]["id"].GetString()) == "w-1");
    CHECK(workers[0]["heartbeat_age_seconds"].GetDouble() >= 19);
    CHECK(workers[0]["holds"].GetInt64() == 1);
    REQUIRE(workers[0]["held"].Size() == 1);
    CHECK(std::to_string(workers[0]["held"][0]["job_id"].GetInt64()) == job);
    CHECK(workers[0]["held"][0]["media_id"].GetInt64() == held);
    CHECK(std::string(workers[0]["held"][0]["file_path"].GetString()) == "2024/held.jpg");
    CHECK(workers[0]["held"][0]["seconds"].GetDouble() >= 89);
    CHECK(std::string(workers[1]["held"][0]["file_path"].GetString()) == "other.jpg");
    auto page = served.client().Get("/");
    REQUIRE(page);
    // job, image, file, and for how long (90 s and more: "2m")
    CHECK_THAT(page->body, Catch::Contains(fmt::format("{} {} 2024/held.jpg 2m<br>", job, held)));
}

TEST_CASE(
    "eye serve counts the images by analysis, missing and outdated, as the database has them") {
    TestDatabase db;
    const std::string current = eye::analyzers::k_builtin_model_version;
    auto completed = [&db](const char* description) {
        return insert_media(db, MediaRow().with_status("completed").described(description));
    };
    std::vector<std::int64_t> by_current;
    for (int i = 0; i < 4; ++i) {
        by_current.push_back(completed("a cat"));
    }
    const auto by_old = completed("a dog");
    const auto by_avinash = completed("");         // an empty description: missing
    completed("upstream's");                       // before eye: no eye.media_state row
    const auto only_failed = completed("a tree");  // eye.media_state without a good analysis
    const auto deleted = insert_media(db, MediaRow().with_status("completed").soft_deleted());
    const auto requeued = insert_media(db, MediaRow().with_status("pending"));
    insert_media(db, MediaRow().with_status("pending"));
    insert_media(db, MediaRow().with_status("failed"));
    insert_media(db, MediaRow().with_status("completed").of_type("video"));
    // every image has an embedding but by_current[0] (missing one)
    db.execute(
        fmt::format("UPDATE media_files SET embedding = array_fill(0.5::real, ARRAY[512]){} "
                    "WHERE id <> {}",
                    eye::testing::server_has_pgvector() ? "::vector" : "", by_current[0]));
    auto state = [&db](std::int64_t id, const char* analyzer, const std::string& version) {
        db.execute(
            fmt::format("INSERT INTO eye.media_state (media_id, analyzer, model_version, "
                        "status, analyzed_at) VALUES ({}, {}, {}, 'completed', now())",
                        id, analyzer, version));
    };
    for (auto id : by_current) {
        state(id, "'builtin'", "'" + current + "'");
    }
    state(by_old, "'builtin'", "'builtin-1'");
    state(by_avinash, "'avinash'", "'florence+clip'");
    state(deleted, "'builtin'", "'" + current + "'");
    state(requeued, "'builtin'", "'" + current + "'");
    db.execute(
        fmt::format("INSERT INTO eye.media_state (media_id, status, failed_at, "
                    "consecutive_failures) VALUES ({}, 'failed', now(), 1)",
                    only_failed));

    Served served(db, {"--refresh=1s"});
    // the first count is made at start, in the background: wait for it
    rapidjson::Document status;
    auto deadline = std::chrono::steady_clock::now() + 10s;
    do {
        std::this_thread::sleep_for(100ms);
        status = status_of(served.client());
        REQUIRE(std::chrono::steady_clock::now() < deadline);
    } while (!status.HasMember("library"));
    const auto& library = status["library"];
    REQUIRE(!library.HasMember("error"));
    CHECK(std::string(library["analyzer"].GetString()) == "builtin");
    CHECK(library["model_version"].GetString() == current);

    // what the design says, asked of SQL directly
    const std::string live_completed =
        "m.media_type = 'image' AND m.deleted_at IS NULL AND m.processing_status = 'completed'";
    CHECK(std::to_string(library["completed"].GetInt64()) ==
          db.query_value("SELECT count(*) FROM media_files m WHERE " + live_completed));
    CHECK(std::to_string(library["outdated"].GetInt64()) ==
          db.query_value(fmt::format(
              "SELECT count(*) FROM media_files m LEFT JOIN eye.media_state s ON s.media_id = m.id "
              "WHERE {} AND (s.analyzer IS DISTINCT FROM 'builtin' OR s.model_version IS "
              "DISTINCT FROM '{}')",
              live_completed, current)));
    CHECK(library["outdated"].GetInt64() == 4);  // by_old, by_avinash, before_eye, only_failed
    CHECK(std::to_string(library["missing"].GetInt64()) ==
          db.query_value("SELECT count(*) FROM media_files m WHERE m.media_type = 'image' AND "
                         "m.deleted_at IS NULL AND (m.processing_status = 'pending' OR "
                         "(m.processing_status = 'completed' AND (m.embedding IS NULL OR "
                         "m.description IS NULL OR m.description = '')))"));
    CHECK(library["missing"].GetInt64() == 4);  // 2 pending, by_current[0], by_avinash
    CHECK(library["not_by_eye"].GetInt64() == 2);
    std::map<std::string, std::int64_t> by_eye;
    for (const auto& row : library["by_eye"].GetArray()) {
        by_eye[std::string(row["analyzer"].GetString()) + " " + row["model_version"].GetString()] =
            row["images"].GetInt64();
    }
    CHECK(by_eye == std::map<std::string, std::int64_t>{{"builtin " + current, 4},
                                                        {"builtin builtin-1", 1},
                                                        {"avinash florence+clip", 1}});

    // the page and /metrics say the same
    auto page = served.client().Get("/");
    REQUIRE(page);
    CHECK_THAT(page->body, Catch::Contains("<td class=\"num\">4</td><td class=\"num\">4</td>"));
    auto metrics = served.client().Get("/metrics");
    REQUIRE(metrics);
    CHECK_THAT(
        metrics->body,
        Catch::Contains(fmt::format(
            "eye_images_outdated{{analyzer=\"builtin\",model_version=\"{}\"}} 4\n", current)));
    CHECK_THAT(metrics->body, Catch::Contains("eye_images_missing_analysis 4\n"));

    // a new analysis is counted once the count is older than the refresh interval and a page
    // asks: the next count after that
    db.execute(fmt::format("UPDATE eye.media_state SET model_version = '{}' WHERE media_id = {}",
                           current, by_old));
    deadline = std::chrono::steady_clock::now() + 10s;
    rapidjson::Document later;
    do {
        std::this_thread::sleep_for(300ms);
        later = status_of(served.client());
        REQUIRE(std::chrono::steady_clock::now() < deadline);
    } while (later["library"]["outdated"].GetInt64() != 3);
    CHECK(later["library"]["by_eye"][0]["images"].GetInt64() == 5);
}

TEST_CASE("eye serve's charts count the analyses the database holds, period by period") {
    TestDatabase db;
    // completed jobs over the last day and month, failures too, and some too old to show
    db.execute(
        "INSERT INTO eye.jobs (media_id, status, finished_at) "
        "SELECT g, 'completed', now() - (g * interval '7 minutes') FROM generate_series(1, 300) g");
    db.execute(
        "INSERT INTO eye.jobs (media_id, status, finished_at) SELECT 1000 + g, 'completed', "
        "now() - (g * interval '1 day') - interval '1 hour' FROM generate_series(1, 40) g");
    db.execute(
        "INSERT INTO eye.failed_jobs (job_id, kind, media_id, attempts, error, created_at, "
        "failed_at) SELECT g, 'analyze', g, 3, 'boom', now(), now() - (g * interval '33 minutes') "
        "FROM generate_series(1, 50) g");
    db.execute(
        "INSERT INTO eye.models (version, trainer, status, is_current, metrics) VALUES "
        "('v-one', 'builtin', 'succeeded', false, "
        "'{\"held_out\": {\"precision\": 0.5, \"recall\": 0.25}}'), "
        "('v-two', 'builtin', 'succeeded', true, "
        "'{\"held_out\": {\"precision\": 0.75, \"recall\": 0.5}}')");
    Served served(db);
    auto status = status_of(served.client());
    const auto& recent = status["per_10_minutes"];
    REQUIRE(recent.Size() == 144);
    // every period against SQL's own count of the same period
    std::int64_t shown_completed = 0;
    for (const auto& bucket : recent.GetArray()) {
        const std::string start = bucket["start"].GetString();
        const auto count = [&](const std::string& table, const std::string& column,
                               const std::string& where) {
            return std::stoll(db.query_value(
                fmt::format("SELECT count(*) FROM {} WHERE {} AND {} >= '{}'::timestamptz AND {} < "
                            "'{}'::timestamptz + interval '10 minutes'",
                            table, where, column, start, column, start)));
        };
        INFO(start);
        CHECK(bucket["completed"].GetInt64() ==
              count("eye.jobs", "finished_at", "status = 'completed'"));
        CHECK(bucket["failed"].GetInt64() == count("eye.failed_jobs", "failed_at", "true"));
        shown_completed += bucket["completed"].GetInt64();
    }
    // 300 jobs 7 minutes apart reach back 35 hours; the 144 periods, the last one open, span
    // between 23 h 50 min and 24 h: 204 to 206 of the jobs
    CHECK(shown_completed >= 204);
    CHECK(shown_completed <= 206);
    const auto& daily = status["per_day"];
    REQUIRE(daily.Size() == 30);
    std::int64_t daily_completed = 0;
    for (const auto& bucket : daily.GetArray()) {
        daily_completed += bucket["completed"].GetInt64();
    }
    CHECK(std::to_string(daily_completed) ==
          db.query_value(fmt::format("SELECT count(*) FROM eye.jobs WHERE status = 'completed' "
                                     "AND finished_at >= '{}'::timestamptz",
                                     daily[0]["start"].GetString())));
    // the learning loop's versions, oldest first, with their held-out scores
    REQUIRE(status["models"].Size() == 2);
    CHECK(std::string(status["models"][0]["version"].GetString()) == "v-one");
    CHECK(status["models"][1]["precision"].GetDouble() == 0.75);
    CHECK(status["models"][1]["current"].GetBool());
    // and the page draws them: the hover text of a period, a model's bars
    auto page = served.client().Get("/");
    REQUIRE(page);
    const auto& last = recent[recent.Size() - 1];
    CHECK_THAT(page->body,
               Catch::Contains(fmt::format("<title>{}: {} completed, {} failed</title>",
                                           last["start"].GetString(), last["completed"].GetInt64(),
                                           last["failed"].GetInt64())));
    CHECK_THAT(page->body,
               Catch::Contains("<title>v-two, current (succeeded): precision 0.750, recall "
                               "0.500</title>"));
}

TEST_CASE("eye serve's /metrics is Prometheus text") {
    TestDatabase db;
    insert_media(db, MediaRow().with_status("completed"));
    Served served(db);
    auto response = served.client().Get("/metrics");
    REQUIRE(response);
    CHECK(response->status == 200);
    CHECK_THAT(response->body, Catch::Contains("\neye_images{status=\"completed\"} 1\n"));
    CHECK_THAT(response->body, Catch::Contains("\neye_check_status{check=\"database\"} 0\n"));
    TempDir dir;
    const auto file = dir.path / "metrics.prom";
    std::ofstream(file) << response->body;
    const std::string bundled =
        std::string(EYE_SOURCE_DIR) + "/.cache/test-tools/prometheus/usr/bin/promtool";
    const std::string promtool = access(bundled.c_str(), X_OK) == 0 ? bundled : "promtool";
    auto check =
        eye::testing::run("/bin/sh", {"-c", promtool + " check metrics < " + file.string()});
    INFO(check.out << check.err);
    CHECK(check.exit_code == 0);
}

TEST_CASE("Prometheus itself scrapes eye serve's /metrics and records the series") {
    const std::string prometheus =
        std::string(EYE_SOURCE_DIR) + "/.cache/test-tools/prometheus/usr/bin/prometheus";
    if (access(prometheus.c_str(), X_OK) != 0) {
        FAIL("no prometheus server at " << prometheus << "; run scripts/setup --test");
    }
    TestDatabase db;
    insert_media(db, MediaRow().with_status("completed"));
    insert_media(db, MediaRow().with_status("failed"));
    Served served(db, {"--refresh=1s"});
    TempDir dir;
    const int port = free_port();
    std::ofstream(dir.path / "prometheus.yml") << fmt::format(
        "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: eye\n"
        "    static_configs:\n      - targets: ['127.0.0.1:{}']\n",
        served.port());
    eye::testing::Process server(prometheus,
                                 {"--config.file=" + (dir.path / "prometheus.yml").string(),
                                  "--storage.tsdb.path=" + (dir.path / "data").string(),
                                  fmt::format("--web.listen-address=127.0.0.1:{}", port)},
                                 {});
    httplib::Client client("127.0.0.1", port);
    client.set_connection_timeout(2);
    std::string body;
    auto deadline = std::chrono::steady_clock::now() + 30s;
    while (std::chrono::steady_clock::now() < deadline) {
        auto response = client.Get("/api/v1/query?query=eye_images");
        if (response && response->status == 200 &&
            response->body.find("\"status\":\"failed\"") != std::string::npos) {
            body = response->body;
            break;
        }
        REQUIRE(server.running());
        std::this_thread::sleep_for(250ms);
    }
    INFO(server.err_so_far());
    REQUIRE_FALSE(body.empty());
    auto parsed = eye::json::parse(body);
    REQUIRE(parsed);
    std::map<std::string, std::string> series;
    for (const auto& sample : (*parsed)["data"]["result"].GetArray()) {
        series[sample["metric"]["status"].GetString()] = sample["value"][1].GetString();
    }
    CHECK(series["completed"] == "1");
    CHECK(series["failed"] == "1");
    CHECK(series["pending"] == "0");
    // and the scrape itself was healthy
    auto up = client.Get("/api/v1/query?query=up");
    REQUIRE(up);
    CHECK_THAT(up->body, Catch::Contains("\"value\":[") && Catch::Contains(",\"1\"]"));
    server.signal(SIGTERM);
    server.wait();
}

TEST_CASE("what the database holds is shown as text, never as markup") {
    TestDatabase db;
    auto image =
        insert_media(db, MediaRow().with_status("failed").at("<script>alert(1)</script>.jpg"));
    db.execute(fmt::format(
        "INSERT INTO eye.failed_jobs (job_id, kind, media_id, attempts, error, created_at) "
        "VALUES (9, 'analyze', {}, 3, 'bad <b>header</b> & \"quotes\"', now())",
        image));
    Served served(db);
    auto page = served.client().Get("/");
    REQUIRE(page);
    CHECK(page->status == 200);
    CHECK_THAT(page->get_header_value("Content-Type"), Catch::StartsWith("text/html"));
    CHECK_THAT(page->body, Catch::Contains("&lt;script&gt;alert(1)&lt;/script&gt;.jpg"));
    CHECK_THAT(page->body,
               Catch::Contains("bad &lt;b&gt;header&lt;/b&gt; &amp; &quot;quotes&quot;"));
    CHECK_THAT(page->body, !Catch::Contains("<script>") && !Catch::Contains("<b>header"));
    // nothing is fetched from elsewhere
    CHECK_THAT(page->body, !Catch::Contains("http://") && !Catch::Contains("https://") &&
                               !Catch::Contains("<script"));
}

TEST_CASE("off loopback eye serve needs a token, and every path but /healthz asks for it") {
    TestDatabase db;
    auto refused = eye::testing::run("eye", {"serve", "--listen=0.0.0.0:8090"},
                                     {{"EYE_DATABASE_URL", db.url()}});
    CHECK(refused.exit_code == 78);
    CHECK_THAT(refused.err, Catch::Contains("no token is set; hint: set EYE_SERVE_TOKEN"));
    CHECK(eye::testing::run("eye", {"serve", "--listen=nonsense"}, {{"EYE_DATABASE_URL", db.url()}})
              .exit_code == 64);

    Served served(db, {}, {{"EYE_SERVE_TOKEN", "s3cret-token"}});
    auto& client = served.client();
    CHECK(client.Get("/healthz")->status == 200);
    for (const char* path : {"/", "/api/status", "/metrics"}) {
        INFO(path);
        auto response = client.Get(path);
        REQUIRE(response);
        CHECK(response->status == 401);
        CHECK_THAT(response->body, !Catch::Contains("eye_images") && !Catch::Contains("checks"));
        auto wrong = client.Get(path, {{"Authorization", "Bearer nope"}});
        CHECK(wrong->status == 401);
        auto right = client.Get(path, {{"Authorization", "Bearer s3cret-token"}});
        CHECK(right->status == 200);
    }
    // a path that does not exist, another method, GET of the login form's path: 401 as well,
    // and 404 only with the token
    CHECK(client.Get("/nothing-here")->status == 401);
    CHECK(client.Get("/login")->status == 401);
    CHECK(client.Head("/")->status == 401);
    CHECK(client.Get("/nothing-here", {{"Authorization", "Bearer s3cret-token"}})->status == 404);
    // the login form: a wrong token is refused, the right one sets a cookie that opens the page
    auto bad = client.Post("/login", "token=guess", "application/x-www-form-urlencoded");
    CHECK(bad->status == 401);
    CHECK_THAT(bad->body, Catch::Contains("wrong token"));
    auto login = client.Post("/login", "token=s3cret-token", "application/x-www-form-urlencoded");
    REQUIRE(login);
    CHECK(login->status == 303);
    const std::string cookie = login->get_header_value("Set-Cookie");
    CHECK_THAT(cookie, Catch::Contains("HttpOnly") && !Catch::Contains("s3cret-token"));
    auto page = client.Get("/", {{"Cookie", cookie.substr(0, cookie.find(';'))}});
    CHECK(page->status == 200);
    CHECK_THAT(page->body, Catch::Contains("<h2>Checks</h2>"));
}
