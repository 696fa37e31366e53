#!/bin/bash
# bench/policyd.sh - authguard-policyd under load (issue 16's goals: >=
# 20,000 Postfix requests/s on one core against Redis on a unix socket,
# p99 <= 2 ms at 1,000 requests/s, memory flat over a 10-minute soak).
# Called from bench/run (or alone). Starts its own redis-server on a private
# unix socket and the daemon pinned to one core (taskset -c 0); the load
# generator, $B/bench/policyd-load (bench/policyd-load.cpp), and Redis run
# on the other core.
#
#   1. closed loop, ROUNDS rounds, the variants interleaved (order rotating
#      every round), a fresh daemon for each run, medians of the rounds:
#        rcpt-wN  Postfix RCPT requests of known sessions (one untimed
#                 request per connection and user first), --workers N for
#                 N in WORKERS: how the pool does on one core
#        eom      Postfix END-OF-MESSAGE, recipient_count=1: each one writes
#                 to the store; every user's message count in Redis must
#                 equal what the generator sent and had answered
#        dovecot  Dovecot allow+report pairs over HTTP/1.1 keep-alive (each
#                 report counts a login)
#   2. open loop: Postfix RCPT at OPEN_RATE requests/s for OPEN_SECONDS,
#      latency from each request's scheduled time (no coordinated omission)
#   3. soak: SOAK_RATE requests/s for SOAK_SECONDS, every request a new
#      user, address and SMTP session; the daemon's RSS every 10 s
#
# Timings are reported, never judged. The script fails (exit 1, "FAIL:")
# only when a count is wrong: a request unanswered or answered with an
# error, or a message count in the store that differs from what was sent.
#
# Environment (defaults in brackets):
#   BENCH_BUILD                   build directory, relative to the tree [build]
#   BENCH_POLICYD_REQUESTS        requests per closed-loop run [200000]
#   BENCH_POLICYD_PAIRS           Dovecot pairs per run [REQUESTS / 2]
#   BENCH_POLICYD_CONNECTIONS     [50]
#   BENCH_POLICYD_USERS           [1000]
#   BENCH_POLICYD_ROUNDS          [3]
#   BENCH_POLICYD_WORKERS         worker counts compared ["1 2 4"]; the last
#                                 one is used for eom, dovecot, open loop, soak
#   BENCH_POLICYD_OPEN_RATE       [1000]   BENCH_POLICYD_OPEN_SECONDS [30]
#   BENCH_POLICYD_SOAK_RATE       [1000]   BENCH_POLICYD_SOAK_SECONDS [600]
#   BENCH_POLICYD_CPU             the daemon's core [0]
#   BENCH_POLICYD_LOAD_CPU        the generator's and Redis's core [1]
#   BENCH_POLICYD_LOG_FILE=1      the daemon also writes control's log-file copy
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
BREL=${BENCH_BUILD:-build}
B=$ROOT/$BREL
REQUESTS=${BENCH_POLICYD_REQUESTS:-200000}
PAIRS=${BENCH_POLICYD_PAIRS:-$((REQUESTS / 2))}
CONNS=${BENCH_POLICYD_CONNECTIONS:-50}
USERS=${BENCH_POLICYD_USERS:-1000}
ROUNDS=${BENCH_POLICYD_ROUNDS:-3}
read -r -a WORKERS <<<"${BENCH_POLICYD_WORKERS:-1 2 4}"
MAIN_WORKERS=${WORKERS[${#WORKERS[@]} - 1]}
OPEN_RATE=${BENCH_POLICYD_OPEN_RATE:-1000} OPEN_SECONDS=${BENCH_POLICYD_OPEN_SECONDS:-30}
SOAK_RATE=${BENCH_POLICYD_SOAK_RATE:-1000} SOAK_SECONDS=${BENCH_POLICYD_SOAK_SECONDS:-600}
CPU=${BENCH_POLICYD_CPU:-0} LOAD_CPU=${BENCH_POLICYD_LOAD_CPU:-1}

mkdir -p "$B/bench"
exec > >(tee "$B/bench/policyd.txt") 2>&1
section() { printf '\n== %s\n' "$*"; }

section "authguard-policyd benchmark: build"
make -s B="$BREL" "$BREL/authguard-policyd" "$BREL/bench/policyd-load" # (paths as the Makefile names them)
LOAD=$B/bench/policyd-load
PD=$B/authguard-policyd
command -v taskset >/dev/null || { echo "bench/policyd.sh: taskset (util-linux) is missing"; exit 1; }
echo "machine: $(nproc) cores, $(uname -sr); $(redis-server --version | cut -d' ' -f1-3)"
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "daemon on core $CPU; generator and redis-server on core $LOAD_CPU"
echo "requests=$REQUESTS pairs=$PAIRS connections=$CONNS users=$USERS rounds=$ROUNDS" \
    "workers=(${WORKERS[*]}) open=${OPEN_RATE}/s x ${OPEN_SECONDS}s soak=${SOAK_RATE}/s x ${SOAK_SECONDS}s"

TMP=$(mktemp -d /tmp/authguard-bench-policyd.XXXXXX)
SOCK=$TMP/redis.sock
DAEMON=
cleanup() {
    [ -n "$DAEMON" ] && kill "$DAEMON" 2>/dev/null && wait "$DAEMON" 2>/dev/null
    redis-cli -s "$SOCK" shutdown nosave >/dev/null 2>&1 || true
    rm -rf "$TMP"
}
trap cleanup EXIT
FAILED=0
fail() {
    echo "FAIL: $*"
    FAILED=1
}

taskset -c "$LOAD_CPU" redis-server --port 0 --unixsocket "$SOCK" --unixsocketperm 700 --save '' \
    --appendonly no --dir "$TMP" --daemonize yes --pidfile "$TMP/redis.pid" \
    --logfile "$TMP/redis.log" >/dev/null
for _ in $(seq 50); do redis-cli -s "$SOCK" ping >/dev/null 2>&1 && break; sleep 0.1; done
R() { redis-cli -s "$SOCK" "$@"; }

# The control file: limits far above what a run sends, so that every
# END-OF-MESSAGE is counted and answered DUNNO.
PREFIX=bp:
mkdir -p "$TMP/control"
cat >"$TMP/control/authguard" <<EOF
redis = unix:$SOCK
key-prefix = $PREFIX
dovecot-policy-secret = bench:dovecot-secret
max-messages-short = 1000000
max-recipients-short = 1000000
max-recipients-long = 1000000
EOF
# The daemon logs to syslog; BENCH_POLICYD_LOG_FILE=1 adds the log-file
# copy (an open, write and close per logged line: each login and each
# END-OF-MESSAGE).
[ "${BENCH_POLICYD_LOG_FILE:-0}" = 1 ] && echo "log-file = $TMP/authguard.log" >>"$TMP/control/authguard"
chmod 640 "$TMP/control/authguard"
: >"$TMP/control/authguard-allow"
AUTH=(--auth bench:dovecot-secret)

# start_daemon WORKERS: a fresh daemon on core CPU; sets DAEMON
start_daemon() {
    rm -f "$TMP/pf.sock" "$TMP/dv.sock"
    taskset -c "$CPU" "$PD" --control "$TMP/control" --workers "$1" \
        --postfix "unix:$TMP/pf.sock" --dovecot "unix:$TMP/dv.sock" --socket-mode 0600 \
        2>>"$TMP/policyd.stderr" &
    DAEMON=$!
    for _ in $(seq 100); do
        [ -S "$TMP/pf.sock" ] && [ -S "$TMP/dv.sock" ] && return 0
        sleep 0.05
    done
    echo "bench/policyd.sh: the daemon does not listen: $(tail -5 "$TMP/policyd.stderr")"
    exit 1
}
stop_daemon() {
    kill "$DAEMON"
    local rc=0
    wait "$DAEMON" || rc=$?
    [ "$rc" = 0 ] || fail "the daemon exited $rc on SIGTERM (stderr: $(tail -3 "$TMP/policyd.stderr"))"
    DAEMON=
}
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$DAEMON/status"; }
load_gen() { taskset -c "$LOAD_CPU" "$LOAD" "$@"; }
# field NAME < a result line: the value after NAME
field() { awk -v k="$1" 'NR == 1 { for (i = 1; i < NF; i++) if ($i == k) { print $(i + 1); exit } }'; }
# check_run NAME FILE: every request answered, none with an error
check_run() {
    local line
    line=$(head -1 "$2")
    if [ "$(field unanswered <<<"$line")" != 0 ] || [ "$(field errors <<<"$line")" != 0 ] ||
        [ "$(field answered <<<"$line")" != "$(field requests <<<"$line")" ]; then
        fail "$1: not every request was answered without error: $line"
    fi
}
# check_store NAME USER: the daemon took the control file and reached the
# store (USER's first login is there); a broken control file or store makes
# every answer DUNNO, which would look like a fast daemon
check_store() {
    [ "$(R EXISTS "$PREFIX{$2}")" = 1 ] ||
        fail "$1: no login of $2 in the store: is the control file valid, the store reachable?"
}
# check_counts NAME FILE USER-PREFIX: the store's message and recipient
# counts (the rate hash's short-window buckets, read as
# tests/integration/policyd.sh's `rate` does) against the generator's "user
# NAME COUNT" lines
check_counts() {
    local name=$1 out=$2 keys
    awk '$1 == "user" { print $2, $3 }' "$out" | sort >"$TMP/sent.$name"
    mapfile -t keys < <(awk -v p="$PREFIX" '{ print p "{" $1 "}:rate" }' "$TMP/sent.$name")
    # shellcheck disable=SC2016 # Lua, not shell
    R EVAL '
        local out = {}
        for i, k in ipairs(KEYS) do
            local h = redis.call("HGETALL", k)
            local m, r = 0, 0
            for j = 1, #h, 2 do
                if string.match(h[j], "^s%d+m$") then m = m + tonumber(h[j + 1])
                elseif string.match(h[j], "^s%d+r$") then r = r + tonumber(h[j + 1]) end
            end
            out[i] = m .. " " .. r
        end
        return out' "${#keys[@]}" "${keys[@]}" >"$TMP/store.$name"
    paste -d' ' "$TMP/sent.$name" "$TMP/store.$name" | awk -v name="$name" '
        { users++; sent += $2; stored += $3
          if ($2 != $3 || $2 != $4) { bad++; if (bad <= 5) printf "  %s: sent %d, store has %d messages and %d recipients\n", $1, $2, $3, $4 } }
        END { printf "%s: %d users, %d messages sent and answered, %d in the store, %d users differ\n", name, users, sent, stored, bad + 0
              exit bad > 0 || users == 0 }' || fail "$name: the store's counts differ from what was sent"
}

# ---- 1. closed loop -------------------------------------------------------------
section "1. closed loop: $ROUNDS rounds, variants interleaved, a fresh daemon per run"
VARIANTS=()
for w in "${WORKERS[@]}"; do VARIANTS+=("rcpt-w$w"); done
VARIANTS+=(eom dovecot)
for v in "${VARIANTS[@]}"; do : >"$TMP/results.$v"; done
for ((r = 0; r < ROUNDS; r++)); do
    for ((k = 0; k < ${#VARIANTS[@]}; k++)); do
        v=${VARIANTS[$(((r + k) % ${#VARIANTS[@]}))]}
        out=$TMP/out.$v.$r
        case $v in
        rcpt-w*)
            start_daemon "${v#rcpt-w}"
            load_gen --connect "unix:$TMP/pf.sock" --connections "$CONNS" --users "$USERS" \
                --user-prefix "r$r-" --warmup --state RCPT --requests "$REQUESTS" >"$out" || true
            ;;
        eom)
            start_daemon "$MAIN_WORKERS"
            load_gen --connect "unix:$TMP/pf.sock" --connections "$CONNS" --users "$USERS" \
                --user-prefix "e$r-" --warmup --check-exact --requests "$REQUESTS" >"$out" || true
            ;;
        dovecot)
            start_daemon "$MAIN_WORKERS"
            load_gen --connect "unix:$TMP/dv.sock" --protocol dovecot "${AUTH[@]}" \
                --connections "$CONNS" --users "$USERS" --user-prefix "d$r-" \
                --requests "$PAIRS" >"$out" || true
            ;;
        esac
        rss=$(rss_kb)
        stop_daemon
        printf 'round %d %-9s %s (daemon RSS %s kB)\n' "$r" "$v" "$(head -1 "$out")" "$rss"
        sed -n 2p "$out" | sed 's/^/    /'
        check_run "$v round $r" "$out"
        case $v in
        rcpt-w*) check_store "$v round $r" "r$r-0@example.com" ;;
        eom) check_store "$v round $r" "e$r-0@example.com" ;;
        dovecot) check_store "$v round $r" "d$r-0@example.com" ;;
        esac
        [ "$v" = eom ] && check_counts "eom round $r" "$out" "e$r-"
        head -1 "$out" >>"$TMP/results.$v"
    done
done
# median FIELD FILE
median() {
    awk -v k="$1" '{ for (i = 1; i < NF; i++) if ($i == k) print $(i + 1) }' "$2" | sort -g |
        awk '{ v[NR] = $1 } END { if (NR == 0) print "-"; else print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

# ---- 2. open loop ------------------------------------------------------------------
section "2. open loop: Postfix RCPT (known sessions) at ${OPEN_RATE}/s for ${OPEN_SECONDS} s, $MAIN_WORKERS workers"
start_daemon "$MAIN_WORKERS"
load_gen --connect "unix:$TMP/pf.sock" --connections "$CONNS" --users "$USERS" --user-prefix o- \
    --warmup --state RCPT --rate "$OPEN_RATE" --duration "$OPEN_SECONDS" >"$TMP/out.open" || true
stop_daemon
head -3 "$TMP/out.open"
check_run "open loop" "$TMP/out.open"
check_store "open loop" o-0@example.com

# ---- 3. soak -------------------------------------------------------------------------
section "3. soak: ${SOAK_RATE}/s for ${SOAK_SECONDS} s, every request a new user, address and session; RSS every 10 s"
start_daemon "$MAIN_WORKERS"
: >"$TMP/rss"
load_gen --connect "unix:$TMP/pf.sock" --connections "$CONNS" --fresh --user-prefix soak- \
    --state RCPT --rate "$SOAK_RATE" --duration "$SOAK_SECONDS" >"$TMP/out.soak" &
GEN=$!
start=$SECONDS
while kill -0 "$GEN" 2>/dev/null; do
    echo "$((SECONDS - start)) $(rss_kb)" >>"$TMP/rss"
    for _ in $(seq 20); do kill -0 "$GEN" 2>/dev/null || break; sleep 0.5; done
done
wait "$GEN" || true
echo "$((SECONDS - start)) $(rss_kb)" >>"$TMP/rss"
stop_daemon
head -3 "$TMP/out.soak"
check_run "soak" "$TMP/out.soak"
check_store "soak" soak-0@example.com
echo "daemon RSS (s kB): $(tr '\n' ' ' <"$TMP/rss")"
RSS_FIRST=$(awk 'NR == 2 { print $2 }' "$TMP/rss") # after the first 10 s
RSS_LAST=$(tail -1 "$TMP/rss" | cut -d' ' -f2)
RSS_MAX=$(sort -k2 -g "$TMP/rss" | tail -1 | cut -d' ' -f2)
# The daemon remembers up to 100,000 SMTP sessions for an hour (one login
# per session): RSS grows until that memory is full, then stays flat.
RSS_SECOND_HALF=$(awk -v half=$((SOAK_SECONDS / 2)) '$1 >= half { if (min == "" || $2 < min) min = $2; if ($2 > max) max = $2 }
    END { print (min == "" ? "-" : min " to " max) }' "$TMP/rss")
echo "redis used_memory: $(R INFO memory | tr -d '\r' | sed -n 's/^used_memory_human://p')"
if grep -v ' info ' "$TMP/policyd.stderr" | grep -q .; then
    echo "daemon stderr (last lines):"
    tail -5 "$TMP/policyd.stderr" | sed 's/^/    /'
fi

# ---- summary ---------------------------------------------------------------------------
section "summary (medians of $ROUNDS rounds; latencies in ms)"
row() { # NAME FILE UNIT
    printf '%-44s %9s %-10s p50 %6s  p99 %6s  max %7s\n' "$1" "$(median rate "$2")" "$3" \
        "$(median p50 "$2")" "$(median p99 "$2")" "$(median max "$2")"
}
for w in "${WORKERS[@]}"; do
    row "Postfix RCPT, known sessions, $w worker(s)" "$TMP/results.rcpt-w$w" "req/s"
done
row "Postfix END-OF-MESSAGE (store write), $MAIN_WORKERS w." "$TMP/results.eom" "req/s"
row "Dovecot allow+report, $MAIN_WORKERS workers" "$TMP/results.dovecot" "pairs/s"
head -1 "$TMP/out.open" >"$TMP/results.open"
row "open loop at ${OPEN_RATE}/s (from scheduled time)" "$TMP/results.open" "req/s"
echo "  of which the generator's own send lag: $(sed -n 's/^send-lag (sent after the scheduled time, ms) //p' "$TMP/out.open")"
echo "goals: >= 20000 Postfix requests/s; p99 <= 2 ms at 1000 requests/s; RSS flat over a 10-minute soak"
echo "soak RSS: first (10 s) ${RSS_FIRST:-?} kB, last ${RSS_LAST:-?} kB, max ${RSS_MAX:-?} kB over ${SOAK_SECONDS} s;" \
    "second half ${RSS_SECOND_HALF} kB"
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
if [ "$FAILED" != 0 ]; then
    echo "FAIL: some counts were wrong (see FAIL lines above)"
    exit 1
fi
echo "every request answered; every message count exact"
