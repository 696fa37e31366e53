#!/bin/bash
# sentinel.sh - Redis Sentinel: two real redis-servers (primary and replica)
# and three redis-sentinels on loopback TCP ports. A stream of
# authguard-checkpw logins runs while the primary is killed: every login
# answers within 2 s; logins fail open only between the kill and the moment
# the sentinels name the promoted replica; the user's counts go on growing
# on the new primary, exactly by the logins it answered; a lock set (and
# replicated) before the failover is still enforced after it. Then the old
# primary comes back as a replica and the new one is killed while one
# long-lived store (a unit test case) keeps writing: it asks the sentinels
# again after the error and goes on on the next primary.
. "$AG_ROOT/tests/lib.sh"
trap_cleanup

for p in redis-server redis-sentinel redis-cli; do
    if ! command -v "$p" >/dev/null; then
        not_ok "$p is installed (tools/install-deps)"
        exit 0
    fi
done

dir=$AG_TMP/sentinel
mkdir -p "$dir"
MASTER=agm

# start_tcp_redis NAME PORT [options]: a redis-server on 127.0.0.1:PORT,
# daemonized, stopped at exit. Sets REDIS_PID.
start_tcp_redis() {
    local name=$1 port=$2 _
    shift 2
    rm -f "$dir/$name.pid"
    redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$dir" \
        --logfile "$dir/$name.log" --daemonize yes --pidfile "$dir/$name.pid" "$@" \
        </dev/null >/dev/null 2>&1
    REDIS_PID=
    for _ in $(seq 50); do
        [ -z "$REDIS_PID" ] && [ -s "$dir/$name.pid" ] && REDIS_PID=$(cat "$dir/$name.pid") &&
            on_exit "kill_wait KILL $REDIS_PID"
        [ -n "$REDIS_PID" ] && redis-cli -p "$port" ping 2>/dev/null | grep -q PONG && return 0
        sleep 0.1
    done
    return 1
}

# start_sentinel NAME PORT PRIMARY_PORT: a redis-sentinel watching the
# primary with small timeouts, stopped at exit.
start_sentinel() {
    local name=$1 port=$2 primary=$3 _ pid=
    cat >"$dir/$name.conf" <<EOF
port $port
bind 127.0.0.1
daemonize yes
pidfile $dir/$name.pid
logfile $dir/$name.log
dir $dir
sentinel monitor $MASTER 127.0.0.1 $primary 2
sentinel down-after-milliseconds $MASTER 500
sentinel failover-timeout $MASTER 2000
sentinel parallel-syncs $MASTER 1
EOF
    redis-sentinel "$dir/$name.conf" </dev/null >/dev/null 2>&1
    for _ in $(seq 50); do
        [ -z "$pid" ] && [ -s "$dir/$name.pid" ] && pid=$(cat "$dir/$name.pid") &&
            on_exit "kill_wait KILL $pid"
        [ -n "$pid" ] && redis-cli -p "$port" ping 2>/dev/null | grep -q PONG && return 0
        sleep 0.1
    done
    return 1
}

# primary_port SENTINEL_PORT: the primary's port that sentinel names now.
primary_port() { redis-cli -p "$1" SENTINEL get-master-addr-by-name "$MASTER" 2>/dev/null | sed -n 2p; }

# all_name PORT: every sentinel names PORT as the primary.
all_name() {
    local s
    for s in "${SENT[@]}"; do [ "$(primary_port "$s")" = "$1" ] || return 1; done
}

# ready: every sentinel knows the other two and one healthy replica.
ready() {
    local s info
    for s in "${SENT[@]}"; do
        info=$(redis-cli -p "$s" SENTINEL master "$MASTER" 2>/dev/null | paste - - | tr '\t' ' ')
        echo "$info" | grep -q '^num-other-sentinels 2$' || return 1
        echo "$info" | grep -q '^num-slaves 1$' || return 1
        redis-cli -p "$s" SENTINEL replicas "$MASTER" 2>/dev/null | grep -q 's_down\|disconnected' &&
            return 1
    done
    return 0
}

wait_for() { # wait_for SECONDS COMMAND...: polls every 0.1 s
    local n=$(($1 * 10)) _
    shift
    for _ in $(seq "$n"); do "$@" && return 0; sleep 0.1; done
    return 1
}

# replicated PORT: a write on the primary at PORT, acknowledged by its replica
# (so everything written before it reached the replica too).
replicated() {
    [ "$(printf 'SET ag-sync %s\nWAIT 1 2000\n' "$RANDOM" | redis-cli -p "$1" | tail -1)" = 1 ]
}

# count PORT USER ADDRESS: the user's login count from ADDRESS on that server.
count() {
    redis-cli -p "$1" HGET "t-sentinel:{$2}" "s|$3" | awk '{ print $3 + 0 }'
}

P1=$(free_port) P2=$(free_port)
while [ "$P2" = "$P1" ]; do P2=$(free_port); done
SENT=()
for i in 1 2 3; do
    p=$(free_port)
    while [[ " $P1 $P2 ${SENT[*]} " == *" $p "* ]]; do p=$(free_port); done
    SENT+=("$p")
done

start_tcp_redis primary "$P1" || { not_ok "primary redis-server starts"; exit 0; }
PID1=$REDIS_PID
start_tcp_redis replica "$P2" --replicaof 127.0.0.1 "$P1" ||
    { not_ok "replica redis-server starts"; exit 0; }
PID2=$REDIS_PID
for i in 0 1 2; do
    start_sentinel "sentinel$i" "${SENT[i]}" "$P1" || { not_ok "redis-sentinel $i starts"; exit 0; }
done
check "three sentinels see the primary, its replica and each other" wait_for 20 ready

C=$(new_control sentinel <<EOF
sentinel = 127.0.0.1:${SENT[0]}, 127.0.0.1:${SENT[1]}, 127.0.0.1:${SENT[2]}
sentinel-master = $MASTER
EOF
)
sed -i '/^redis = /d' "$C/authguard"
check_eq "check-config names the sentinels" 1 \
    "$("$AG_BUILD/authguardctl" --control "$C" check-config | grep -c "redis primary '$MASTER' by sentinel 127.0.0.1:${SENT[0]}")"

# --- before the failover: counting, and a botnet locked ---------------------
for i in $(seq 5); do checkpw "$C" carol secret 192.0.2.10 >/dev/null; done
check_eq "logins are counted on the primary the sentinels name" 5 "$(count "$P1" carol 192.0.2.10)"
rc=
for i in $(seq 6); do rc=$(checkpw "$C" mallory secret "$((40 + i)).7.8.9"); done
check_eq "a botnet is locked before the failover (6th new network)" 1 "$rc"
check "the lock is replicated before the primary is killed" wait_for 10 replicated "$P1"

# --- the stream, and the primary killed in its middle ------------------------
stream=$dir/stream
: >"$stream"
run_stream() {
    local i=0 t0 t1 rc fo
    while [ $i -lt 400 ] && [ ! -e "$dir/stop" ]; do
        if [ -e "$dir/pause" ]; then
            touch "$dir/paused"
            sleep 0.02
            continue
        fi
        rm -f "$dir/paused"
        t0=$(ms_now)
        rc=$(checkpw "$C" carol secret 192.0.2.10)
        t1=$(ms_now)
        fo=0
        tail -1 "$C/authguard.log" | grep -q 'store unavailable' && fo=1
        echo "$i $t0 $t1 $rc $fo" >>"$stream"
        i=$((i + 1))
        sleep 0.05
    done
}
run_stream &
STREAM_PID=$!
on_exit "touch $dir/stop; kill $STREAM_PID"

# stream_has N [AFTER_MS]: N lines in the stream (started after AFTER_MS)
stream_has() { [ "$(awk -v k="${2:-0}" '$2 > k' "$stream" | wc -l)" -ge "$1" ]; }
wait_for 20 stream_has 10
touch "$dir/pause"
wait_for 5 test -e "$dir/paused"
wait_for 10 replicated "$P1"
before=$(count "$P2" carol 192.0.2.10)
kill -KILL "$PID1"
kill_ms=$(ms_now)
lines_at_kill=$(wc -l <"$stream")
rm -f "$dir/pause"

known_ms=
for _ in $(seq 400); do # up to 20 s
    if all_name "$P2"; then known_ms=$(ms_now); break; fi
    sleep 0.05
done
check "the sentinels promote the replica (within 20 s)" test -n "$known_ms"
[ -n "$known_ms" ] || known_ms=$(ms_now)
echo "# failover: every sentinel names the new primary $((known_ms - kill_ms)) ms after the kill"
# 15 more logins after that, then stop
wait_for 30 stream_has 15 "$known_ms"
touch "$dir/stop"
wait "$STREAM_PID" 2>/dev/null

total=$(wc -l <"$stream")
slowest=$(awk 'BEGIN { m = 0 } { if ($3 - $2 > m) m = $3 - $2 } END { print m }' "$stream")
echo "# $total logins in the stream, $((total - lines_at_kill)) after the kill; slowest answer ${slowest} ms"
check "every login of the stream answers within 2 s (slowest ${slowest} ms)" test "$slowest" -lt 2000
check_eq "every login of the stream is let in (exit 0)" "$total" "$(awk '$4 == 0' "$stream" | wc -l)"
check_eq "no login fails open before the primary is killed" 0 \
    "$(awk -v k="$kill_ms" '$5 == 1 && $3 < k' "$stream" | wc -l)"
failed_open=$(awk '$5 == 1' "$stream" | wc -l)
check "some logins fail open while no primary is known ($failed_open)" test "$failed_open" -ge 1
check_eq "no login fails open once the sentinels name the new primary" 0 \
    "$(awk -v k="$((known_ms + 100))" '$5 == 1 && $2 > k' "$stream" | wc -l)"
answered=$(awk -v k="$kill_ms" '$2 >= k && $5 == 0' "$stream" | wc -l)
after=$(count "$P2" carol 192.0.2.10)
check_eq "counting goes on on the new primary: $before + the $answered logins it answered" \
    "$((before + answered))" "$after"
check_eq "the lock set before the failover is honoured after it" 1 \
    "$(checkpw "$C" mallory secret 61.7.8.9)"
check_eq "the refusal is logged as refuse-locked" 1 \
    "$(tail -1 "$C/authguard.log" | grep -c '^@[0-9a-f]\{24\} refuse-locked user=mallory')"

# --- a long-lived store across a second failover ------------------------------
start_tcp_redis primary "$P1" --replicaof 127.0.0.1 "$P2" ||
    not_ok "the old primary restarts as a replica"
check "the old primary is back as a healthy replica" wait_for 20 ready
wait_for 10 replicated "$P2"
AUTHGUARD_TEST_SENTINEL="127.0.0.1:${SENT[0]},127.0.0.1:${SENT[1]},127.0.0.1:${SENT[2]}" \
    AUTHGUARD_TEST_SENTINEL_MASTER=$MASTER AUTHGUARD_TEST_SENTINEL_KILL=$PID2 \
    "$AG_BUILD/unit-tests" --no-intro -tc='sentinel: a long-lived store*' >"$dir/unit.out" 2>&1
sed 's/^/# /' "$dir/unit.out" | grep -E 'MESSAGE|ERROR|test cases' | head -20
check "one long-lived store follows the second failover (unit test)" \
    grep -Eq '^\[doctest\] test cases: *1 \| *1 passed \| *0 failed' "$dir/unit.out"
check_eq "every sentinel names the first primary again" 0 "$(all_name "$P1"; echo $?)"
