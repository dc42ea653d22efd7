#!/usr/bin/env python3
"""Helpers of bench/serve (standard library only):

  runs      eye.runs history as CSV for COPY: every task of `eye schedule:list --format=json`
            (read on stdin) at its cron cadence for --days days, as the runner records them
  wait      until eye serve answers /healthz
  sample    uncached and cached request times of eye serve: per sample, wait past the refresh
            interval, GET the path on a new connection (a fresh snapshot), then GET it again
            (the snapshot of the same interval)
  keepalive requests in a row on one keep-alive connection: the first against the later ones
  load      --clients threads requesting the paths in turns for --seconds on keep-alive
            connections; requests, errors and latency percentiles
  snapshots the statements of eye serve's session in the server's log
            (log_min_duration_statement = 0): per snapshot its database time, per statement
            its time; and a psql script that EXPLAINs the statements of one snapshot
  plans     reads that script's output: per statement its execution time and how it reads
            media_files; a Seq Scan on media_files is a finding

Output is plain text for the results file, plus `key=value` lines where bench/serve needs a
figure.
"""

import argparse
import csv
import http.client
import json
import os
import re
import statistics
import sys
import threading
import time
from datetime import datetime, timedelta, timezone

# --- runs -----------------------------------------------------------------------------------

MACROS = {
    "@yearly": "0 0 1 1 *", "@annually": "0 0 1 1 *", "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0", "@daily": "0 0 * * *", "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}


def cron_field(text, low, high):
    """The set of values a cron field matches (numbers, ranges, steps, lists)."""
    values = set()
    for part in text.split(","):
        step = 1
        if "/" in part:
            part, step_text = part.split("/", 1)
            step = int(step_text)
        if part == "*":
            first, last = low, high
        elif "-" in part:
            first, last = (int(v) for v in part.split("-", 1))
        else:
            first = int(part)
            last = high if step > 1 else first
        values.update(range(first, last + 1, step))
    if high == 7 and 7 in values:  # Sunday is 0 or 7
        values.add(0)
    return values


def cron_minutes(expression, start, end):
    """Every minute in [start, end) that the 5-field expression matches (UTC), eye's
    day semantics: a day matches when either restricted day field does."""
    fields = MACROS.get(expression, expression).split()
    minutes, hours = cron_field(fields[0], 0, 59), cron_field(fields[1], 0, 23)
    days, months = cron_field(fields[2], 1, 31), cron_field(fields[3], 1, 12)
    weekdays = cron_field(fields[4], 0, 7)
    day_any, week_any = fields[2] == "*", fields[4] == "*"
    t = start.replace(second=0, microsecond=0)
    while t < end:
        weekday = (t.weekday() + 1) % 7
        if day_any and week_any:
            day_ok = True
        elif day_any:
            day_ok = weekday in weekdays
        elif week_any:
            day_ok = t.day in days
        else:
            day_ok = t.day in days or weekday in weekdays
        if t.minute in minutes and t.hour in hours and t.month in months and day_ok:
            yield t
        t += timedelta(minutes=1)


# typical run lengths (seconds) of the seed schedule's tasks; others take 30 s
DURATIONS = {"monitor": (1, 4), "export": (120, 360), "train": (600, 2400),
             "reanalyze": (20, 90), "cleanup": (60, 300)}


def cmd_runs(args):
    schedule = json.load(sys.stdin)
    end = datetime.fromtimestamp(args.now, timezone.utc)
    start = end - timedelta(days=args.days)
    out = csv.writer(sys.stdout, lineterminator="\n")
    pid = 1000
    counts = {}

    def emit(task, argv, started, seconds, status, exit_code, summary):
        nonlocal pid
        pid += 1
        finished = "" if status == "running" else (started + timedelta(seconds=seconds)).isoformat()
        out.writerow([task, "eye-scheduler", pid, json.dumps(argv), "f", started.isoformat(),
                      finished, status, "" if status == "running" else exit_code,
                      json.dumps(summary)])

    for entry in schedule:
        argv = entry["command"].split()[1:]
        task = entry["task"]
        n = 0
        if entry.get("expression") in (None, "", "@always"):
            # a long-running task: one run per start of the process, restarted every 3 days,
            # the last one still running
            t = start
            while t < end:
                running = t + timedelta(days=3) >= end
                seconds = (end - t).total_seconds() if running else 3 * 86400 - 30
                emit(task, argv, t, seconds, "running" if running else "ok", 0,
                     {} if running else {"note": "stopped by SIGTERM", "jobs_done": 14000 + n})
                t += timedelta(days=3)
                n += 1
            counts[entry["name"]] = n
            continue
        low, high = DURATIONS.get(task, (25, 35))
        for minute in cron_minutes(entry["expression"], start, end):
            n += 1
            # deterministic spread: 93 % ok, 4 % warning, 1.5 % failed, 1.5 % skipped
            h = (n * 2654435761 + len(entry["name"]) * 40503) % 1000
            started = minute + timedelta(milliseconds=200 + (h * 37) % 2800)
            if h < 930:
                status, code = "ok", 0
            elif h < 970:
                status, code = "warning", 1
            elif h < 985:
                status, code = "failed", 2
            else:
                status, code = "skipped", 0
            seconds = 0.05 if status == "skipped" else low + (high - low) * ((h * 7) % 1000) / 1000
            summary = {"note": status if status != "skipped" else "another run holds the lock",
                       "seconds": round(seconds, 3)}
            emit(task, argv, started, seconds, status, code, summary)
        counts[entry["name"]] = n
    # runs by hand, which no scheduled task must count as its own
    for k in range(5):
        emit("reanalyze", ["--priority=random", "--batch=500"], end - timedelta(days=2 + k, hours=3),
             40, "ok", 0, {"note": "ok"})
    print(" ".join(f"{name}={n}" for name, n in counts.items()), file=sys.stderr)


# --- sample ----------------------------------------------------------------------------------

def get(host, port, path, conn=None, timeout=60):
    own = conn is None
    if own:
        conn = http.client.HTTPConnection(host, port, timeout=timeout)
    t0 = time.perf_counter()
    conn.request("GET", path)
    response = conn.getresponse()
    body = response.read()
    elapsed = time.perf_counter() - t0
    if own:
        conn.close()
    return response.status, len(body), elapsed


def summarize(values):
    values = sorted(values)
    if not values:
        return "n=0"

    def pct(p):
        return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]
    return (f"n={len(values)} median={statistics.median(values) * 1000:.1f}ms "
            f"p90={pct(90) * 1000:.1f}ms p99={pct(99) * 1000:.1f}ms max={values[-1] * 1000:.1f}ms")


def cmd_sample(args):
    results = {path: {"fresh": [], "cached": [], "bytes": 0} for path in args.paths}
    for i in range(args.samples):
        for path in args.paths:
            time.sleep(args.wait)
            status, size, fresh = get(args.host, args.port, path)
            status2, _, cached = get(args.host, args.port, path)
            if status != 200 or status2 != 200:
                sys.exit(f"GET {path} answered {status}/{status2}")
            results[path]["fresh"].append(fresh)
            results[path]["cached"].append(cached)
            results[path]["bytes"] = size
            print(f"  sample {i + 1:2d} GET {path:<9} fresh snapshot {fresh * 1000:8.1f} ms"
                  f"   cached {cached * 1000:6.1f} ms   {size} bytes", flush=True)
    for path in args.paths:
        fresh, cached = results[path]["fresh"], results[path]["cached"]
        key = "page" if path == "/" else path.strip("/").replace("/", "_")
        print(f"{key}_fresh_median_ms={statistics.median(fresh) * 1000:.1f}")
        print(f"{key}_fresh_max_ms={max(fresh) * 1000:.1f}")
        print(f"{key}_cached_median_ms={statistics.median(cached) * 1000:.1f}")
        print(f"{key}_bytes={results[path]['bytes']}")


def cmd_wait(args):
    deadline = time.monotonic() + args.timeout
    while time.monotonic() < deadline:
        try:
            status, _, _ = get(args.host, args.port, "/healthz", timeout=2)
            if status == 200 and not args.library:
                return
            if status == 200:
                conn = http.client.HTTPConnection(args.host, args.port, timeout=60)
                conn.request("GET", "/api/status")
                body = conn.getresponse().read()
                conn.close()
                if b'"library"' in body:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    sys.exit(f"no answer from http://{args.host}:{args.port}/healthz in {args.timeout:.0f} s")


# --- load ------------------------------------------------------------------------------------

def listen_counters():
    """The kernel's TcpExt ListenOverflows and ListenDrops (machine-wide)."""
    try:
        with open("/proc/net/netstat", encoding="ascii") as f:
            lines = [l.split() for l in f if l.startswith("TcpExt:")]
        table = dict(zip(lines[0][1:], (int(v) for v in lines[1][1:])))
        return table.get("ListenOverflows", 0), table.get("ListenDrops", 0)
    except (OSError, IndexError, ValueError):
        return 0, 0


def cmd_load(args):
    paths = args.paths
    barrier = threading.Barrier(args.clients + 1)
    stop_at = [0.0]
    per_thread = []
    lock = threading.Lock()

    def client(index):
        latencies = {p: [] for p in paths}
        connects, errors, firsts, laters = [], {}, [], []
        conn = None
        barrier.wait()
        n = index  # clients start on different paths
        while time.perf_counter() < stop_at[0]:
            path = paths[n % len(paths)]
            n += 1
            t0 = time.perf_counter()
            first = conn is None
            try:
                if first:
                    conn = http.client.HTTPConnection(args.host, args.port, timeout=args.timeout)
                    conn.connect()
                    connects.append(time.perf_counter() - t0)
                conn.request("GET", path)
                response = conn.getresponse()
                body = response.read()
                # what the client waited, with the connect when it needed one
                elapsed = time.perf_counter() - t0
                if response.status != 200 or not body:
                    key = f"HTTP {response.status}"
                    errors[key] = errors.get(key, 0) + 1
                else:
                    latencies[path].append(elapsed)
                    (firsts if first else laters).append(elapsed)
                if response.will_close:
                    conn.close()
                    conn = None
            except (OSError, http.client.HTTPException) as e:
                name = type(e).__name__
                errors[name] = errors.get(name, 0) + 1
                if conn is not None:
                    conn.close()
                conn = None
        if conn is not None:
            conn.close()
        with lock:
            per_thread.append((latencies, errors, connects, firsts, laters))

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(args.clients)]
    for t in threads:
        t.start()
    overflows0, drops0 = listen_counters()
    stop_at[0] = time.perf_counter() + args.seconds
    barrier.wait()
    began = time.perf_counter()
    for t in threads:
        t.join(max(0.1, stop_at[0] - time.perf_counter()) + args.timeout + 10)
    wall = time.perf_counter() - began
    overflows1, drops1 = listen_counters()
    alive = sum(t.is_alive() for t in threads)

    everything, errors, connects, firsts, laters = [], {}, [], [], []
    by_path = {p: [] for p in paths}
    for latencies, errs, conns, f, l in per_thread:
        connects.extend(conns)
        firsts.extend(f)
        laters.extend(l)
        for p, values in latencies.items():
            by_path[p].extend(values)
            everything.extend(values)
        for k, v in errs.items():
            errors[k] = errors.get(k, 0) + v
    served = len(everything)
    error_count = sum(errors.values()) + alive
    print(f"  {args.clients} client threads, {args.seconds:.0f} s, GET {' and '.join(paths)} in turns on "
          f"keep-alive connections")
    print(f"  requests served: {served} in {wall:.1f} s = {served / wall:.0f}/s; errors: {error_count}"
          f"{' ' + json.dumps(errors) if errors else ''}"
          f"{f' ({alive} client(s) still waiting at the end)' if alive else ''}")
    print(f"  latency, with a connect where one was needed:")
    print(f"    all         {summarize(everything)}")
    for p in paths:
        print(f"    GET {p:<8} {summarize(by_path[p])}")
    buckets = [(0.010, "<10ms"), (0.100, "10-100ms"), (1.0, "0.1-1s"), (3.0, "1-3s"), (float("inf"), ">=3s")]
    counts, low = [], 0.0
    for high, name in buckets:
        counts.append(f"{name} {sum(1 for v in everything if low <= v < high)}")
        low = high
    print(f"    histogram   {', '.join(counts)}")
    print(f"    first request on a connection (waits for a server thread): {summarize(firsts)}")
    print(f"    later requests on the same connection:                    {summarize(laters)}")
    slow_connects = sum(1 for v in connects if v >= 0.9)
    print(f"  TCP connects: {summarize(connects)}; {slow_connects} took 0.9 s or more (a SYN sent "
          f"again after a drop)")
    print(f"  kernel (whole machine) during the run: {overflows1 - overflows0} listen queue overflows, "
          f"{drops1 - drops0} SYNs to listening sockets dropped")
    ordered = sorted(everything)
    print(f"load_served={served}")
    print(f"load_errors={error_count}")
    print(f"load_rate={served / wall:.0f}")
    print(f"load_slow_connects={slow_connects}")
    if ordered:
        print(f"load_p50_ms={statistics.median(ordered) * 1000:.1f}")
        print(f"load_p99_ms={ordered[int(0.99 * (len(ordered) - 1))] * 1000:.1f}")
        print(f"load_max_ms={ordered[-1] * 1000:.1f}")


def cmd_keepalive(args):
    """Requests in a row on one connection (reopened when the server closes it): the first
    request of a connection against the later ones."""
    first = {p: [] for p in args.paths}
    later = {p: [] for p in args.paths}
    conn = None
    for _ in range(args.rounds):
        for path in args.paths:
            fresh = conn is None
            if fresh:
                conn = http.client.HTTPConnection(args.host, args.port, timeout=30)
                conn.connect()
            t0 = time.perf_counter()
            conn.request("GET", path)
            response = conn.getresponse()
            response.read()
            elapsed = time.perf_counter() - t0
            (first if fresh else later)[path].append(elapsed)
            if response.will_close:
                conn.close()
                conn = None
    for path in args.paths:
        print(f"  GET {path:<12} first on a connection: {summarize(first[path])}")
        print(f"  {'':<16} later on the same one: {summarize(later[path])}")
    slow = [v for p in args.paths for v in later[p]]
    print(f"keepalive_later_median_ms={statistics.median(slow) * 1000 if slow else 0:.1f}")


# --- the server's log ------------------------------------------------------------------------

RECORD = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)? \S+ \[(\d+)\] (\w+):  (.*)$")
DURATION = re.compile(r"^duration: ([0-9.]+) ms  (?:(parse|bind|execute) ([^:]*)|statement): (.*)$",
                      re.S)
PARAM = re.compile(r"\$(\d+) = (NULL|'(?:[^']|'')*')")
MARKER = "SELECT extract(epoch from now())"
LIBRARY = "serve.library."


def log_records(path, offset):
    """{pid: [(level, text), ...]} of the log's records from byte `offset` on."""
    by_pid = {}
    with open(path, "r", encoding="utf-8", errors="replace") as f:
        f.seek(offset)
        current = None
        for line in f:
            line = line.rstrip("\n")
            m = RECORD.match(line)
            if m:
                current = [m.group(2), m.group(3)]
                by_pid.setdefault(m.group(1), []).append(current)
            elif current:
                current[1] += "\n" + line
    return by_pid


def statements(records):
    """The statements a backend ran, in order: dicts with name, sql, params, ms (bind and
    execute, or the simple query)."""
    out = []
    pending = None
    for level, text in records:
        if level == "DETAIL" and text.startswith("parameters: ") and pending is not None:
            pending["params"] = [v for _, v in sorted(
                ((int(n), v) for n, v in PARAM.findall(text[len("parameters: "):])))]
            continue
        if level != "LOG":
            continue
        m = DURATION.match(text)
        if not m:
            continue
        ms, phase, name, sql = float(m.group(1)), m.group(2), m.group(3), m.group(4)
        if phase == "parse":
            continue
        if phase == "bind":
            pending = {"name": name, "sql": sql, "params": [], "ms": ms}
            continue
        if phase == "execute":
            entry = {"name": name, "sql": sql, "params": [], "ms": ms}
            if pending is not None and pending["name"] == name:
                entry["ms"] += pending["ms"]
                entry["params"] = pending["params"]
            pending = entry
            out.append(entry)
            continue
        pending = {"name": None, "sql": sql, "params": [], "ms": ms}
        out.append(pending)
    return out


def label(entry):
    if entry["name"]:
        return entry["name"]
    sql = " ".join(entry["sql"].split())
    return sql if len(sql) <= 48 else sql[:45] + "..."


def cmd_snapshots(args):
    # eye serve's snapshot session is the backend that ran the most statements (the runner's
    # own session only writes the run record). A snapshot starts with its clock read; should
    # that ever go, with whatever statement the session ran first.
    sessions = [statements(records) for records in log_records(args.log, args.offset).values()]
    # the library's slow counts run on a session of their own (LibraryCounter)
    library = [st for ses in sessions for st in ses if (st["name"] or "").startswith(LIBRARY)]
    best = max((ses for ses in sessions
                if not any((st["name"] or "").startswith(LIBRARY) for st in ses)),
               key=len, default=[])
    selects = [st for st in best if st["sql"].lstrip().upper().startswith(("SELECT", "WITH"))]
    if not selects:
        sys.exit("no statement of eye serve found in the server's log")
    marker = MARKER if any(st["sql"].strip() == MARKER for st in selects) else label(selects[0])
    snapshots = []
    for st in best:
        if (st["sql"].strip() == marker) or (marker != MARKER and label(st) == marker):
            snapshots.append([])
        if snapshots:
            snapshots[-1].append(st)
    if not snapshots:
        sys.exit("no snapshot of eye serve found in the server's log")
    if marker != MARKER:
        print(f"  (no clock read found: snapshots are counted by their first statement, {marker})")
    totals = [sum(s["ms"] for s in snap) for snap in snapshots]
    print(f"  {len(snapshots)} snapshots, {len(snapshots[-1])} statements each; database time per "
          f"snapshot (bind + execute, as the server logged them): median {statistics.median(totals):.1f} ms, "
          f"max {max(totals):.1f} ms")
    by_label = {}
    order = []
    for snap in snapshots[1:] or snapshots:  # the first one also prepares every statement
        for s in snap:
            key = label(s)
            if key not in by_label:
                by_label[key] = []
                order.append(key)
            by_label[key].append(s["ms"])
    rows = []
    per_snapshot = len(snapshots[1:] or snapshots)
    for key in order:
        values = by_label[key]
        per = len(values) / per_snapshot
        rows.append((statistics.median(values) * per, key, per, statistics.median(values), max(values)))
    rows.sort(reverse=True)
    print(f"  {'statement (snapshots after the first)':<50} {'runs':>4} {'median ms':>10} {'max ms':>9}"
          f" {'ms/snapshot':>12} {'share':>6}")
    median_total = statistics.median(totals[1:] or totals)
    for total, key, per, med, mx in rows:
        print(f"  {key:<50} {per:>4.0f} {med:>10.2f} {mx:>9.2f} {total:>12.2f} "
              f"{100 * total / median_total if median_total else 0:>5.0f}%")
    print("  (runs: executions per snapshot; median and max of one execution; ms/snapshot: median"
          " x runs; share: of the median snapshot's database time)")
    print(f"snapshots={len(snapshots)}")
    print(f"snapshot_db_median_ms={statistics.median(totals):.1f}")
    print(f"snapshot_statements={len(snapshots[-1])}")
    print(f"top_statement={rows[0][1]}")
    print(f"top_statement_ms={rows[0][0]:.1f}")
    report_library(library)
    if args.explain:
        last = {}
        for st in library:
            last[st["name"]] = st
        write_explain(snapshots[-1] + list(last.values()), args.explain)
    if args.dump:
        os.makedirs(args.dump, exist_ok=True)
        for st in snapshots[-1]:
            if st["name"] and re.fullmatch(r"[\w.-]+", st["name"]):
                target = os.path.join(args.dump, st["name"] + ".sql")
                if not os.path.exists(target):
                    with open(target, "w", encoding="utf-8") as f:
                        f.write(st["sql"].strip().rstrip(";") + "\n")


def report_library(library):
    counts = sum(1 for st in library if st["name"] == LIBRARY + "completed")
    if not counts:
        print("  no count of the library in the log")
        print("library_counts=0")
        return
    by_name = {}
    for st in library:
        by_name.setdefault(st["name"], []).append(st["ms"])
    total = sum(statistics.median(v) for v in by_name.values())
    print(f"  the library's counts (their own session, in the background): {counts} in the log;"
          f" database time per count (the sum of the medians): {total:.1f} ms")
    for name, values in sorted(by_name.items(), key=lambda kv: -statistics.median(kv[1])):
        print(f"  {name:<50} {len(values):>4} {statistics.median(values):>10.2f} {max(values):>9.2f}")
    print(f"library_counts={counts}")
    print(f"library_db_ms={total:.1f}")


def write_explain(snapshot, path):
    with open(path, "w", encoding="utf-8") as f:
        f.write("\\set ON_ERROR_STOP on\nSET TimeZone = 'UTC';\n")
        seen = set()
        for i, s in enumerate(snapshot):
            sql = s["sql"].strip().rstrip(";")
            head = sql.split(None, 1)[0].upper() if sql else ""
            if head not in ("SELECT", "WITH"):
                continue
            key = (s["name"], sql, tuple(s["params"]))
            if key in seen:
                continue
            seen.add(key)
            title = label(s) + (f" ({', '.join(s['params'])})" if s["params"] else "")
            f.write(f"\\echo '#### {i} {title.replace(chr(39), chr(39) * 2)}'\n")
            # the library's counts run on one core with a larger work_mem (library.cpp):
            # explain them so
            library = (s["name"] or "").startswith(LIBRARY)
            if library:
                f.write("SET max_parallel_workers_per_gather = 0;\nSET work_mem = '64MB';\n")
            if s["name"] or s["params"]:
                f.write(f"PREPARE bench_{i} AS {sql};\n")
                call = f"EXECUTE bench_{i}({', '.join(s['params'])})" if s["params"] else f"EXECUTE bench_{i}"
                f.write("SET plan_cache_mode = force_custom_plan;\n")
                f.write(f"EXPLAIN (ANALYZE, BUFFERS) {call};\n")
                if s["params"]:
                    f.write(f"\\echo '#### {i} generic'\n")
                    f.write("SET plan_cache_mode = force_generic_plan;\n")
                    f.write(f"EXPLAIN (ANALYZE, BUFFERS) {call};\n")
                f.write(f"DEALLOCATE bench_{i};\n")
            else:
                f.write(f"EXPLAIN (ANALYZE, BUFFERS) {sql};\n")
            if library:
                f.write("RESET max_parallel_workers_per_gather;\nRESET work_mem;\n")


# --- plans -----------------------------------------------------------------------------------

SCAN = re.compile(r"((?:Parallel )?(?:Seq Scan|Index Only Scan|Index Scan|Bitmap Heap Scan)"
                  r"(?: Backward)?(?: using (\S+))? on (\S+)(?: (\w+))?)")


def cmd_plans(args):
    with open(args.output, encoding="utf-8") as f:
        text = f.read()
    blocks = re.split(r"^#### ", text, flags=re.M)[1:]
    plans = []
    for block in blocks:
        lines = block.splitlines()
        title, body = lines[0], [l for l in lines[1:] if l.strip() and not re.match(r"^-+$", l.strip())
                                 and "QUERY PLAN" not in l and not re.match(r"^\(\d+ rows?\)$", l.strip())]
        m = re.search(r"Execution Time: ([0-9.]+) ms", block)
        p = re.search(r"Planning Time: ([0-9.]+) ms", block)
        scans, rows = [], 0
        for line in body:
            for found in SCAN.finditer(line):
                if found.group(3) in ("media_files", "public.media_files"):
                    kind = found.group(1)
                    scans.append(re.sub(r" on \S+( \w+)?$", "", kind))
                    actual = re.search(r"actual time=\S+ rows=(\d+) loops=(\d+)", line)
                    if actual:
                        rows += int(actual.group(1)) * int(actual.group(2))
        plans.append({"title": title, "body": body, "exec": float(m.group(1)) if m else 0.0,
                      "plan": float(p.group(1)) if p else 0.0, "scans": scans, "rows": rows})
    seq = [p for p in plans if any(s.startswith("Seq Scan") or s.startswith("Parallel Seq Scan")
                                   for s in p["scans"])]
    if not args.brief:
        print(f"  {len(plans)} plans ({sum(1 for p in plans if not p['title'].endswith(' generic'))} "
              f"statements, and the generic plan of those with parameters)")
    print(f"  {'plan':<72} {'exec ms':>9} {'plan ms':>8} {'mf rows':>8}  media_files read by")
    for p in plans:
        reads = ", ".join(p["scans"]) if p["scans"] else "-"
        title = p["title"] if len(p["title"]) <= 72 else p["title"][:69] + "..."
        print(f"  {title:<72} {p['exec']:>9.2f} {p['plan']:>8.2f} {p['rows'] if p['scans'] else '-':>8}  {reads}")
    print("  (mf rows: media_files rows its scans returned, over all loops)")
    print()
    if args.brief:
        for p in plans:
            print(f"  -- {p['title']}: {p['exec']:.2f} ms")
            for line in p["body"]:
                print(f"    {line}")
        return
    if seq:
        print(f"  FINDING: {len(seq)} plan(s) with a Seq Scan on media_files:")
        for p in seq:
            print(f"    {p['title']}")
    else:
        print("  no plan has a Seq Scan on media_files")
    print()
    costliest = sorted(plans, key=lambda p: p["exec"], reverse=True)[: args.top]
    print(f"  the {len(costliest)} costliest plans (by execution time):")
    for p in costliest:
        print(f"\n  -- {p['title']}: {p['exec']:.2f} ms")
        for line in p["body"]:
            print(f"    {line}")
    print(f"plans_seq_scan_media_files={len(seq)}")
    print(f"plans_costliest_ms={costliest[0]['exec'] if costliest else 0:.2f}")
    print(f"plans_costliest={costliest[0]['title'] if costliest else ''}")
    if costliest:
        top = costliest[0]
        if top["scans"]:
            reads = f"{', '.join(sorted(set(top['scans'])))} returning {top['rows']} rows of media_files"
        else:
            reads = "no scan of media_files"
        print(f"plans_costliest_reads={reads}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("runs")
    p.add_argument("--days", type=int, default=30)
    p.add_argument("--now", type=float, default=time.time())
    p.set_defaults(func=cmd_runs)

    for name, func in (("sample", cmd_sample), ("load", cmd_load)):
        p = sub.add_parser(name)
        p.add_argument("--host", default="127.0.0.1")
        p.add_argument("--port", type=int, required=True)
        p.add_argument("--paths", nargs="+", default=["/", "/metrics"])
        p.set_defaults(func=func)
        if name == "sample":
            p.add_argument("--samples", type=int, default=10)
            p.add_argument("--wait", type=float, default=1.3)
        else:
            p.add_argument("--clients", type=int, default=200)
            p.add_argument("--seconds", type=float, default=30)
            p.add_argument("--timeout", type=float, default=30)

    p = sub.add_parser("keepalive")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--paths", nargs="+", default=["/", "/metrics", "/healthz"])
    p.add_argument("--rounds", type=int, default=10)
    p.set_defaults(func=cmd_keepalive)

    p = sub.add_parser("snapshots")
    p.add_argument("--log", required=True)
    p.add_argument("--offset", type=int, default=0)
    p.add_argument("--explain", help="write a psql script that EXPLAINs the last snapshot here")
    p.add_argument("--dump", help="write each named statement's SQL to DIR/NAME.sql")
    p.set_defaults(func=cmd_snapshots)

    p = sub.add_parser("plans")
    p.add_argument("--output", required=True, help="what psql printed for the EXPLAIN script")
    p.add_argument("--top", type=int, default=3)
    p.add_argument("--brief", action="store_true", help="every plan, no verdict")
    p.set_defaults(func=cmd_plans)

    p = sub.add_parser("wait")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--timeout", type=float, default=15)
    p.add_argument("--library", action="store_true",
                   help="also until /api/status holds the library's first count")
    p.set_defaults(func=cmd_wait)

    args = parser.parse_args()
    args.func(args)


if __name__ == "__main__":
    main()
