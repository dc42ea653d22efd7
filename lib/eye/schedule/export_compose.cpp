#include <fmt/format.h>

#include "eye/schedule/export.hpp"

namespace eye::schedule {
namespace {

// What both of eye's services share: the image, the settings an Avinash-EYE stack implies (its
// service names, its database credentials, its storage as the media root), a read-only root
// file system with a state volume, and upstream's network.
// `environment` and `more` are lines of the service's own (its extra settings, its keys).
std::string service(const std::string& name, const std::string& comment, const std::string& command,
                    const ExportOptions& options, const std::string& environment = "",
                    const std::string& more = "") {
    return fmt::format(
        "  # {comment}\n"
        "  {name}:\n"
        "{more}"
        "    image: ${{EYE_IMAGE:-{image}}}\n"
        "    command: {command}\n"
        "    environment:\n"
        "{environment}"
        "      EYE_DATABASE_URL: "
        "postgresql://${{DB_USERNAME:-avinash}}:${{DB_PASSWORD:-secret}}@db:5432/"
        "${{DB_DATABASE:-avinash_eye}}\n"
        "      EYE_AI_URL: http://python-ai:8000\n"
        "      EYE_OLLAMA_URL: http://ollama:11434\n"
        "      EYE_OLLAMA_MODELS: llava:13b-v1.6\n"
        "      EYE_MEDIA_ROOT: /media\n"
        "      EYE_STATE_DIR: /var/lib/eye\n"
        "      EYE_LOG_FORMAT: json\n"
        "    volumes:\n"
        "      - ./storage/app/public:/media:ro\n"
        "      - eye-state:/var/lib/eye\n"
        "    tmpfs:\n"
        "      - /tmp\n"
        "    read_only: true\n"
        "    user: \"10001:10001\"\n"
        "    networks:\n"
        "      - avinash-network\n"
        "    depends_on:\n"
        "      db:\n"
        "        condition: service_healthy\n"
        "    restart: unless-stopped\n"
        "    stop_grace_period: 60s\n",
        fmt::arg("comment", comment), fmt::arg("name", name), fmt::arg("image", options.image),
        fmt::arg("command", command), fmt::arg("environment", environment), fmt::arg("more", more));
}

}  // namespace

std::vector<ExportedFile> export_compose(const std::vector<ScheduledTask>& tasks,
                                         const ExportOptions& options) {
    std::string worker_command = "[\"eye-worker\"]";
    for (const auto& task : tasks) {
        if (task.long_running() && task.program == "eye-worker") {
            worker_command = "[\"" + task.program + "\"";
            for (const auto& arg : task.args) {
                worker_command += ", \"" + arg + "\"";
            }
            worker_command += "]";
        }
    }
    std::string out =
        "# eye beside an Avinash-EYE stack. From the Avinash-EYE checkout:\n"
        "#   docker compose -f docker-compose.yml -f /path/to/eye/crontab/compose.yaml up -d\n"
        "# Written by `eye schedule:export --format=compose`: change the schedule there, not "
        "here.\n"
        "# eye's scheduler takes over from upstream's (php artisan schedule:work, whose tasks "
        "are\n"
        "# eye's, done properly); upstream's queue-worker keeps processing Laravel's queue. "
        "Run\n"
        "# `docker compose run --rm eye-scheduler eye db:migrate` once first.\n"
        "services:\n"
        "  # upstream's scheduler only starts with --profile upstream-scheduler now\n"
        "  scheduler:\n"
        "    profiles: [\"upstream-scheduler\"]\n"
        "\n";
    out += service("eye-scheduler", "runs every scheduled task (eye schedule:list shows them)",
                   "[\"eye\", \"schedule:work\"]", options);
    out += "\n";
    out += service("eye-worker", "analyzes the images eye's tasks queue", worker_command, options);
    out += "\n";
    // off loopback (as in a container) eye serve needs its token, so it only starts when asked
    out += service("eye-serve",
                   "the status page, /metrics and /healthz (eye serve), on the host's loopback "
                   "port\n"
                   "  # 8090: docker compose --profile status-page up -d, with EYE_SERVE_TOKEN set",
                   "[\"eye\", \"serve\", \"--listen=0.0.0.0:8090\"]", options,
                   "      EYE_SERVE_TOKEN: ${EYE_SERVE_TOKEN:-}\n",
                   "    profiles: [\"status-page\"]\n"
                   "    ports:\n"
                   "      - \"127.0.0.1:${EYE_SERVE_PORT:-8090}:8090\"\n");
    out +=
        "\n"
        "volumes:\n"
        "  eye-state:\n";
    return {{"compose.yaml", out}};
}

}  // namespace eye::schedule
