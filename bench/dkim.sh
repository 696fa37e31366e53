#!/bin/bash
# bench/dkim.sh - authguard-dkim's added time per message, signing (rsa-2048,
# ed25519) and verifying, at 1 KB, 100 KB and 10 MB, against the next queue
# program alone; body hashing throughput; peak memory against message size.
# Called from bench/run (or alone, as root: verifying needs its own unbound
# and a private /etc/resolv.conf, so the script runs in a private mount
# namespace).
#
# Messages are fed exactly as qmail-smtpd feeds them
# (tests/standins/qmail-smtpd-queue-driver) to build/qmail-queue-standin
# (reads fd 0 and fd 1 to EOF, writes to tmpfs), either directly or through
# build/authguard-dkim: in an authenticated session for signing (the
# checkpw chain ran first, as in bench/queue.sh), in an unauthenticated one
# for verifying a message dkimpy signed (rsa-2048; the key comes from
# unbound on a private 127/8 address). The variants alternate in batches;
# figures are medians of per-message wall time.
#   BENCH_DKIM_BATCHES (default 4), BENCH_DKIM_PER_BATCH (default 25)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD B=$ROOT/build
source "$ROOT/tests/unbound.sh"

if [ -z "${AG_BENCH_DKIM_NS:-}" ]; then
    if [ "$(id -u)" != 0 ] || ! unshare -m --propagation private true 2>/dev/null; then
        echo "bench/dkim.sh: skipped: needs root and unshare -m (a private /etc/resolv.conf)"
        exit 0
    fi
    make -s "build/authguard-dkim" "build/authguard-checkpw" "build/vchkpw-standin" "build/qmail-queue-standin" \
        "build/authguardctl"
    AG_BENCH_DKIM_NS=1 exec unshare -m --propagation private bash "$0" "$@"
fi
BATCHES=${BENCH_DKIM_BATCHES:-4} PER=${BENCH_DKIM_PER_BATCH:-25}
TMP=$(mktemp -d /tmp/authguard-bench-dkim.XXXXXX)
QQ=$(mktemp -d /dev/shm/authguard-bench-dkim-qq.XXXXXX)
cleanup() {
    unbound_stop
    redis-cli -s "$TMP/redis.sock" shutdown nosave >/dev/null 2>&1 || true
    rm -rf "$TMP" "$QQ"
}
trap cleanup EXIT

redis-server --port 0 --unixsocket "$TMP/redis.sock" --save '' --appendonly no --dir "$TMP" \
    --daemonize yes --pidfile "$TMP/redis.pid" --logfile "$TMP/redis.log" >/dev/null
for _ in $(seq 50); do redis-cli -s "$TMP/redis.sock" ping >/dev/null 2>&1 && break; sleep 0.1; done
C=$TMP/control
mkdir -p "$C"
printf 'redis = unix:%s\nkey-prefix = bd:\nmax-messages-short = 1000000\nmax-recipients-short = 1000000\nmax-recipients-long = 1000000\ndkim-next-queue = %s\ndkim-authserv-id = mx.bench.test\n' \
    "$TMP/redis.sock" "$B/qmail-queue-standin" >"$C/authguard"
export AUTHGUARD_CONTROL=$C AG_QQ_DIR=$QQ TCPREMOTEIP=192.0.2.10 TCPLOCALPORT=587 AUTHGUARD_LOG_FILE=/dev/null
"$B/authguardctl" dkim keygen example.com --selector rsa1 --type rsa >/dev/null
"$B/authguardctl" dkim keygen example.com --selector ed1 --type ed25519 >/dev/null
KEYS=$C/domainkeys/example.com

# unbound serves rsa1's record for the verifying side.
PUB=$(tr -d '\n' <"$KEYS/rsa1.pub")
unbound_start "$TMP" 127.54 <<EOF || { echo "bench/dkim.sh: unbound does not start: $(unbound_log_tail "$TMP")"; exit 1; }
    local-zone: "example.com." static
    local-data: 'rsa1._domainkey.example.com. TXT "${PUB:0:250}" "${PUB:250}"'
EOF
resolv_conf_mount "$TMP/resolv.conf" "$UNBOUND_IP" timeout:2 attempts:1

# The messages: LF line ends, as qmail-smtpd hands them on.
make_message() { # SIZE FILE
    {
        printf 'From: Alice <alice@example.com>\nTo: bob@example.org\nSubject: bench\n'
        printf 'Date: Thu, 03 Dec 2026 10:00:00 +0000\nMessage-ID: <%s@example.com>\n\n' "$1"
        head -c "$(($1 * 3 / 4))" /dev/urandom | base64 -w 76 # about $1 bytes
    } >"$2"
}
for size in 1k:1024 100k:102400 10m:10485760; do make_message "${size#*:}" "$TMP/${size%%:*}"; done
# dkimpy signs the verifying side's copies with rsa1.
for size in 1k 100k 10m; do
    /usr/bin/python3 - "$KEYS/rsa1" "$TMP/$size" "$TMP/$size.signed" <<'PY'
import sys, dkim
key = open(sys.argv[1], "rb").read()
msg = open(sys.argv[2], "rb").read()
sig = dkim.sign(msg.replace(b"\n", b"\r\n"), b"rsa1", b"example.com", key,
                include_headers=[b"from", b"to", b"subject", b"date", b"message-id"])
open(sys.argv[3], "wb").write(sig.replace(b"\r\n", b"\n") + msg)
PY
done

DRIVER=$ROOT/tests/standins/qmail-smtpd-queue-driver
CHAIN="$B/authguard-checkpw $B/vchkpw-standin /bin/true"
# batch SIZE VARIANT: PER messages in one session; appends seconds to a file
batch() {
    local size=$1 variant=$2 program=$B/authguard-dkim message=$TMP/$1 auth=(--auth alice@example.com:secret --checkpw "$CHAIN")
    case $variant in
    bare) program=$B/qmail-queue-standin ;;
    rsa) export DKIMSIGN=$KEYS/rsa1 ;;
    ed25519) export DKIMSIGN=$KEYS/ed1 ;;
    verify) auth=() message=$TMP/$size.signed ;;
    esac
    "$DRIVER" --message "$message" --from alice@example.com --to bob@example.org --messages "$PER" \
        "${auth[@]}" --cwd "$TMP" "$program" | awk -v f="$TMP/t.$size.$variant" '
            $1 == "exit" && $2 != 0 { print "exit " $2 > "/dev/stderr"; exit 1 }
            $1 == "seconds" { print $2 >> f }'
    unset DKIMSIGN
    rm -f "$QQ"/*
}
median() { sort -g "$1" | awk '{ v[NR] = $1 } END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%.3f", m * 1000 }'; }

# A check that each variant does what it says before timing it.
batch_check() {
    PER=1 batch 1k "$1"
    AUTHGUARD_LOG_FILE=$TMP/check.log PER=1 batch 1k "$1"
    grep -o 'dkim [a-z]* .*result=[^ ]*' "$TMP/check.log" | tail -1
    rm -f "$TMP/check.log" "$TMP/t.1k.$1"
}
echo "== what each variant does (one 1 KB message, the stage's log line)"
for v in rsa ed25519 verify; do printf '%-8s ' $v; batch_check $v; done

VARIANTS=(bare rsa ed25519 verify)
echo "== $BATCHES batches of $PER messages per variant and size, alternating (order rotating)"
for size in 1k 100k 10m; do
    for ((i = 0; i < BATCHES; i++)); do
        for ((k = 0; k < ${#VARIANTS[@]}; k++)); do
            batch $size "${VARIANTS[$(((i + k) % ${#VARIANTS[@]}))]}"
        done
    done
    bare=$(median "$TMP/t.$size.bare")
    printf '%-4s next queue alone %8.3f ms' $size "$bare"
    for v in rsa ed25519 verify; do
        m=$(median "$TMP/t.$size.$v")
        printf '   %s %8.3f (%+.3f)' $v "$m" "$(awk -v a="$m" -v b="$bare" 'BEGIN { print a - b }')"
    done
    echo " ms"
    echo "$size $bare $(median "$TMP/t.$size.rsa") $(median "$TMP/t.$size.ed25519") $(median "$TMP/t.$size.verify")" >>"$TMP/summary"
done
awk '$1 == "1k" { for (i = 2; i <= 5; i++) small[i] = $i }
     $1 == "10m" { for (i = 3; i <= 5; i++) {
         name = i == 3 ? "rsa" : i == 4 ? "ed25519" : "verify"
         added = ($i - $2) - (small[i] - small[2])
         printf "10 MB body through the stage (%s): %.0f MB/s (added time at 10 MB minus added time at 1 KB)\n", name, 10.485760 / (added / 1000) } }' "$TMP/summary"

echo "== peak memory of authguard-dkim (max RSS, /usr/bin/time; the next program a sink)"
printf '#!/bin/sh\nexec cat >/dev/null\n' >"$TMP/sink"
chmod +x "$TMP/sink"
for size in 1k:1024 10m:10485760 50m:52428800; do
    [ -e "$TMP/${size%%:*}" ] || make_message "${size#*:}" "$TMP/${size%%:*}"
    printf '#!/bin/sh\nexec /usr/bin/time -f %%M -o %s/rss %s\n' "$TMP" "$B/authguard-dkim" >"$TMP/measured"
    chmod +x "$TMP/measured"
    DKIMQUEUE=$TMP/sink DKIMSIGN=$KEYS/rsa1 "$DRIVER" --message "$TMP/${size%%:*}" --from alice@example.com \
        --to bob@example.org --auth alice@example.com:secret --checkpw "$CHAIN" --cwd "$TMP" "$TMP/measured" >/dev/null
    printf '%-4s signed (rsa): max RSS %s KB\n' "${size%%:*}" "$(cat "$TMP/rss")"
done
