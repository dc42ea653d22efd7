#include "eye/tasks/monitor/pull_gate.hpp"

#include <fmt/format.h>

#include "eye/core/error.hpp"
#include "eye/json/json.hpp"
#include "eye/log/log.hpp"
#include "eye/runner/run_record.hpp"

namespace eye::tasks::monitor {
namespace {

const std::string k_lock = "ollama-pull";

// "llava:latest 50 %" from the pulling run's summary, or "" when it has published nothing.
std::string progress_of(const std::optional<std::string>& summary) {
    if (!summary) {
        return {};
    }
    auto parsed = json::parse(*summary);
    if (!parsed || !parsed->IsObject() || !parsed->HasMember("pulling") ||
        !(*parsed)["pulling"].IsString()) {
        return {};
    }
    std::string progress = (*parsed)["pulling"].GetString();
    if (parsed->HasMember("percent") && (*parsed)["percent"].IsNumber()) {
        progress += fmt::format(" {:.0f} %", (*parsed)["percent"].GetDouble());
    }
    return progress;
}

}  // namespace

PullGate::PullGate(Context& context) : m_context(context) {}

PullGate::~PullGate() {
    if (m_locked) {
        run_record::unlock(*m_context.db, k_lock);
    }
}

bool PullGate::acquire() {
    if (m_context.db == nullptr) {
        return true;
    }
    try {
        if (run_record::try_lock(*m_context.db, k_lock)) {
            m_locked = true;
            return true;
        }
    } catch (const Error& e) {
        log::warning("could not take the pull's lock, pulling without it: {}", e.what());
        return true;
    }
    try {
        auto holder = run_record::find_lock_holder(*m_context.db, k_lock);
        std::string progress =
            progress_of(run_record::running_summary(*m_context.db, "monitor", holder));
        m_busy =
            fmt::format("a pull is in progress{}{} (host {}, pid {}, since {})",
                        progress.empty() ? "" : ": ", progress, holder.host, holder.pid,
                        holder.since ? format_utc(*holder.since) : std::string("an unknown time"));
    } catch (const Error& e) {
        // eye.runs may not exist yet: the lock alone says enough
        log::debug("could not read the pull's progress: {}", e.what());
        m_busy = "a pull is in progress (another monitor holds its lock)";
    }
    return false;
}

void PullGate::publish(const std::string& model, double percent) {
    const auto now = std::chrono::steady_clock::now();
    if (!m_locked || !m_context.run_id || now - m_published < std::chrono::seconds(2)) {
        return;
    }
    m_published = now;
    json::Writer w;
    w.begin_object();
    w.field("pulling", model);
    w.field("percent", percent);
    w.end_object();
    try {
        run_record::set_progress(*m_context.db, *m_context.run_id, w.take());
    } catch (const Error& e) {
        // the pull goes on; only the other runs' view of it is lost
        log::debug("could not publish the pull's progress: {}", e.what());
    }
}

}  // namespace eye::tasks::monitor
