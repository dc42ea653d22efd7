// A stand-in for Avinash-EYE's PHP queue worker (`php artisan queue:work database
// --queue=image-processing`), for tests of eye-worker's Laravel bridge: it claims jobs the way
// Laravel's DatabaseQueue does (one transaction: the oldest available or expired row of the
// queue, FOR UPDATE SKIP LOCKED, then reserved_at and attempts set), "analyzes" the image by
// recording it in the table laravel_analyses and marking the row completed, and deletes the job
// as DatabaseQueue::deleteReserved does. It reads the image id with a plain pattern match, not
// with eye's own reader.
//   eye-test-laravel-worker DATABASE_URL QUEUE IDLE_MS
// Exits 0 once no job could be claimed for IDLE_MS milliseconds; prints how many it handled.
#include <chrono>
#include <iostream>
#include <regex>
#include <string>
#include <thread>

#include <pqxx/pqxx>

int main(int argc, char** argv) {
    if (argc != 4) {
        std::cerr << "usage: eye-test-laravel-worker DATABASE_URL QUEUE IDLE_MS\n";
        return 64;
    }
    const std::string queue = argv[2];
    const auto idle = std::chrono::milliseconds(std::stol(argv[3]));
    const std::regex id_pattern(R"re(s:11:\\"imageFileId\\";i:(\d+);)re");
    try {
        pqxx::connection conn(argv[1]);
        conn.prepare("pop",
                     "SELECT id, payload FROM jobs WHERE queue = $1 AND ((reserved_at IS NULL "
                     "AND available_at <= $2) OR reserved_at <= $2 - 90) ORDER BY id ASC LIMIT 1 "
                     "FOR UPDATE SKIP LOCKED");
        conn.prepare("reserve",
                     "UPDATE jobs SET reserved_at = $2, attempts = attempts + 1 WHERE id = $1");
        conn.prepare("analyze",
                     "WITH done AS (INSERT INTO laravel_analyses (media_id) VALUES ($1)) "
                     "UPDATE media_files SET processing_status = 'completed', description = "
                     "'analyzed by the PHP stand-in', processing_completed_at = now() "
                     "WHERE id = $1");
        conn.prepare("lock", "SELECT id FROM jobs WHERE id = $1 FOR UPDATE");
        conn.prepare("delete", "DELETE FROM jobs WHERE id = $1");
        long handled = 0;
        auto last_job = std::chrono::steady_clock::now();
        while (std::chrono::steady_clock::now() - last_job < idle) {
            const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                                 std::chrono::system_clock::now().time_since_epoch())
                                 .count();
            long long job = 0;
            std::string payload;
            {
                pqxx::work tx(conn);
                auto rows = tx.exec_prepared("pop", queue, now);
                if (rows.empty()) {
                    tx.commit();
                    std::this_thread::sleep_for(std::chrono::milliseconds(20));
                    continue;
                }
                job = rows[0][0].as<long long>();
                payload = rows[0][1].as<std::string>();
                tx.exec_prepared("reserve", job, now);
                tx.commit();
            }
            last_job = std::chrono::steady_clock::now();
            std::smatch match;
            if (std::regex_search(payload, match, id_pattern)) {
                pqxx::work tx(conn);
                tx.exec_prepared("analyze", std::stoll(match[1].str()));
                tx.commit();
            }
            pqxx::work tx(conn);
            tx.exec_prepared("lock", job);
            tx.exec_prepared("delete", job);
            tx.commit();
            ++handled;
        }
        std::cout << handled << "\n";
        return 0;
    } catch (const std::exception& error) {
        std::cerr << "eye-test-laravel-worker: " << error.what() << "\n";
        return 1;
    }
}
