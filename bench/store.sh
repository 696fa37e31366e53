#!/bin/bash
# bench/store.sh - the embedded LMDB store against Redis, side by side in one
# run (called at the end of bench/run; runs alone as well):
#
#   1. per-event wall time and throughput of Store::record() (build/store-load:
#      the call the hooks make, one LMDB write transaction or one Redis round
#      trip per event), with 1 and with 8 writer processes, LMDB and Redis
#      alternating, BENCH_STORE_ROUNDS rounds; the medians of the rounds.
#      Also LMDB on tmpfs (/dev/shm), where the commit's disk sync is free:
#      what LMDB itself costs.
#   2. wall time per AUTH of the whole authguard-checkpw chain on each store
#      (bench/auth-latency, variants interleaved)
#   3. disk and memory per user
#
# LMDB lives on disk (a directory under /var/tmp, with LMDB's commit sync:
# one fdatasync per event); Redis is a private redis-server on a unix socket
# without persistence, as the test suite runs it. Prints everything and keeps
# it in build/bench/store.txt. Timings are reported, never judged.
#
# Environment: BENCH_STORE_ROUNDS (3), BENCH_STORE_EVENTS (events of the one
# writer, 20000; each of 8 writers does a quarter), BENCH_RUNS (AUTH rounds,
# 1000).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
B=$ROOT/build
ROUNDS=${BENCH_STORE_ROUNDS:-3}
EVENTS=${BENCH_STORE_EVENTS:-20000}
RUNS=${BENCH_RUNS:-1000}
CXX=${CXX:-g++}
mkdir -p "$B/bench"
exec > >(tee "$B/bench/store.txt") 2>&1

section() { printf '\n== %s\n' "$*"; }
show() { printf '$ %s\n' "$*"; "$@"; }

section "store benchmark: build"
make -s "build/libauthguard.a" "build/authguard-checkpw" "build/vchkpw-standin" "build/authguardctl"
newer() { [ ! -e "$1" ] || [ -n "$(find "${@:2}" -newer "$1" 2>/dev/null)" ]; }
if newer "$B/store-load" bench/store-load.cpp "$B/libauthguard.a"; then
    $CXX -std=c++20 -O2 -Wall -Wextra -Iinclude -o "$B/store-load" bench/store-load.cpp \
        "$B/libauthguard.a" -lhiredis -lboost_program_options -llmdb
fi
if newer "$B/auth-latency" bench/auth-latency.cpp; then
    $CXX -std=c++20 -O2 -Wall -Wextra -o "$B/auth-latency" bench/auth-latency.cpp
fi
if newer "$B/record-load" bench/record-load.cpp; then
    $CXX -std=c++20 -O2 -Wall -Wextra -o "$B/record-load" bench/record-load.cpp -lhiredis
fi

TMP=$(mktemp -d /var/tmp/authguard-bench-store.XXXXXX)
SOCK=$TMP/redis.sock
SHM=
cleanup() {
    redis-cli -s "$SOCK" shutdown nosave >/dev/null 2>&1 || true
    rm -rf "$TMP" ${SHM:+"$SHM"}
}
trap cleanup EXIT
redis-server --port 0 --unixsocket "$SOCK" --unixsocketperm 700 --save '' --appendonly no \
    --dir "$TMP" --logfile "$TMP/redis.log" --daemonize yes --pidfile "$TMP/redis.pid" >/dev/null
for _ in $(seq 50); do redis-cli -s "$SOCK" ping >/dev/null 2>&1 && break; sleep 0.1; done
R() { redis-cli -s "$SOCK" "$@"; }

# control NAME LINES...: a control dir; LMDB's store goes beside it.
control() {
    local dir=$TMP/$1/control
    mkdir -p "$dir"
    shift
    printf '%s\n' "$@" >"$dir/authguard"
    echo "$dir"
}
echo "machine: $(nproc) cores, $(uname -sr); $(redis-server --version | cut -d' ' -f1-3);" \
    "LMDB $(dpkg-query -W -f='${Version}' liblmdb-dev 2>/dev/null || echo '?')"
echo "LMDB directory on: $(df -T "$TMP" | awk 'NR == 2 { print $2 " (" $1 ")" }')"
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
# The disk's sync latency decides LMDB's commit time: 4 KiB O_DSYNC writes.
dsync() {
    local t0 t1
    t0=$(date +%s%N)
    dd if=/dev/zero of="$TMP/dsync" bs=4k count=200 oflag=dsync status=none
    t1=$(date +%s%N)
    rm -f "$TMP/dsync"
    echo "disk sync ($1): $(((t1 - t0) / 200 / 1000)) us per 4 KiB O_DSYNC write (dd, 200 writes)"
}
dsync before

# --- 1. Store::record() -----------------------------------------------------------
section "1. Store::record(): per-event wall time and throughput, $ROUNDS rounds, stores alternating"
# lmdb-shm: the same on tmpfs (/dev/shm), where a commit's sync costs
# nothing: LMDB's own work.
SHM=
[ -d /dev/shm ] && [ -w /dev/shm ] && SHM=$(mktemp -d /dev/shm/authguard-bench.XXXXXX)
declare -A LINES
for round in $(seq "$ROUNDS"); do
    order="lmdb redis${SHM:+ lmdb-shm}"
    [ $((round % 2)) = 0 ] && order="${SHM:+lmdb-shm }redis lmdb"
    for w in 1 8; do
        n=$EVENTS
        [ "$w" = 8 ] && n=$((EVENTS / 4))
        for store in $order; do
            if [ "$store" = lmdb ]; then
                ctl=$(control "l$round-$w" "key-prefix = b:")
            elif [ "$store" = lmdb-shm ]; then
                ctl=$(control "s$round-$w" "key-prefix = b:" "lmdb-path = $SHM/s$round-$w")
            else
                ctl=$(control "r$round-$w" "redis = unix:$SOCK" "key-prefix = b$round-$w:")
            fi
            line=$("$B/store-load" --control "$ctl" -w "$w" -n "$n" -u 100000 -a 3)
            [ "$store" = lmdb-shm ] && line=${line/store=lmdb/store=lmdb-shm}
            echo "round $round: $line"
            LINES[$store-$w]+="$line"$'\n'
        done
    done
done
dsync after
# med STORE-WRITERS FIELD: the median over the rounds of one figure
med() {
    local pattern
    case $2 in
    eps) pattern='s/.*: \([0-9]*\) events\/s.*/\1/p' ;;
    median) pattern='s/.*per event median \([0-9.]*\) us.*/\1/p' ;;
    p99) pattern='s/.*p99 \([0-9.]*\) us.*/\1/p' ;;
    esac
    printf '%s' "${LINES[$1]}" | sed -n "$pattern" | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'
}

# --- 2. the whole AUTH ---------------------------------------------------------------
section "2. wall time per AUTH through authguard-checkpw, $RUNS rounds, variants interleaved"
CTL_R=$(control auth-redis "redis = unix:$SOCK" "key-prefix = la:")
CTL_L=$(control auth-lmdb "key-prefix = la:")
show "$B/auth-latency" -n "$RUNS" -w 30 -u 2000 -a 3 \
    -c bare-good:guard-redis -c bare-good:guard-lmdb -c guard-redis:guard-lmdb \
    --variant bare-good:0 "$B/vchkpw-standin" /bin/true \
    --variant guard-redis:0 AUTHGUARD_CONTROL="$CTL_R" "$B/authguard-checkpw" "$B/vchkpw-standin" /bin/true \
    --variant guard-lmdb:0 AUTHGUARD_CONTROL="$CTL_L" "$B/authguard-checkpw" "$B/vchkpw-standin" /bin/true |
    tee "$TMP/latency.txt"

# --- 3. disk and memory per user ------------------------------------------------------
section "3. disk and memory per user (100,000 ordinary users)"
# LMDB: the B-tree's pages in data.mdb (what the page cache holds of it too);
# built on /dev/shm when there is one (same bytes, no disk syncs to wait for).
SIZE_DIR=$TMP
[ -d /dev/shm ] && [ -w /dev/shm ] && SIZE_DIR=$(mktemp -d /dev/shm/authguard-bench.XXXXXX)
declare -A DISK
for a in 1 3; do
    ctl=$SIZE_DIR/size-$a/control
    mkdir -p "$ctl"
    printf 'key-prefix = ag:\n' >"$ctl/authguard"
    "$B/store-load" --control "$ctl" -w 1 -n $((100000 * a)) -u 100000 -a "$a" >/dev/null
    json=$("$B/authguardctl" --control "$ctl" gc --json)
    tree=$(echo "$json" | sed -n 's/.*"tree_bytes":\([0-9]*\).*/\1/p')
    file=$(echo "$json" | sed -n 's/.*"file_bytes":\([0-9]*\).*/\1/p')
    DISK[$a]="$((tree / 100000)) bytes per user (B-tree pages $tree bytes; data.mdb $file bytes, with free pages)"
    echo "LMDB, $a address(es) per user: ${DISK[$a]}"
done
[ "$SIZE_DIR" != "$TMP" ] && rm -rf "$SIZE_DIR"
used_memory() { R INFO memory | tr -d '\r' | sed -n 's/^used_memory:\([0-9]*\)/\1/p'; }
declare -A MEM
for a in 1 3; do
    R FLUSHALL SYNC >/dev/null
    sleep 0.2
    before=$(used_memory)
    "$B/record-load" -s "$SOCK" -f lib/record.lua -k ag: -u 100000 -a "$a" -n $((100000 * a)) >/dev/null
    after=$(used_memory)
    R SAVE >/dev/null
    rdb=$(stat -c %s "$TMP/dump.rdb")
    MEM[$a]="used_memory $(((after - before) / 100000)) bytes per user, RDB snapshot $((rdb / 100000)) bytes per user"
    echo "Redis, $a address(es) per user: ${MEM[$a]}"
done

# --- summary ----------------------------------------------------------------------------
section "store summary (medians of $ROUNDS rounds)"
for w in 1 8; do
    for store in lmdb redis ${SHM:+lmdb-shm}; do
        printf '%-8s %d writer(s): %7s events/s, per event median %6s us, p99 %7s us\n' "$store" "$w" \
            "$(med "$store-$w" eps)" "$(med "$store-$w" median)" "$(med "$store-$w" p99)"
    done
done
pick() { sed -n "s/^$1 - $2: median of paired differences \([^ ]*\) ms.*/\1 ms/p" "$TMP/latency.txt"; }
amed() { awk -v v="$1" '$1 == v && $4 == "ms" { print $3 " ms" }' "$TMP/latency.txt"; }
echo "per AUTH (whole chain): bare $(amed bare-good), guard on Redis $(amed guard-redis), guard on LMDB $(amed guard-lmdb)"
echo "  LMDB minus Redis, paired per round: $(pick guard-lmdb guard-redis)"
echo "disk/memory per user, 1 address:  LMDB ${DISK[1]%% (*}; Redis ${MEM[1]}"
echo "disk/memory per user, 3 addresses: LMDB ${DISK[3]%% (*}; Redis ${MEM[3]}"
grep -h '^disk sync' "$B/bench/store.txt" 2>/dev/null || true
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
