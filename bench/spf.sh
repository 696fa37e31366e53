#!/bin/bash
# bench/spf.sh - authguard-spf's wall time per [mail] call against a warm
# local resolver, beside /bin/true started the same way and beside the DNS
# answers themselves. Called from bench/run (or alone, as root: it needs a
# private mount namespace to point /etc/resolv.conf at its own unbound).
#
# Every round runs each variant once, in an order that rotates, from one
# shell as qmail-spp starts a plugin (fork + exec, stdin closed, stdout a
# pipe that is read to the end):
#   true       /bin/true
#   off        authguard-spf-mail at level 0 (start, control files, exit)
#   one        level 3, a record with one ip4 term: 1 TXT query
#   many       level 3, "a mx include:" (the include's ip4 matches): 5 queries
# The store is a private redis-server on a unix socket, so that each checked
# call also pays the session lookup a real unauthenticated session pays.
#
# "DNS alone" replays, in one long-lived process (perl, UDP, the same
# server), exactly the queries unbound logged for one call of each variant,
# one after the other as libspf2 sends them: the time the answers take,
# without any process start. The plugin's own cost is then
#   (variant - true) - DNS alone.
# Figures are medians of per-round paired differences.
#   BENCH_SPF_ROUNDS (default 300)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD B=$ROOT/build
source "$ROOT/tests/unbound.sh"

if [ -z "${AG_BENCH_SPF_NS:-}" ]; then
    if [ "$(id -u)" != 0 ] || ! unshare -m --propagation private true 2>/dev/null; then
        echo "bench/spf.sh: skipped: needs root and unshare -m (a private /etc/resolv.conf)"
        exit 0
    fi
    make -s "build/authguard-spf" "build/authguard-spf-mail"
    AG_BENCH_SPF_NS=1 exec unshare -m --propagation private bash "$0" "$@"
fi
ROUNDS=${BENCH_SPF_ROUNDS:-300}
command -v unbound >/dev/null || { echo "bench/spf.sh: unbound is not installed (tools/install-deps test)"; exit 1; }

TMP=$(mktemp -d /tmp/authguard-bench-spf.XXXXXX)
cleanup() {
    unbound_stop
    redis-cli -s "$TMP/redis.sock" shutdown nosave >/dev/null 2>&1 || true
    rm -rf "$TMP"
}
trap cleanup EXIT

# ---- unbound: the test zones as local-data, every query logged --------------
unbound_start "$TMP" 127.53 <<'EOF' || { echo "bench/spf.sh: unbound does not start: $(unbound_log_tail "$TMP")"; exit 1; }
    log-queries: yes
    local-zone: "test." static
    local-data: 'one.test. TXT "v=spf1 ip4:192.0.2.10 -all"'
    local-data: 'many.test. TXT "v=spf1 a mx include:inc.many.test -all"'
    local-data: 'many.test. A 198.51.100.1'
    local-data: 'many.test. MX 10 mx.many.test.'
    local-data: 'mx.many.test. A 198.51.100.2'
    local-data: 'inc.many.test. TXT "v=spf1 ip4:192.0.2.10 -all"'
EOF
IP=$UNBOUND_IP
# dns_replay FILE N: sends FILE's queries ("NAME TYPE" lines) in order, N
# times; prints the median seconds per whole set.
dns_replay() {
    perl -MIO::Socket::INET -MTime::HiRes=time -e '
        my ($file, $n, $ip) = @ARGV;
        my %type = (A => 1, MX => 15, TXT => 16, AAAA => 28, SPF => 99);
        open my $fh, "<", $file or die "$file: $!";
        my @q = map { chomp; [split / /] } <$fh>;
        my $s = IO::Socket::INET->new(PeerAddr => $ip, PeerPort => 53, Proto => "udp") or die "socket: $!";
        my @t; my $id = 1;
        for my $i (1 .. $n) {
            my $t0 = time;
            for my $q (@q) {
                my $wire = join("", map { chr(length $_) . $_ } split /\./, $q->[0]) . "\0";
                $id = ($id + 1) & 0xffff;
                $s->send(pack("n6", $id, 0x0100, 1, 0, 0, 0) . $wire . pack("n2", $type{$q->[1]} // die("type $q->[1]"), 1));
                my $r;
                local $SIG{ALRM} = sub { die "no answer from $ip\n" }; alarm 2;
                $s->recv($r, 4096); alarm 0;
            }
            push @t, time - $t0;
        }
        @t = sort { $a <=> $b } @t;
        printf "%.6f\n", $t[int(@t / 2)];' "$1" "$2" "$IP"
}
resolv_conf_mount "$TMP/resolv.conf" "$IP" timeout:1 attempts:1

# ---- the store and the control directory ------------------------------------
redis-server --port 0 --unixsocket "$TMP/redis.sock" --save '' --appendonly no --dir "$TMP" \
    --daemonize yes --pidfile "$TMP/redis.pid" --logfile "$TMP/redis.log" >/dev/null
for _ in $(seq 50); do redis-cli -s "$TMP/redis.sock" ping >/dev/null 2>&1 && break; sleep 0.1; done
mkdir -p "$TMP/control"
printf 'redis = unix:%s\nkey-prefix = bs:\n' "$TMP/redis.sock" >"$TMP/control/authguard"
echo mx.receiver.test >"$TMP/control/me"
export AUTHGUARD_CONTROL=$TMP/control AUTHGUARD_LOG_FILE=/dev/null PROTO=TCP TCPREMOTEIP=192.0.2.10 \
    TCPREMOTEPORT=40000 TCPLOCALIP=192.0.2.25 TCPLOCALPORT=25 SMTPHELOHOST=client.example
PLUGIN=$B/authguard-spf-mail

# variant NAME: one call, as qmail-spp makes it.
variant() {
    case $1 in
    true) /bin/true 0<&- | cat >/dev/null ;;
    off) SPFBEHAVIOR=0 "$PLUGIN" 0<&- | cat >/dev/null ;;
    one) SPFBEHAVIOR=3 SMTPMAILFROM=a@one.test "$PLUGIN" 0<&- | cat >/dev/null ;;
    many) SPFBEHAVIOR=3 SMTPMAILFROM=a@many.test "$PLUGIN" 0<&- | cat >/dev/null ;;
    esac
}

# Which queries each variant sends, from unbound's log (after a warm-up).
echo "== queries per call (unbound's log), the Received-SPF result"
for v in one many; do
    variant $v
    before=$(wc -l <"$TMP/unbound.log")
    out=$(SPFBEHAVIOR=3 SMTPMAILFROM=a@$v.test "$PLUGIN" 0<&-)
    sleep 0.2
    tail -n +$((before + 1)) "$TMP/unbound.log" | awk '/ IN$/ { n = $(NF - 2); sub(/\.$/, "", n); print n, $(NF - 1) }' >"$TMP/queries.$v"
    printf '%-5s %d queries: %s; %s\n' "$v" "$(wc -l <"$TMP/queries.$v")" \
        "$(tr '\n' ',' <"$TMP/queries.$v" | sed 's/,$//')" "$(grep -o 'Received-SPF: [a-z]*' <<<"$out")"
done

echo "== $ROUNDS rounds, variants interleaved (order rotating), wall time per call"
VARIANTS=(true off one many)
for v in "${VARIANTS[@]}"; do : >"$TMP/t.$v"; done
for ((r = 0; r < ROUNDS; r++)); do
    for ((k = 0; k < ${#VARIANTS[@]}; k++)); do
        v=${VARIANTS[$(((r + k) % ${#VARIANTS[@]}))]}
        s=$EPOCHREALTIME
        variant "$v"
        e=$EPOCHREALTIME
        echo "${s/./} ${e/./}" | awk '{ print ($2 - $1) / 1e6 }' >>"$TMP/t.$v"
    done
done
dns_one=$(dns_replay "$TMP/queries.one" 2000)
dns_many=$(dns_replay "$TMP/queries.many" 2000)
paste "$TMP/t.true" "$TMP/t.off" "$TMP/t.one" "$TMP/t.many" | awk -v d1="$dns_one" -v dm="$dns_many" '
    function median(a, n,   i, j, t) {
        for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
        return (n % 2) ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
    }
    { n++; tr[n] = $1; of[n] = $2; on[n] = $3; ma[n] = $4; dof[n] = $2 - $1; don[n] = $3 - $1; dma[n] = $4 - $1 }
    END {
        printf "/bin/true                 median %6.3f ms\n", median(tr, n) * 1000
        printf "level 0 (no lookups)      median %6.3f ms   paired added %+6.3f ms\n", median(of, n) * 1000, median(dof, n) * 1000
        printf "one.test (1 query)        median %6.3f ms   paired added %+6.3f ms   DNS alone %.3f ms   plugin own %+6.3f ms\n",
            median(on, n) * 1000, median(don, n) * 1000, d1 * 1000, (median(don, n) - d1) * 1000
        printf "many.test (5 queries)     median %6.3f ms   paired added %+6.3f ms   DNS alone %.3f ms   plugin own %+6.3f ms\n",
            median(ma, n) * 1000, median(dma, n) * 1000, dm * 1000, (median(dma, n) - dm) * 1000
        printf "%d rounds\n", n
    }'
