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
# lines for every message). The two are run alternately, side by side,
# which one first swapping every round: this machine's speed swings by a
# third within minutes, so each round's ratio is taken and their median
# reported (with the quartiles), beside the wall and CPU medians. Four
# ways: as they run (scan is one thread, the pipeline's four processes
# spread over the CPUs) and both pinned to one CPU (taskset, which compares
# the work each does); and the pipeline in two locales, C.UTF-8 (a Debian
# server's UTF-8 locale) and C (its fastest: sort compares bytes). scan
# does not depend on the locale. Beside them, the pipeline's grep stage
# alone: on two CPUs the pipeline's wall time cannot be much below it.
# Before timing, scan's distinct addresses per user are checked against the
# pipeline's output: equal, or the benchmark stops.
#
# Environment: SCAN_BENCH_ROUNDS (default 21), SCAN_BENCH_USERS (550),
# SCAN_BENCH_DAYS (7), AG_BUILD (default build/).
#
# SCAN_BENCH_SHAPE picks the log's mix (maillog-gen's shape options), as
# scan's cost per line depends on it:
#   default     the 550-user week above (SCAN_BENCH_USERS, SCAN_BENCH_DAYS);
#   webmail     3,000 users over two days, no POP3 polling, most logins
#               through webmail or phones that take a new address at every
#               login, 8% failing first, 1,000 names tried once by a
#               brute-force run, 1 to 50 recipients a message;
#   bruteforce  500 users over three days, 30% of logins failing first, and
#               30,000 names tried once each;
#   large       50,000 users in one day, a few logins each, one or two
#               recipients, no inbound mail (fewer qmail-send lines);
#   gigabyte    the default shape at 5,500 users over two weeks: 1.04 GB
#               (maillog-gen takes some 3 minutes and 10 GB of memory).
# SCAN_BENCH_BASELINE=/path/to/another/authguardctl times that one too, in
# the same rounds (an earlier build: before and after, side by side), and
# checks that its JSON output equals scan's; SCAN_BENCH_BASELINE_ARGS are
# added to its arguments. SCAN_BENCH_THREADS=N runs scan with --threads N
# (default: scan's own default). One and two threads side by side:
#   SCAN_BENCH_THREADS=2 SCAN_BENCH_BASELINE=build/authguardctl \
#   SCAN_BENCH_BASELINE_ARGS="--threads 1" bench/scan.sh SCAN_BENCH_LOCALES (default
# "C.UTF-8 C") and SCAN_BENCH_LAYOUTS (default "free pinned") cut the run
# short.
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
export TZ=Asia/Tokyo LC_ALL=C.UTF-8 # (the timed pipeline runs in each locale below)

SHAPE=${SCAN_BENCH_SHAPE:-default}
case $SHAPE in
default) GEN=(--users "$USERS" --days "$DAYS") ;;
webmail)
    GEN=(--users 3000 --days 2 --pop3-share 0 --phone-share 0.7 --phone-new-address
        --webmail-share 0.6 --webmail-daily --failure-share 0.08 --bruteforce 1000
        --recipients 50 --inbound-per-user 1) ;;
bruteforce)
    GEN=(--users 500 --days 3 --failure-share 0.3 --bruteforce 30000 --pop3-share 0.2
        --recipients 20 --inbound-per-user 2) ;;
large)
    GEN=(--users 50000 --days 1 --pop3-share 0 --phone-share 0.2 --home-logins 1
        --inbound-per-user 0 --recipients 2) ;;
gigabyte) GEN=(--users 5500 --days 14) ;;
*)
    echo "SCAN_BENCH_SHAPE: default, webmail, bruteforce, large or gigabyte, not '$SHAPE'" >&2
    exit 2 ;;
esac
LOG=$W/maillog-$SHAPE
if [ "$SHAPE" = default ]; then LOG=$W/maillog-$USERS-$DAYS; fi
if [ ! -s "$LOG" ]; then
    "$ROOT/tests/standins/maillog-gen" "${GEN[@]}" > "$LOG.tmp"
    mv "$LOG.tmp" "$LOG"
fi
mkdir -p "$W/control" # all defaults: the verdicts of a fresh installation

cat > "$W/pipeline" <<'EOF'
#!/bin/sh
grep 'login success' "$1" | awk '{ print $10 }' | sort -u | awk -F: '{ c[$1]++ } END { for (u in c) print c[u], u }'
EOF
chmod +x "$W/pipeline"
# The pipeline's first stage alone: on two CPUs the rest of the pipeline
# runs beside it, so its wall time cannot be much below this.
cat > "$W/first-stage" <<'EOF'
#!/bin/sh
grep 'login success' "$1" | wc -l
EOF
chmod +x "$W/first-stage"
SCAN=("$CTL" --control "$W/control" scan --year 2013 ${SCAN_BENCH_THREADS:+--threads "$SCAN_BENCH_THREADS"} "$LOG")

bytes=$(stat -L -c %s "$LOG")
lines=$(wc -l < "$LOG")
logins=$(grep -c 'login success' "$LOG" || true) # (grep -c fails on 0: a shape without spamd)
qmail=$(grep -c ' qmail: ' "$LOG" || true)
spamd=$(grep -c ' spamd\[' "$LOG" || true)
echo "== log: $LOG (shape $SHAPE: maillog-gen ${GEN[*]})"
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
BASELINE=(${SCAN_BENCH_BASELINE:+"$SCAN_BENCH_BASELINE" --control "$W/control" scan --year 2013 ${SCAN_BENCH_BASELINE_ARGS:-} "$LOG"})
if [ ${#BASELINE[@]} -gt 0 ]; then
    if ! cmp -s <("${SCAN[@]}" --json 2>/dev/null) <("${BASELINE[@]}" --json 2>/dev/null); then
        echo "scan and the baseline ($SCAN_BENCH_BASELINE) disagree (--json)" >&2
        exit 1
    fi
    echo "baseline $SCAN_BENCH_BASELINE: the same --json output"
fi

echo "== $ROUNDS rounds each, the commands taking turns (each in every place of a round, both ways); one warm-up round"
echo "   wall time, CPU time (user+sys, all processes), and the median of each round's ratio"
echo "   (pipeline/scan of two runs side by side: this machine's speed swings between rounds)"
python3 - "$ROUNDS" "$W/pipeline" "$W/first-stage" "$LOG" "${SCAN_BENCH_LOCALES:-C.UTF-8 C}" \
    "${SCAN_BENCH_LAYOUTS:-free pinned}" "${BASELINE[@]}" -- "${SCAN[@]}" <<'PY'
import os, resource, statistics, subprocess, sys, time
rounds, pipeline, first_stage, log = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
locales, wanted_layouts = sys.argv[5].split(), sys.argv[6].split()
baseline = sys.argv[7:sys.argv.index("--")]
scan = sys.argv[sys.argv.index("--") + 1:]
cpu = str(min(os.sched_getaffinity(0)))
layouts = [("free: the pipeline's processes on every CPU", []),
           ("pinned: both on CPU " + cpu + " (taskset)", ["taskset", "-c", cpu])]
layouts = [l for l in layouts if l[0].split(":")[0] in wanted_layouts]
# The pipeline's speed depends on the locale (sort compares by it): C.UTF-8,
# as on a Debian server with a UTF-8 locale, and C, its fastest.

def run(argv, env):
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, env=env)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return elapsed, after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime

for locale in locales:
    env = dict(os.environ, LC_ALL=locale)
    for title, prefix in layouts:
        runs = {"pipeline": prefix + [pipeline, log], "scan": prefix + scan}
        if not prefix:
            runs["grep"] = [first_stage, log]
        if baseline:
            runs["baseline"] = prefix + baseline
        wall = {name: [] for name in runs}
        used = {name: [] for name in runs}
        ratios, grep_ratios, baseline_ratios = [], [], []
        for r in range(rounds + 1):
            # Every command in every place in turn, each direction: a
            # command run right after the pipeline (its sort leaves memory
            # to be reclaimed) was measured slower, and before, the scan
            # always came next to the pipeline and the baseline never did.
            names = list(runs) if (r // len(runs)) % 2 else list(runs)[::-1]
            order = names[r % len(names):] + names[:r % len(names)]
            took = {name: run(runs[name], env) for name in order}
            if r == 0:
                continue  # warms the page cache
            for name in runs:
                wall[name].append(took[name][0])
                used[name].append(took[name][1])
            ratios.append(took["pipeline"][0] / took["scan"][0])
            if "grep" in runs:
                grep_ratios.append(took["grep"][0] / took["scan"][0])
            if "baseline" in runs:
                baseline_ratios.append(took["baseline"][0] / took["scan"][0])
        ratios.sort()
        print("LC_ALL=%s, %s" % (locale, title))
        for name in runs:
            print("  %-8s wall median %6.1f ms (min %6.1f, max %6.1f)   CPU median %6.1f ms" %
                  (name, 1000 * statistics.median(wall[name]), 1000 * min(wall[name]),
                   1000 * max(wall[name]), 1000 * statistics.median(used[name])))
        print("  scan is %.2fx as fast as the pipeline (median of the rounds' ratios; quartiles %.2fx..%.2fx),"
              " %.2fx on CPU time" %
              (statistics.median(ratios), ratios[len(ratios) // 4], ratios[3 * len(ratios) // 4],
               statistics.median(used["pipeline"]) / statistics.median(used["scan"])))
        if grep_ratios:
            grep_ratios.sort()
            print("  the pipeline's grep alone (| wc -l) takes %.2f of scan's time (quartiles %.2f..%.2f)" %
                  (statistics.median(grep_ratios), grep_ratios[len(grep_ratios) // 4],
                   grep_ratios[3 * len(grep_ratios) // 4]))
        if baseline_ratios:
            baseline_ratios.sort()
            print("  scan is %.2fx as fast as the baseline (quartiles %.2fx..%.2fx), %.2fx on CPU time;"
                  " the baseline is %.2fx as fast as the pipeline" %
                  (statistics.median(baseline_ratios), baseline_ratios[len(baseline_ratios) // 4],
                   baseline_ratios[3 * len(baseline_ratios) // 4],
                   statistics.median(used["baseline"]) / statistics.median(used["scan"]),
                   statistics.median(sorted(w_p / w_b for w_p, w_b in zip(wall["pipeline"], wall["baseline"])))))
PY
echo "commands:"
echo "  pipeline: $(tail -n 1 "$W/pipeline" | sed "s|\"\$1\"|$LOG|")"
echo "  grep:     grep 'login success' $LOG | wc -l"
echo "  scan:     ${SCAN[*]}"
[ ${#BASELINE[@]} -eq 0 ] || echo "  baseline: ${BASELINE[*]}"
echo "machine: $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"
