#include <chrono>

#include <fmt/format.h>

#include "eye/core/exit_code.hpp"
#include "eye/schedule/export.hpp"

namespace eye::schedule {
namespace {

constexpr const char* k_header =
    "# Written by `eye schedule:export --format=kubernetes`: change the schedule there, not "
    "here.\n";

// A YAML double-quoted scalar: JSON's string syntax, which YAML accepts as it is.
std::string quoted(const std::string& text) {
    std::string out = "\"";
    for (char c : text) {
        if (c == '"' || c == '\\') {
            out += '\\';
        }
        out += c;
    }
    return out + '"';
}

long long seconds(Milliseconds value) {
    return std::chrono::duration_cast<std::chrono::seconds>(value).count();
}

std::string labels(const ScheduledTask& task, int indent) {
    std::string pad(static_cast<std::size_t>(indent), ' ');
    return fmt::format(
        "{0}app.kubernetes.io/name: eye\n{0}app.kubernetes.io/component: {1}\n"
        "{0}app.kubernetes.io/part-of: avinash-eye\n",
        pad, task.name);
}

std::string command(const ScheduledTask& task) {
    std::string out = "[" + quoted(task.program);
    for (const auto& arg : task.args) {
        out += ", " + quoted(arg);
    }
    return out + "]";
}

// The pod of one run (or of the worker), indented to sit under `template:` at `indent`.
std::string pod_template(const ScheduledTask& task, const ExportOptions& options,
                         const char* restart_policy, int indent) {
    std::string text = fmt::format(
        "metadata:\n"
        "  labels:\n"
        "{labels}"
        "spec:\n"
        "  restartPolicy: {restart}\n"
        "  securityContext:\n"
        "    runAsNonRoot: true\n"
        "    runAsUser: 10001\n"
        "    runAsGroup: 10001\n"
        "    fsGroup: 10001\n"
        "    seccompProfile:\n"
        "      type: RuntimeDefault\n"
        "  containers:\n"
        "    - name: eye\n"
        "      image: {image}\n"
        "      command: {command}\n"
        "      envFrom:\n"
        "        - configMapRef:\n"
        "            name: eye-config\n"
        "      env:\n"
        "        - name: EYE_DATABASE_URL\n"
        "          valueFrom:\n"
        "            secretKeyRef:\n"
        "              name: eye-database\n"
        "              key: url\n"
        "      securityContext:\n"
        "        allowPrivilegeEscalation: false\n"
        "        readOnlyRootFilesystem: true\n"
        "        capabilities:\n"
        "          drop: [\"ALL\"]\n"
        "      resources:\n"
        "        requests:\n"
        "          cpu: {cpu}\n"
        "          memory: 64Mi\n"
        "        limits:\n"
        "          memory: {memory}\n"
        "      volumeMounts:\n"
        "        - name: state\n"
        "          mountPath: /var/lib/eye\n"
        "        - name: media\n"
        "          mountPath: /media\n"
        "          readOnly: true\n"
        "        - name: tmp\n"
        "          mountPath: /tmp\n"
        "  volumes:\n"
        "    - name: state\n"
        "{state}"
        "    - name: media\n"
        "      persistentVolumeClaim:\n"
        "        claimName: avinash-eye-storage\n"
        "        readOnly: true\n"
        "    - name: tmp\n"
        "      emptyDir: {{}}\n",
        fmt::arg("labels", labels(task, 4)), fmt::arg("restart", restart_policy),
        // the worker keeps nothing there (what it needs is in the database), so its replicas can
        // run on any node; the scheduled runs share the claim, one at a time per task
        fmt::arg("state", task.long_running() ? "      emptyDir: {}\n"
                                              : "      persistentVolumeClaim:\n"
                                                "        claimName: eye-state\n"),
        fmt::arg("image", quoted(options.image)), fmt::arg("command", command(task)),
        fmt::arg("cpu", task.long_running() ? "250m" : "50m"),
        fmt::arg("memory", task.long_running() ? "1Gi" : "512Mi"));
    if (task.long_running()) {
        // the worker finishes or gives back its jobs within --grace (30s) of SIGTERM
        text.insert(text.find("  securityContext:\n"), "  terminationGracePeriodSeconds: 60\n");
    }
    std::string pad(static_cast<std::size_t>(indent), ' ');
    std::string out;
    std::size_t start = 0;
    while (start < text.size()) {
        auto end = text.find('\n', start);
        out += pad + text.substr(start, end - start + 1);
        start = end + 1;
    }
    return out;
}

// Exit codes on which retrying cannot help (design section 4): a bad command line and a
// configuration error, and for the monitor its verdicts, which are answers, not failures to run.
std::string fatal_exit_codes(const ScheduledTask& task) {
    std::vector<int> codes;
    if (task.program == "eye-monitor") {
        codes = {to_int(ExitCode::failed), to_int(ExitCode::critical), to_int(ExitCode::unknown)};
    }
    codes.push_back(to_int(ExitCode::usage));
    codes.push_back(to_int(ExitCode::config));
    return fmt::format("[{}]", fmt::join(codes, ", "));
}

// The start of a task's manifest: the header comment, what it is, and its name and labels.
std::string manifest_head(const ScheduledTask& task, const char* api_version, const char* kind) {
    return fmt::format(
        "{}# {}: {}{}\n"
        "apiVersion: {}\n"
        "kind: {}\n"
        "metadata:\n"
        "  name: eye-{}\n"
        "  labels:\n"
        "{}",
        k_header, task.name, task.summary, task.long_running() ? ", kept running" : "", api_version,
        kind, task.name, labels(task, 4));
}

std::string cron_job(const ScheduledTask& task, const ExportOptions& options) {
    return manifest_head(task, "batch/v1", "CronJob") +
           fmt::format(
               "spec:\n"
               "  schedule: {schedule}\n"
               "  timeZone: {zone}\n"
               "  concurrencyPolicy: Forbid\n"
               "  startingDeadlineSeconds: {start}\n"
               "  successfulJobsHistoryLimit: 3\n"
               "  failedJobsHistoryLimit: 5\n"
               "  jobTemplate:\n"
               "    spec:\n"
               "      activeDeadlineSeconds: {deadline}\n"
               "      backoffLimit: 2\n"
               "      podFailurePolicy:\n"
               "        rules:\n"
               "          - action: FailJob\n"
               "            onExitCodes:\n"
               "              containerName: eye\n"
               "              operator: In\n"
               "              values: {fatal}\n"
               "          - action: Ignore\n"
               "            onPodConditions:\n"
               "              - type: DisruptionTarget\n"
               "                status: \"True\"\n"
               "      template:\n"
               "{pod}",
               fmt::arg("schedule", quoted(task.expression)),
               fmt::arg("zone", quoted(options.time_zone)),
               fmt::arg("start", seconds(task.start_window)),
               fmt::arg("deadline", seconds(task.deadline)),
               fmt::arg("fatal", fatal_exit_codes(task)),
               fmt::arg("pod", pod_template(task, options, "Never", 8)));
}

std::string deployment(const ScheduledTask& task, const ExportOptions& options) {
    return manifest_head(task, "apps/v1", "Deployment") +
           fmt::format(
               "spec:\n"
               "  replicas: 2\n"
               "  selector:\n"
               "    matchLabels:\n"
               "{match}"
               "  template:\n"
               "{pod}",
               fmt::arg("match", labels(task, 6)),
               fmt::arg("pod", pod_template(task, options, "Always", 4)));
}

// eye serve: one replica behind a Service, probed at /healthz, its token from the Secret
// eye-serve (key token), which it needs since it listens beyond loopback.
std::string serve_manifests(const ExportOptions& options) {
    ScheduledTask task;
    task.name = "serve";
    task.summary = "the status page, /api/status and /metrics";
    task.program = "eye";
    task.args = {"serve", "--listen=0.0.0.0:8090"};
    std::string pod = pod_template(task, options, "Always", 4);
    // the pod sits 4 columns in: its container's keys at 10, list items under them at 12
    pod.insert(pod.find("            - name: EYE_DATABASE_URL\n"),
               "            - name: EYE_SERVE_TOKEN\n"
               "              valueFrom:\n"
               "                secretKeyRef:\n"
               "                  name: eye-serve\n"
               "                  key: token\n");
    pod.insert(pod.find("          envFrom:\n"),
               "          ports:\n"
               "            - name: http\n"
               "              containerPort: 8090\n"
               "          readinessProbe:\n"
               "            httpGet:\n"
               "              path: /healthz\n"
               "              port: http\n"
               "            periodSeconds: 10\n"
               "          livenessProbe:\n"
               "            httpGet:\n"
               "              path: /healthz\n"
               "              port: http\n"
               "            periodSeconds: 30\n"
               "            failureThreshold: 3\n");
    const std::string service = fmt::format(
        "---\n"
        "apiVersion: v1\n"
        "kind: Service\n"
        "metadata:\n"
        "  name: eye-serve\n"
        "  labels:\n"
        "{0}"
        "spec:\n"
        "  selector:\n"
        "{0}"
        "  ports:\n"
        "    - name: http\n"
        "      port: 8090\n"
        "      targetPort: http\n",
        labels(task, 4));
    return manifest_head(task, "apps/v1", "Deployment") +
           fmt::format(
               "spec:\n"
               "  replicas: 1\n"
               "  selector:\n"
               "    matchLabels:\n"
               "{}"
               "  template:\n"
               "{}",
               labels(task, 6), pod) +
           service;
}

}  // namespace

std::vector<ExportedFile> export_kubernetes(const std::vector<ScheduledTask>& tasks,
                                            const ExportOptions& options) {
    std::vector<ExportedFile> files;
    files.push_back(
        {"eye-config.yaml",
         fmt::format("{}# Settings every eye pod reads. The database URL comes from the Secret\n"
                     "# eye-database (key url): kubectl create secret generic eye-database "
                     "--from-literal=url=postgresql://...\n"
                     "apiVersion: v1\n"
                     "kind: ConfigMap\n"
                     "metadata:\n"
                     "  name: eye-config\n"
                     "  labels:\n"
                     "    app.kubernetes.io/name: eye\n"
                     "    app.kubernetes.io/part-of: avinash-eye\n"
                     "data:\n"
                     "  EYE_STATE_DIR: \"/var/lib/eye\"\n"
                     "  EYE_MEDIA_ROOT: \"/media\"\n"
                     "  EYE_AI_URL: \"http://python-ai:8000\"\n"
                     "  EYE_OLLAMA_URL: \"http://ollama:11434\"\n"
                     "  EYE_OLLAMA_MODELS: \"llava:13b-v1.6\"\n"
                     "  EYE_LOG_FORMAT: \"json\"\n"
                     "  TZ: {}\n",
                     k_header, quoted(options.time_zone))});
    files.push_back(
        {"eye-state.yaml",
         fmt::format("{}# EYE_STATE_DIR of the scheduled runs: exports, training state, metrics.\n"
                     "# ReadWriteOnce: the runs land on one node "
                     "at a time only if the cluster has one\n"
                     "# node or the storage allows more; use "
                     "ReadWriteMany where it does.\n"
                     "apiVersion: v1\n"
                     "kind: PersistentVolumeClaim\n"
                     "metadata:\n"
                     "  name: eye-state\n"
                     "  labels:\n"
                     "    app.kubernetes.io/name: eye\n"
                     "    app.kubernetes.io/part-of: avinash-eye\n"
                     "spec:\n"
                     "  accessModes: [\"ReadWriteOnce\"]\n"
                     "  resources:\n"
                     "    requests:\n"
                     "      storage: 5Gi\n",
                     k_header)});
    for (const auto& task : tasks) {
        files.push_back({"eye-" + task.name + ".yaml", task.long_running()
                                                           ? deployment(task, options)
                                                           : cron_job(task, options)});
    }
    files.push_back({"eye-serve.yaml", serve_manifests(options)});
    return files;
}

}  // namespace eye::schedule
