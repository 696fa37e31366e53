#!/bin/bash
# bench/queue.sh - authguard-queue against the next queue program alone, and
# authguard-spp per call. Called from bench/run (or alone). Starts its own
# redis-server on a private unix socket.
#
# Messages are fed exactly as qmail-smtpd feeds them
# (tests/standins/qmail-smtpd-queue-driver) in authenticated sessions, to
# build/qmail-queue-standin (which reads fd 0 and fd 1 to EOF and writes the
# message to a tmpfs directory) either directly or through
# build/authguard-queue. The two variants alternate in batches; the figures
# are medians of the per-message wall time the driver measures.
#   BENCH_QUEUE_BATCHES (default 6), BENCH_QUEUE_PER_BATCH (default 40)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD B=$ROOT/build
make -s "build/authguard-queue" "build/authguard-spp" "build/authguard-checkpw" "build/vchkpw-standin" \
    "build/qmail-queue-standin" "build/authguard-spp-mail"
BATCHES=${BENCH_QUEUE_BATCHES:-6} PER=${BENCH_QUEUE_PER_BATCH:-40}
TMP=$(mktemp -d /tmp/authguard-bench-queue.XXXXXX)
QQ=$(mktemp -d /dev/shm/authguard-bench-qq.XXXXXX)
cleanup() {
    redis-cli -s "$TMP/redis.sock" shutdown nosave >/dev/null 2>&1 || true
    rm -rf "$TMP" "$QQ"
}
trap cleanup EXIT
redis-server --port 0 --unixsocket "$TMP/redis.sock" --save '' --appendonly no --dir "$TMP" \
    --daemonize yes --pidfile "$TMP/redis.pid" --logfile "$TMP/redis.log" >/dev/null
for _ in $(seq 50); do redis-cli -s "$TMP/redis.sock" ping >/dev/null 2>&1 && break; sleep 0.1; done
mkdir -p "$TMP/control"
printf 'redis = unix:%s\nkey-prefix = bq:\nmax-messages-short = 1000000\nmax-recipients-short = 1000000\nmax-recipients-long = 1000000\n' \
    "$TMP/redis.sock" > "$TMP/control/authguard"
export AUTHGUARD_CONTROL=$TMP/control AG_QQ_DIR=$QQ TCPREMOTEIP=192.0.2.10 TCPLOCALPORT=587
head -c 1024 /dev/urandom | base64 -w 76 > "$TMP/1k"
head -c 7900000 /dev/urandom | base64 -w 76 > "$TMP/10m"
truncate -s 10M "$TMP/10m"
DRIVER=$ROOT/tests/standins/qmail-smtpd-queue-driver
CHAIN="$B/authguard-checkpw $B/vchkpw-standin /bin/true"

# batch SIZE VARIANT: PER messages in one authenticated session; appends seconds to a file
batch() {
    local program=$B/qmail-queue-standin
    [ "$2" = guard ] && program=$B/authguard-queue
    AUTHGUARD_QUEUE=$B/qmail-queue-standin "$DRIVER" --message "$TMP/$1" --from alice@example.com \
        --to bob@example.org --messages "$PER" --auth alice@example.com:secret --checkpw "$CHAIN" \
        --cwd "$TMP" "$program" | awk -v f="$TMP/$1.$2" '
            $1 == "exit" && $2 != 0 { print "exit " $2 > "/dev/stderr"; exit 1 }
            $1 == "seconds" { print $2 >> f }'
    rm -f "$QQ"/*
}
median() { sort -g "$1" | awk '{ v[NR] = $1 } END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%.3f", m * 1000 }'; }

echo "== queue guard: $BATCHES batches of $PER messages per variant, alternating"
for size in 1k 10m; do
    for ((i = 0; i < BATCHES; i++)); do
        if ((i % 2)); then batch $size guard; batch $size bare; else batch $size bare; batch $size guard; fi
    done
    bare=$(median "$TMP/$size.bare") guard=$(median "$TMP/$size.guard")
    awk -v s=$size -v b="$bare" -v g="$guard" -v n=$((BATCHES * PER)) 'BEGIN {
        printf "%-4s next queue alone %8.3f ms   through authguard-queue %8.3f ms   added %+.3f ms (%+.1f%%), %d messages each\n",
            s, b, g, g - b, (g - b) / b * 100, n }'
done

echo "== bytes of a 10 MB message read by authguard-queue itself (its own /proc/PID/task/PID/io)"
AUTHGUARD_QUEUE=$B/qmail-queue-standin "$DRIVER" --message "$TMP/10m" --from alice@example.com \
    --to bob@example.org --auth alice@example.com:secret --checkpw "$CHAIN" --io --cwd "$TMP" \
    "$B/authguard-queue" | grep -E '^(exit|io)'
rm -f "$QQ"/*

echo "== authguard-spp: wall time per [mail] call (an authenticated session: session lookup + counts)"
# The plugin and the chain are children of one shell, as in qmail-smtpd.
bash -c '
    '"$CHAIN"' 3< <(printf "alice@example.com\0secret\0\0") >/dev/null
    for i in $(seq 300); do
        s=$(date +%s%N); SMTPMAILFROM=alice@example.com '"$B"'/authguard-spp-mail 0<&- >/dev/null; e=$(date +%s%N)
        echo $(( (e - s) / 1000 ))
    done | sort -n | awk "{ v[NR] = \$1 } END { printf \"median %.3f ms, p90 %.3f ms over %d calls (includes the shell'"'"'s fork and exec)\n\", v[int(NR/2)]/1000, v[int(NR*0.9)]/1000, NR }"
    for i in $(seq 300); do
        s=$(date +%s%N); /bin/true 0<&- >/dev/null; e=$(date +%s%N)
        echo $(( (e - s) / 1000 ))
    done | sort -n | awk "{ v[NR] = \$1 } END { printf \"for scale, /bin/true the same way: median %.3f ms\n\", v[int(NR/2)]/1000 }"
'
