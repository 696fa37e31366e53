# lib.sh - shared helpers for the integration scripts (sourced).
# Expects AG_ROOT, AG_BUILD, AG_TMP and AG_REDIS_SOCK from tests/run-all.
# Each script prints "ok - NAME" or "not ok - NAME" per check.
set -u
: "${AG_ROOT:?run through tests/run-all}"

ok()     { echo "ok - $*"; }
not_ok() { echo "not ok - $*"; }
# check NAME COMMAND...: ok when the command succeeds
check()  { local name=$1; shift; if "$@"; then ok "$name"; else not_ok "$name"; fi; }
# check_eq NAME EXPECTED ACTUAL
check_eq() {
    if [ "$2" = "$3" ]; then ok "$1"; else not_ok "$1 (expected '$2', got '$3')"; fi
}

# new_control NAME [key = value lines on stdin]: a fresh control dir using the
# suite's Redis with its own key prefix; prints the dir.
new_control() {
    local dir=$AG_TMP/control-$1
    mkdir -p "$dir"
    {
        echo "redis = unix:$AG_REDIS_SOCK"
        echo "key-prefix = t-$1:"
        echo "log-file = $dir/authguard.log"
        [ -t 0 ] || cat
    } > "$dir/authguard"
    chmod 640 "$dir/authguard"
    : > "$dir/authguard-allow"
    echo "$dir"
}

# checkpw CONTROL USER PASSWORD IP [more env assignments]: drives
# authguard-checkpw exactly as qmail-smtpd does (fd 3 pipe, argv, env) in front
# of the vchkpw stand-in whose password is "$AG_STANDIN_PASSWORD" (default
# "secret"). Prints the exit code.
checkpw() {
    local control=$1 user=$2 pass=$3 ip=$4; shift 4
    env -i PATH=/usr/bin:/bin AUTHGUARD_CONTROL="$control" TCPREMOTEIP="$ip" \
        TCPLOCALPORT=587 AG_STANDIN_PASSWORD="${AG_STANDIN_PASSWORD:-secret}" "$@" \
        "$AG_BUILD/authguard-checkpw" "$AG_BUILD/vchkpw-standin" /bin/true \
        3< <(printf '%s\0%s\0Y123456\0' "$user" "$pass") >/dev/null 2>&1
    echo $?
}

redis() { redis-cli -s "$AG_REDIS_SOCK" "$@"; }

# ---- for scripts that start their own processes -------------------------

# Cleanup actions, run last-registered first: `on_exit CMD`, and the script
# sets `trap run_cleanup EXIT` (plus INT/TERM, which then exit).
AG_CLEANUP=()
on_exit() { AG_CLEANUP+=("$*"); }
run_cleanup() {
    local i
    for ((i = ${#AG_CLEANUP[@]} - 1; i >= 0; i--)); do eval "${AG_CLEANUP[i]}" 2>/dev/null; done
    AG_CLEANUP=()
}
trap_cleanup() { trap run_cleanup EXIT; trap 'exit 130' INT; trap 'exit 143' TERM; }

# Wall clock in milliseconds.
ms_now() { date +%s%3N; }

# free_port: a TCP port that nothing listens on (random high port, retried).
free_port() {
    local p _
    for _ in $(seq 50); do
        p=$((20000 + RANDOM % 40000))
        ss -Hltn "sport = :$p" 2>/dev/null | grep -q . || { echo "$p"; return 0; }
    done
    return 1
}

# start_redis NAME [redis-server options]: a private redis-server on the unix
# socket DIR/NAME.sock, DIR being $AG_REDIS_DIR or else $AG_TMP. Daemonized,
# so killing it leaves no job notice; stopped at exit, also when SIGSTOPped.
# Sets REDIS_PID. Fails when it does not answer within 5 s.
start_redis() {
    local name=$1 _ dir=${AG_REDIS_DIR:-$AG_TMP}
    shift
    rm -f "$dir/$name.pid"
    redis-server --port 0 --unixsocket "$dir/$name.sock" --unixsocketperm 777 --save '' \
        --appendonly no --dir "$dir" --logfile "$dir/$name.log" --daemonize yes \
        --pidfile "$dir/$name.pid" "$@" </dev/null >/dev/null 2>&1
    REDIS_PID=
    for _ in $(seq 50); do
        [ -z "$REDIS_PID" ] && [ -s "$dir/$name.pid" ] && REDIS_PID=$(cat "$dir/$name.pid") &&
            on_exit "kill -CONT $REDIS_PID; kill_wait TERM $REDIS_PID"
        redis-cli -s "$dir/$name.sock" ping 2>&1 | grep -q -E 'PONG|NOAUTH' && [ -n "$REDIS_PID" ] &&
            return 0
        sleep 0.1
    done
    return 1
}

# kill_wait SIGNAL PID: sends the signal and waits (up to 5 s) until the
# process is gone.
kill_wait() {
    local _
    kill "-$1" "$2" 2>/dev/null
    for _ in $(seq 50); do kill -0 "$2" 2>/dev/null || return 0; sleep 0.1; done
    return 1
}

# capture_syslog "$0" "$@" (first thing in a script): re-executes the script
# in a private mount namespace with its own /dev, where /dev/log is a socket
# whose messages are appended to $AG_SYSLOG, one a line; the real /dev/log
# and the machine's syslog are untouched. Where that is not possible (no
# privilege for unshare/mount) the script goes on with AG_SYSLOG empty.
capture_syslog() {
    if [ -z "${AG_SYSLOG_NS:-}" ]; then
        if unshare -m --propagation private true 2>/dev/null; then
            AG_SYSLOG_NS=1 exec unshare -m --propagation private bash "$@"
        fi
        AG_SYSLOG=
        return 0
    fi
    local old=$AG_TMP/syslog-olddev.$$ n
    export AG_SYSLOG=$AG_TMP/syslog.$$
    : >"$AG_SYSLOG"
    mkdir -p "$old"
    if ! { mount --rbind /dev "$old" && mount -t tmpfs -o mode=755 agdev /dev; }; then
        AG_SYSLOG=
        return 0
    fi
    for n in null zero full random urandom tty ptmx; do
        [ -e "$old/$n" ] && touch "/dev/$n" && mount --bind "$old/$n" "/dev/$n"
    done
    for n in pts shm; do
        [ -d "$old/$n" ] && mkdir "/dev/$n" && mount --rbind "$old/$n" "/dev/$n"
    done
    ln -s /proc/self/fd /dev/fd
    ln -s fd/0 /dev/stdin; ln -s fd/1 /dev/stdout; ln -s fd/2 /dev/stderr
    umount -l "$old" && rmdir "$old"
    perl -MSocket -MIO::Socket::UNIX -e '
        my $s = IO::Socket::UNIX->new(Type => SOCK_DGRAM, Local => "/dev/log") or die "$!";
        chmod 0666, "/dev/log";
        open(my $f, ">>", $ARGV[0]) or die "$!";
        $f->autoflush(1);
        while (defined $s->recv(my $m, 65536)) { $m =~ s/\n*\z/\n/; print $f $m }
    ' "$AG_SYSLOG" </dev/null >/dev/null 2>&1 &
    on_exit "kill $!"
    for n in $(seq 50); do [ -S /dev/log ] && return 0; sleep 0.1; done
    AG_SYSLOG=
}

# ---- driving authguard-checkpw as qmail-smtpd does ------------------------
CP=$AG_BUILD/authguard-checkpw
STANDIN=$AG_BUILD/vchkpw-standin
AG_CP_DIR=$AG_TMP/cp.$$

# fd3 FORMAT ARGS...: the bytes the next cp_run feeds on fd 3 (printf).
fd3() { mkdir -p "$AG_CP_DIR"; printf "$@" >"$AG_CP_DIR/fd3"; }

# cp_run CONTROL pipe|closed [NAME=VALUE...] [-- CHECKPROGRAM SUBPROGRAM...]
# Runs authguard-checkpw with the fd3 bytes on a pipe at fd 3 ("closed": no
# fd 3), CHECKPROGRAM (default: the vchkpw stand-in, then /bin/true), only
# the environment given (env -i) plus TCPLOCALPORT=587 and the stand-in's
# password "secret"; fd 1 and fd 2 go to files that `expect` checks. Sets
# CP_RC and CP_MS (wall time in ms). Bounded by `timeout 10` (exit 124).
cp_run() {
    local control=$1 input=$2 t0
    shift 2
    local envs=(PATH=/usr/bin:/bin AUTHGUARD_CONTROL="$control" TCPLOCALPORT=587
        AG_STANDIN_PASSWORD=secret)
    while [ $# -gt 0 ] && [ "$1" != -- ]; do envs+=("$1"); shift; done
    [ "${1:-}" = -- ] && shift
    local argv=("$@")
    [ ${#argv[@]} -gt 0 ] || argv=("$STANDIN" /bin/true)
    mkdir -p "$AG_CP_DIR"
    t0=$(ms_now)
    if [ "$input" = closed ]; then
        env -i "${envs[@]}" timeout 10 "$CP" "${argv[@]}" 3<&- >"$AG_CP_DIR/fd1" 2>"$AG_CP_DIR/fd2"
    else
        env -i "${envs[@]}" timeout 10 "$CP" "${argv[@]}" 3< <(cat "$AG_CP_DIR/fd3") \
            >"$AG_CP_DIR/fd1" 2>"$AG_CP_DIR/fd2"
    fi
    CP_RC=$?
    CP_MS=$(($(ms_now) - t0))
}

# expect NAME RC: the last cp_run's exit code, and nothing at all on fd 1 and
# fd 2 (fd 2 is the SMTP connection with qmail-smtpd-auth 0.31).
expect() {
    check_eq "$1: exit $2" "$2" "$CP_RC"
    check_eq "$1: nothing written to fd 1 or fd 2" "" \
        "$(cat "$AG_CP_DIR/fd1" "$AG_CP_DIR/fd2" | od -An -c | head -5)"
}

# start_qpsmtpd DIR CHECKPROGRAM RUN_AS NET: a real qpsmtpd-forkserver on
# 127.0.0.1 (its files in DIR), running CHECKPROGRAM as auth_checkpassword's
# checkpassword chain, as user RUN_AS. Its DNS is a stand-in that answers
# NXDOMAIN on a random address of 127.NET.0.0/16 (mounted over
# /etc/resolv.conf in a private mount namespace), so no lookup leaves the
# machine. Sets `port`; registers both processes with on_exit. Returns 1
# (after `not_ok`) when either cannot start.
start_qpsmtpd() {
    local dir=$1 checkprogram=$2 run_as=$3 net=$4 ip p dns_pid qp_pid
    cat >"$dir/nxdns.pl" <<'EOF_PL'
use IO::Socket::INET;
my $s = IO::Socket::INET->new(LocalAddr => $ARGV[0], LocalPort => 53, Proto => 'udp', ReuseAddr => 1)
    or die "bind: $!\n";
open(my $ready, '>', $ARGV[1]); close($ready);
while (1) {
    my $peer = $s->recv(my $q, 4096);
    next unless defined $peer && length($q) >= 12;
    my $i = 12;
    while ($i < length($q)) { my $l = ord(substr($q, $i, 1)); last if $l == 0; $i += $l + 1 }
    my $r = substr($q, 0, 2) . chr(0x80 | (ord(substr($q, 2, 1)) & 1)) . chr(0x83) .
        substr($q, 4, 2) . ("\0" x 6) . substr($q, 12, $i + 5 - 12);
    $s->send($r, 0, $peer);
}
EOF_PL
    local dns_ip=
    for _ in 1 2 3 4 5; do
        ip=127.$net.$((RANDOM % 250 + 1)).$((RANDOM % 250 + 1))
        rm -f "$dir/dns.ready"
        perl "$dir/nxdns.pl" "$ip" "$dir/dns.ready" </dev/null >/dev/null 2>&1 &
        dns_pid=$!
        for _ in $(seq 30); do [ -e "$dir/dns.ready" ] && break; kill -0 $dns_pid 2>/dev/null || break; sleep 0.1; done
        if [ -e "$dir/dns.ready" ]; then dns_ip=$ip; on_exit "kill $dns_pid"; break; fi
        kill $dns_pid 2>/dev/null
    done
    [ -n "$dns_ip" ] || { not_ok "DNS stand-in starts on a 127/8 address"; return 1; }
    echo "nameserver $dns_ip" >"$dir/resolv.conf"

    local q=$dir/qp
    mkdir -p "$q"
    echo /usr/share/qpsmtpd/plugins >"$q/plugin_dirs"
    echo 'logging/warn LOGINFO' >"$q/logging"
    echo 6 >"$q/loglevel"
    echo "auth/auth_checkpassword checkpw $checkprogram true /bin/true" >"$q/plugins"
    echo mx.test.example >"$q/me"
    echo example.com >"$q/rcpthosts"
    echo "$dir/spool" >"$q/spool_dir"
    port=
    for _ in 1 2 3; do
        p=$(free_port)
        env -i PATH=/usr/bin:/bin QPSMTPD_CONFIG="$q" \
            unshare -m --propagation private \
            bash -c 'mount --bind "$1" /etc/resolv.conf && shift && exec "$@"' _ "$dir/resolv.conf" \
            qpsmtpd-forkserver -l 127.0.0.1 -p "$p" -u "$run_as" </dev/null >"$dir/qpsmtpd.log" 2>&1 &
        qp_pid=$!
        for _ in $(seq 100); do
            ss -Hltn "sport = :$p" | grep -q . && break
            kill -0 $qp_pid 2>/dev/null || break
            sleep 0.1
        done
        if ss -Hltn "sport = :$p" | grep -q .; then port=$p; on_exit "kill_wait TERM $qp_pid"; break; fi
        kill $qp_pid 2>/dev/null
    done
    [ -n "$port" ] || { not_ok "qpsmtpd-forkserver starts ($(tail -3 "$dir/qpsmtpd.log" | tr '\n' ' '))"; return 1; }
}

# fault_row STORE FAULT CLIENT-SEES LOGGED NOTHING-LOST: one row of the fault
# matrix into $AG_FAULT_ROWS (tests/run-all keeps it as
# $AG_BUILD/fault-matrix.tsv; tools/fault-table makes doc/reliability.md's
# table of it): tab-separated, each field one line under 100 characters.
fault_field() {
    local t
    t=$(printf '%s' "$1" | tr '\t\n' '  ')
    [ ${#t} -lt 100 ] || t="${t:0:96}..."
    printf '%s' "$t"
}
fault_row() {
    printf 'fault-row\t%s\t%s\t%s\t%s\t%s\n' "$(fault_field "$2")" "$1" "$(fault_field "$3")" \
        "$(fault_field "$4")" "$(fault_field "$5")" >>"${AG_FAULT_ROWS:-$AG_TMP/fault-rows.tsv}"
    echo "# row: $2 | $3 | $4 | $5"
}
