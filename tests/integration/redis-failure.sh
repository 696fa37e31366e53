#!/bin/bash
# redis-failure.sh - authguard-checkpw when its Redis goes away: killed,
# SIGSTOPped (accepts connections, never answers), its accept queue full
# (connect hangs), or refusing the password. Every login must come back
# within the timeout budget (connect + command timeouts, 100 ms each by
# default; asserted generously as < 1 s of wall time per call), good passwords
# must still get in (fail-open) with the store failure logged, or get 111
# with on-store-failure = tempfail. Uses its own redis-server instances,
# never the suite's.
source "${AG_ROOT:?run through tests/run-all}/tests/lib.sh" || exit 1
trap_cleanup

W=$AG_TMP/redis-failure
mkdir -p "$W"
SOCK=$AG_TMP/rf.sock
BUDGET_MS=1000

start_redis rf || { not_ok "own redis-server starts"; exit 1; }
RF_PID=$REDIS_PID

OPEN=$(new_control rf-open <<EOF
redis = unix:$SOCK
EOF
)
TEMP=$(new_control rf-temp <<EOF
redis = unix:$SOCK
on-store-failure = tempfail
EOF
)
rf() { redis-cli -s "$SOCK" "$@"; }

# logins NAME CONTROL PASSWORD RC N: N logins from distinct addresses of one
# /16 (nothing locks); each must exit RC within the budget.
n_login=0
logins() {
    local name=$1 control=$2 pass=$3 want=$4 n=$5 i rcs= slow=
    fd3 'user@example.com\0%s\0\0' "$pass"
    for ((i = 0; i < n; i++)); do
        n_login=$((n_login + 1))
        cp_run "$control" pipe TCPREMOTEIP=10.77.$((n_login / 250)).$((n_login % 250 + 1))
        rcs+="$CP_RC "
        [ "$CP_MS" -lt "$BUDGET_MS" ] || slow+="${CP_MS}ms "
        [ -s "$AG_CP_DIR/fd2" ] && slow+="(wrote to fd 2) "
    done
    check_eq "$name: exit codes" "$(for ((i = 0; i < n; i++)); do printf '%s ' "$want"; done)" "$rcs"
    check_eq "$name: every call within ${BUDGET_MS} ms, fd 2 silent" "" "$slow"
}
successes() { # count of successes stored for user@example.com under PREFIX
    rf hgetall "t-$1:{user@example.com}" | awk 'NR % 2 == 1 && /^s\|/ {k = 1; next} k {split($0, a, " "); n += a[3]; k = 0} END {print n + 0}'
}
log_count() { grep -c "reason=\"store unavailable, $2\"" "$AG_TMP/control-$1/authguard.log"; }

# --- Redis up: the baseline.
logins "Redis up" "$OPEN" secret 0 3
check_eq "Redis up: logins counted" 3 "$(successes rf-open)"

# --- Redis killed (SIGKILL: the socket file stays, connect is refused).
kill_wait KILL "$RF_PID"
logins "Redis killed: good password, fail-open" "$OPEN" secret 0 3
logins "Redis killed: bad password" "$OPEN" wrong 3 2
check_eq "Redis killed: the failures are logged" 5 "$(log_count rf-open fail-open)"
check "Redis killed: the log names the cause" \
    grep -q "note=\"redis unix:$SOCK: .*\"" "$AG_TMP/control-rf-open/authguard.log"
logins "Redis killed: tempfail mode, good password" "$TEMP" secret 111 3
logins "Redis killed: tempfail mode, bad password keeps the checkpassword's code" "$TEMP" wrong 3 2
check_eq "Redis killed: tempfail mode logged" 5 "$(log_count rf-temp tempfail)"
rm -f "$SOCK"
logins "Redis gone (no socket)" "$OPEN" secret 0 2

# --- Restarted: counting goes on.
start_redis rf || not_ok "own redis-server restarts"
RF_PID=$REDIS_PID
logins "Redis restarted" "$OPEN" secret 0 2
check_eq "Redis restarted: logins counted again" 2 "$(successes rf-open)"

# --- SIGSTOP: connections are accepted by the kernel, nothing answers.
kill -STOP "$RF_PID"
before=$(log_count rf-open fail-open)
logins "Redis paused: good password, fail-open" "$OPEN" secret 0 3
check_eq "Redis paused: each store failure is logged" 3 $(($(log_count rf-open fail-open) - before))
check "Redis paused: logged as a timeout" \
    grep -q 'store unavailable, fail-open.*note="redis .*\(timed out\|Resource temporarily unavailable\|Connection timed out\)' "$AG_TMP/control-rf-open/authguard.log"
logins "Redis paused: tempfail mode, good password" "$TEMP" secret 111 3
logins "Redis paused: tempfail mode, bad password" "$TEMP" wrong 3 1
kill -CONT "$RF_PID"
sleep 0.2
base=$(successes rf-open)
logins "Redis resumed" "$OPEN" secret 0 2
check_eq "Redis resumed: logins counted again" $((base + 2)) "$(successes rf-open)"

# --- In the middle of a run: logins keep coming while Redis is paused,
# resumed, killed and restarted underneath them.
run_log=$W/run
: >"$run_log"
(
    fd3 'user@example.com\0secret\0\0'
    for i in $(seq 60); do
        cp_run "$OPEN" pipe TCPREMOTEIP=10.78.0.$i
        echo "$CP_RC $CP_MS $(stat -c %s "$AG_CP_DIR/fd2")" >>"$run_log"
    done
) &
runner=$!
on_exit "kill $runner"
sleep 0.5
kill -STOP "$RF_PID"
sleep 0.8
kill -CONT "$RF_PID"
sleep 0.5
kill_wait KILL "$RF_PID"
sleep 0.5
start_redis rf || not_ok "own redis-server restarts during the run"
RF_PID=$REDIS_PID
wait "$runner"
check_eq "during a run: all 60 logins finished" 60 "$(wc -l <"$run_log")"
check_eq "during a run: every good password got 0" "" "$(awk '$1 != 0' "$run_log" | head -3)"
check_eq "during a run: every call within ${BUDGET_MS} ms" "" "$(awk -v b=$BUDGET_MS '$2 >= b' "$run_log" | head -3)"
check_eq "during a run: fd 2 always silent" "" "$(awk '$3 != 0' "$run_log" | head -3)"
check "during a run: store failures were met and logged" test "$(log_count rf-open fail-open)" -gt "$((before + 3))"
max=$(sort -n -k2 "$run_log" | tail -1 | cut -d' ' -f2)
echo "# slowest call during the run: ${max} ms"

# --- Accept queue full (TCP): connect itself hangs; the connect timeout ends it.
port=$(free_port)
start_redis rf-tcp --port "$port" --bind 127.0.0.1 --tcp-backlog 1 || not_ok "own redis-server on TCP starts"
TCP_PID=$REDIS_PID
TCPC=$(new_control rf-tcp <<EOF
redis = 127.0.0.1:$port
EOF
)
logins "Redis over TCP" "$TCPC" secret 0 1
check_eq "Redis over TCP: counted" 1 "$(redis-cli -p "$port" hlen 't-rf-tcp:{user@example.com}')"
kill -STOP "$TCP_PID"
fillers=()
for i in 1 2 3 4; do # hold the accept queue full
    timeout 8 bash -c "exec 7<>/dev/tcp/127.0.0.1/$port && sleep 8" 2>/dev/null &
    fillers+=($!)
done
on_exit "kill ${fillers[*]}"
sleep 0.5
logins "Redis accept queue full: connect timeout, fail-open" "$TCPC" secret 0 2
check "accept queue full: logged as a connect failure" \
    grep -q 'store unavailable, fail-open.*note="redis 127.0.0.1:'"$port"': cannot connect' "$AG_TMP/control-rf-tcp/authguard.log"
kill "${fillers[@]}" 2>/dev/null
kill -CONT "$TCP_PID"

# --- A Redis that wants a password.
start_redis rf-auth --requirepass 'correct-horse-redis' || not_ok "own redis-server with a password starts"
AUTH_OK=$(new_control rf-auth-ok <<EOF
redis = unix:$AG_TMP/rf-auth.sock
redis-password = correct-horse-redis
EOF
)
AUTH_BAD=$(new_control rf-auth-bad <<EOF
redis = unix:$AG_TMP/rf-auth.sock
redis-password = wrong-horse-redis
EOF
)
logins "Redis password right" "$AUTH_OK" secret 0 1
check_eq "Redis password right: counted" 1 \
    "$(redis-cli -s "$AG_TMP/rf-auth.sock" -a correct-horse-redis --no-auth-warning hlen 't-rf-auth-ok:{user@example.com}')"
logins "Redis password wrong: fail-open" "$AUTH_BAD" secret 0 1
check "Redis password wrong: logged" grep -q 'store unavailable, fail-open.*AUTH' "$AG_TMP/control-rf-auth-bad/authguard.log"
check_eq "Redis passwords never logged" 0 "$(cat "$AG_TMP"/control-rf-auth-*/authguard.log | grep -c horse-redis)"
