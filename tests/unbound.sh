# tests/unbound.sh - a private DNS server for the scripts that need real DNS
# answers: Debian's unbound on a random 127/8 address serving the caller's
# records as local-data (no recursion, everything else refused), a private
# /etc/resolv.conf naming it, and a UDP "server" that never answers.
# Sourced by tests/integration/spf.sh, dkim.sh, dkim-keys.sh and by
# bench/spf.sh, bench/dkim.sh; each runs in a private mount namespace
# (unshare -m), so the bind mount over /etc/resolv.conf is its own.
#
# Safe under `set -euo pipefail`. Call the start functions in the script's
# own shell (not in $(...) or a pipe): they set variables and start children
# of that shell. Register the stop function before the start one (on_exit
# unbound_stop, or call it from the EXIT trap): the PID is set as soon as the
# process runs, so an interruption while it starts leaves nothing behind.

# shellcheck disable=SC2034 # UNBOUND_IP, DNS_SINK_IP: for the sourcing script

# dns_answers IP: true when a DNS server on IP port 53 answers a UDP query
# within 1 s (any answer, REFUSED or NXDOMAIN too: the server is up).
dns_answers() {
    perl -MIO::Socket::INET -e '
        my $s = IO::Socket::INET->new(PeerAddr => $ARGV[0], PeerPort => 53, Proto => "udp") or exit 1;
        # A query for probe.test TXT.
        $s->send(pack("n6", 4242, 0x0100, 1, 0, 0, 0) . "\5probe\4test\0" . pack("n2", 16, 1));
        my $r = "";
        local $SIG{ALRM} = sub { exit 1 }; alarm 1;
        $s->recv($r, 4096); exit(length($r) ? 0 : 1)' "$1" 2>/dev/null
}

# dns_kill_wait PID: TERM, then waits up to 5 s until it is gone (and reaps
# it). Always true, so that a cleanup under `set -e` goes on. No-op for "".
dns_kill_wait() {
    local _
    [ -n "${1:-}" ] || return 0
    kill -TERM "$1" 2>/dev/null || return 0
    for _ in $(seq 50); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$1" 2>/dev/null || wait "$1" 2>/dev/null
    return 0
}

# unbound_start DIR [NET]: starts unbound in the foreground (-d), as a
# background child of this shell, on a random address NET.x.y (NET default
# 127.53), with the lines on stdin added to its config: server: options
# first (local-zone, local-data, log-queries, ...), then any further clauses
# (forward-zone: ...). Writes DIR/unbound.conf; unbound logs to
# DIR/unbound.log, its stderr goes to DIR/unbound.out. Waits until it
# answers (up to 50 probes); when it exits instead (the address is taken),
# tries another, 5 in all. Sets UNBOUND_IP and UNBOUND_PID; returns 1 when
# it never starts (unbound_log_tail DIR says why).
unbound_start() {
    local dir=$1 net=${2:-127.53} ip pid _
    UNBOUND_IP='' UNBOUND_PID=''
    cat >"$dir/unbound.local"
    for _ in 1 2 3 4 5; do
        ip=$net.$((RANDOM % 250 + 1)).$((RANDOM % 250 + 1))
        {
            cat <<EOF
server:
    interface: $ip
    port: 53
    do-daemonize: no
    username: ""
    chroot: ""
    directory: "$dir"
    pidfile: ""
    use-syslog: no
    logfile: "$dir/unbound.log"
    verbosity: 0
    access-control: 127.0.0.0/8 allow
    module-config: "iterator"
    # A forward-zone of the caller may name a server on 127.0.0.1.
    do-not-query-localhost: no
    # Nothing outside the caller's zones: no recursion to the internet.
    local-zone: "." refuse
EOF
            cat "$dir/unbound.local"
            printf 'remote-control:\n    control-enable: no\n'
        } >"$dir/unbound.conf"
        unbound -d -c "$dir/unbound.conf" </dev/null >>"$dir/unbound.out" 2>&1 &
        pid=$!
        UNBOUND_PID=$pid
        for _ in $(seq 50); do
            dns_answers "$ip" && break
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$pid" 2>/dev/null; then
            UNBOUND_IP=$ip
            return 0
        fi
        wait "$pid" 2>/dev/null || true
        UNBOUND_PID=
    done
    return 1
}

# unbound_stop: stops the unbound that unbound_start started, if any.
unbound_stop() {
    dns_kill_wait "${UNBOUND_PID:-}"
    UNBOUND_PID=
}

# unbound_log_tail DIR: the last lines of unbound's stderr and log, on one
# line (why it did not start).
unbound_log_tail() {
    tail -3 "$1/unbound.out" "$1/unbound.log" 2>/dev/null | tr '\n' ' '
}

# resolv_conf_mount FILE IP [OPTION...]: writes FILE naming IP as the only
# name server, with the resolver options given (default timeout:1
# attempts:1), and bind-mounts it over /etc/resolv.conf. A second mount
# covers the first; `umount /etc/resolv.conf` uncovers it again.
resolv_conf_mount() {
    local file=$1 ip=$2
    shift 2
    [ $# -gt 0 ] || set -- timeout:1 attempts:1
    printf 'nameserver %s\noptions %s\n' "$ip" "$*" >"$file"
    mount --bind "$file" /etc/resolv.conf
}

# dns_sink_start DIR [NET]: a DNS server that never answers: a UDP socket on
# a random address NET.x.y (NET default 127.54) port 53 that reads every
# query and drops it, for the resolvers' timeouts. Waits up to 3 s until it
# is bound; tries another address when it cannot bind, 3 in all. Sets
# DNS_SINK_IP and DNS_SINK_PID; returns 1 when it never binds.
dns_sink_start() {
    local dir=$1 net=${2:-127.54} ip _
    DNS_SINK_IP='' DNS_SINK_PID=''
    cat >"$dir/dns-sink.pl" <<'EOF_PL'
use IO::Socket::INET;
my $s = IO::Socket::INET->new(LocalAddr => $ARGV[0], LocalPort => 53, Proto => 'udp', ReuseAddr => 1)
    or die "bind: $!\n";
open(my $ready, '>', $ARGV[1]); close($ready);
while (1) { $s->recv(my $q, 4096) }
EOF_PL
    for _ in 1 2 3; do
        ip=$net.$((RANDOM % 250 + 1)).$((RANDOM % 250 + 1))
        rm -f "$dir/dns-sink.ready"
        perl "$dir/dns-sink.pl" "$ip" "$dir/dns-sink.ready" </dev/null >/dev/null 2>&1 &
        DNS_SINK_PID=$!
        for _ in $(seq 30); do
            [ -e "$dir/dns-sink.ready" ] && { DNS_SINK_IP=$ip; return 0; }
            kill -0 "$DNS_SINK_PID" 2>/dev/null || break
            sleep 0.1
        done
        dns_kill_wait "$DNS_SINK_PID"
        DNS_SINK_PID=
    done
    return 1
}

# dns_sink_stop: stops the sink that dns_sink_start started, if any.
dns_sink_stop() {
    dns_kill_wait "${DNS_SINK_PID:-}"
    DNS_SINK_PID=
}
