#pragma once

#include <chrono>

#include "eye/core/time.hpp"

namespace eye::db {

// The database's clock, followed locally. Heartbeats and due times are compared with the
// database's now() by the monitor, so a worker host whose clock is off must not make a live job
// look dead: sync() with the database's now() from time to time and read now() in between.
class DbClock {
public:
    void sync(TimePoint database_now) {
        m_offset = database_now - std::chrono::system_clock::now();
    }
    TimePoint now() const { return std::chrono::system_clock::now() + m_offset; }

private:
    std::chrono::system_clock::duration m_offset{0};
};

}  // namespace eye::db
