#!/bin/bash
# bench/scan.sh - authguardctl scan against the seed's shell pipeline,
# generalised to all users as issue 4 puts it:
#
#   grep 'login success' maillog | awk '{ print $10 }' | sort -u |
#       awk -F: '{ c[$1]++ } END { for (u in c) print c[u], u }'
#
# on a generated maillog of at least 50 MB (tests/standins/maillog-gen: the
# seed's incident in a week of a 550-user server: POP3 clients polling,
# phones, offices, webmail, inbound mail with spamd's lines, qmail-send's
# lines for every message). The two are run alternately, one after the
# other, so that a busy machine slows both alike; the medians are compared,
# twice: as they run (scan is one thread, the pipeline's four processes
# spread over the CPUs), and both pinned to one CPU (taskset), which
# compares the work each does.
# Before timing, scan's distinct addresses per user are checked against the
# pipeline's output: equal, or the benchmark stops.
#
# Environment: SCAN_BENCH_ROUNDS (default 21), SCAN_BENCH_USERS (550),
# SCAN_BENCH_DAYS (7), AG_BUILD (default build/).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
B=${AG_BUILD:-$ROOT/build}
ROUNDS=${SCAN_BENCH_ROUNDS:-21}
USERS=${SCAN_BENCH_USERS:-550}
DAYS=${SCAN_BENCH_DAYS:-7}
CTL=$B/authguardctl
W=$B/bench/scan
mkdir -p "$W"
export TZ=Asia/Tokyo LC_ALL=C.UTF-8

LOG=$W/maillog-$USERS-$DAYS
if [ ! -s "$LOG" ]; then
    "$ROOT/tests/standins/maillog-gen" --users "$USERS" --days "$DAYS" > "$LOG.tmp"
    mv "$LOG.tmp" "$LOG"
fi
mkdir -p "$W/control" # all defaults: the verdicts of a fresh installation

cat > "$W/pipeline" <<'EOF'
#!/bin/sh
grep 'login success' "$1" | awk '{ print $10 }' | sort -u | awk -F: '{ c[$1]++ } END { for (u in c) print c[u], u }'
EOF
chmod +x "$W/pipeline"
SCAN=("$CTL" --control "$W/control" scan --year 2013 "$LOG")

bytes=$(stat -c %s "$LOG")
lines=$(wc -l < "$LOG")
logins=$(grep -c 'login success' "$LOG")
qmail=$(grep -c ' qmail: ' "$LOG")
spamd=$(grep -c ' spamd\[' "$LOG")
echo "== log: $LOG"
echo "$bytes bytes, $lines lines: $logins login success ($((100 * logins / lines))%), $qmail qmail-send ($((100 * qmail / lines))%), $spamd spamd ($((100 * spamd / lines))%)"

# The same answer first.
"$W/pipeline" "$LOG" | awk '{ print $2, $1 }' | sort > "$W/pipeline.out"
"${SCAN[@]}" --json 2>/dev/null | python3 -c '
import json, sys
for line in sys.stdin:
    d = json.loads(line)
    if d["success_addresses"]:
        print(d["user"], d["success_addresses"])' | sort > "$W/scan.out"
if ! cmp -s "$W/pipeline.out" "$W/scan.out"; then
    echo "scan and the pipeline disagree on distinct addresses per user" >&2
    exit 1
fi
echo "distinct successful addresses per user: scan = pipeline, $(wc -l < "$W/scan.out") users"

echo "== $ROUNDS rounds, alternating; wall time, and CPU time (user+sys, all processes); one warm-up round"
python3 - "$ROUNDS" "$W/pipeline" "$LOG" -- "${SCAN[@]}" <<'PY'
import os, resource, statistics, subprocess, sys, time
rounds, pipeline, log = int(sys.argv[1]), sys.argv[2], sys.argv[3]
scan = sys.argv[sys.argv.index("--") + 1:]
cpu = str(min(os.sched_getaffinity(0)))
layouts = [("free: the pipeline's processes on every CPU", []),
           ("pinned: both on CPU " + cpu + " (taskset)", ["taskset", "-c", cpu])]
for title, prefix in layouts:
    runs = {"pipeline": prefix + [pipeline, log], "scan": prefix + scan}
    wall = {name: [] for name in runs}
    used = {name: [] for name in runs}
    for r in range(rounds + 1):
        for name, argv in runs.items():
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            start = time.perf_counter()
            subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True)
            elapsed = time.perf_counter() - start
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            if r > 0:  # round 0 warms the page cache
                wall[name].append(elapsed)
                used[name].append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
    print(title)
    for name in runs:
        print("  %-8s wall median %6.1f ms (min %6.1f, max %6.1f)   CPU median %6.1f ms" %
              (name, 1000 * statistics.median(wall[name]), 1000 * min(wall[name]),
               1000 * max(wall[name]), 1000 * statistics.median(used[name])))
    print("  scan is %.2fx as fast as the pipeline (wall medians), %.2fx on CPU time" %
          (statistics.median(wall["pipeline"]) / statistics.median(wall["scan"]),
           statistics.median(used["pipeline"]) / statistics.median(used["scan"])))
PY
echo "commands:"
echo "  pipeline: $(tail -n 1 "$W/pipeline" | sed "s|\"\$1\"|$LOG|")"
echo "  scan:     ${SCAN[*]}"
echo "machine: $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
