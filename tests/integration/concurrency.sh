#!/bin/bash
# concurrency.sh - 200 authguard-checkpw processes for one user, released at
# the same instant against the suite's real Redis, are counted exactly: one
# Redis script per event, so no update is lost between a read and a write.
# The addresses lie in ONE /16, so nothing locks (alerts still allow).
source "${AG_ROOT:?run through tests/run-all}/tests/lib.sh" || exit 1
trap_cleanup

W=$AG_TMP/concurrency
mkdir -p "$W"
N=200
# Generous timeouts: this checks counting, not latency, on a 2-core machine
# running 200 processes at once.
C=$(new_control conc <<'EOF'
max-entries = 1000
connect-timeout-ms = 5000
command-timeout-ms = 5000
EOF
)

# burst NAME CONTROL USER PASSWORD_FOR(i) N: starts N logins from 10.99.x.y,
# each blocked on reading fd 3 until the gate opens, then opens it.
burst() {
    local name=$1 control=$2 user=$3 n=$5 i pass pids=()
    local gate=$W/$name.gate
    rm -f "$gate"
    mkfifo "$gate"
    mkdir -p "$W/$name"
    for ((i = 1; i <= n; i++)); do
        pass=$($4 "$i")
        (
            env -i PATH=/usr/bin:/bin AUTHGUARD_CONTROL="$control" TCPLOCALPORT=587 \
                AG_STANDIN_PASSWORD=secret TCPREMOTEIP=10.99.$((i / 100)).$((i % 100 + 1)) \
                timeout 60 "$CP" "$STANDIN" /bin/true \
                3< <({ : >"$W/$name/$i.in"; cat >/dev/null; } <"$gate"
                    printf '%s\0%s\0\0' "$user" "$pass") \
                >"$W/$name/$i.out" 2>&1
            echo $? >"$W/$name/$i.rc"
        ) &
        pids+=($!)
    done
    on_exit "kill ${pids[*]}"
    # Hold the gate's write end open until every fd 3 writer has opened the
    # read end, then close it: all see EOF and write their fd 3 at once.
    exec 9>"$gate"
    for _ in $(seq 600); do
        [ "$(find "$W/$name" -name '*.in' | wc -l)" -ge "$n" ] && break
        sleep 0.1
    done
    T_RELEASE=$(ms_now)
    exec 9>&-
    wait "${pids[@]}"
    T_DONE=$(ms_now)
}
always_good() { echo secret; }
odd_bad() { if (($1 % 2)); then echo wrong; else echo secret; fi; }

# Sum of the counts of one kind ("s" or "f") in the user's observation hash.
sum_counts() {
    redis hgetall "$1" | awk -v kind="$2" '
        NR % 2 == 1 { take = index($0, kind "|") == 1; next }
        take { split($0, a, " "); n += a[3] }
        END { print n + 0 }'
}
count_fields() { redis hkeys "$1" | grep -c "^$2|"; }
rcs() { cat "$W/$1"/*.rc | sort | uniq -c | awk '{printf "%s*%s ", $2, $1}'; }

burst many-good "$C" crowd@example.com always_good $N
echo "# $N concurrent logins took $((T_DONE - T_RELEASE)) ms after the gate opened"
check_eq "$N concurrent good logins: all exit 0" "0*$N " "$(rcs many-good)"
check_eq "$N concurrent good logins: nothing on fd 1 or fd 2" "" "$(cat "$W"/many-good/*.out | head -c 200)"
KEY='t-conc:{crowd@example.com}'
check_eq "$N concurrent good logins: sum of the counts is $N" $N "$(sum_counts "$KEY" s)"
check_eq "$N concurrent good logins: $N distinct addresses stored" $N "$(count_fields "$KEY" s)"
check_eq "$N concurrent good logins: no lock" 0 "$(redis exists "$KEY:lock")"
check_eq "$N concurrent good logins: one log line each" $N \
    "$(grep -c ' user=crowd@example.com .*outcome=success ' "$AG_TMP/control-conc/authguard.log")"
check_eq "$N concurrent good logins: every log line whole" 0 \
    "$(grep -v -c -E '^@[0-9a-f]{24} (allow|alert) user=crowd@example.com address=10\.99\.[0-9]+\.[0-9]+ service=submission outcome=success time=[0-9]+ .*replay_nets=[0-9]+' "$AG_TMP/control-conc/authguard.log")"

# The same again with every other password wrong: both kinds counted exactly.
burst mixed "$C" mixed@example.com odd_bad $N
KEY='t-conc:{mixed@example.com}'
check_eq "$N concurrent mixed logins: exit codes" "0*$((N / 2)) 3*$((N / 2)) " "$(rcs mixed)"
check_eq "$N concurrent mixed logins: successes counted exactly" $((N / 2)) "$(sum_counts "$KEY" s)"
check_eq "$N concurrent mixed logins: failures counted exactly" $((N / 2)) "$(sum_counts "$KEY" f)"

# With the default max-entries (100), the user's state stays bounded under
# the same burst, and what is not stored is counted as dropped.
B=$(new_control conc-bounded <<'EOF'
connect-timeout-ms = 5000
command-timeout-ms = 5000
EOF
)
burst bounded "$B" bounded@example.com always_good $N
KEY='t-conc-bounded:{bounded@example.com}'
check_eq "bounded: all $N logins still get in" "0*$N " "$(rcs bounded)"
check_eq "bounded: 100 addresses stored" 100 "$(count_fields "$KEY" s)"
check_eq "bounded: the other $((N - 100)) counted as dropped" $((N - 100)) "$(redis hget "$KEY" 'x|dropped')"
