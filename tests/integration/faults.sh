#!/bin/bash
# faults.sh - the fault matrix of issue 13, every row but the LMDB store's
# (those are in faults-lmdb.sh): Redis stopped, hung, killed in the middle of
# a call, full (maxmemory + noeviction), restarted empty, or wanting another
# password; authguard-queue killed by SIGKILL while the next queue program
# is at work; the next queue program crashing or exiting 71 or 81; file
# descriptors exhausted (ulimit -n); the clock going back an hour.
#
# Each row is one SMTP session as qmail-smtpd runs it
# (tests/standins/qmail-smtpd-queue-driver): AUTH through the checkpassword
# chain authguard-checkpw + vchkpw stand-in, then one message through
# authguard-queue to the qmail-queue stand-in (the "final queue"); where it
# matters, authguard-spp's [auth] and [mail] too. Each row checks, as
# observed at run time:
#   - what the client sees: AUTH's reply (checkpw exit 0 -> 235, any other
#     -> 535, a crash -> 454; shared doc section 2), DATA's reply (the
#     driver's mapping of authguard-queue's exit, section 1), spp's output;
#   - what is logged: the new lines of the control's log file (excerpt);
#   - that nothing was lost: the message reached the final queue, or the
#     client got a 4xx and keeps it; a good login was let in (fail-open);
#   - and that no hook run took 2 s or more (every wait is bounded).
# Each row also appends one line,
#   fault-row<TAB>FAULT<TAB>redis<TAB>CLIENT SEES<TAB>LOGGED<TAB>NOTHING LOST
# to ${AG_FAULT_ROWS:-$AG_TMP/fault-rows.tsv}, from which tools/fault-table
# writes doc/reliability.md. Uses its own redis-server instances.
source "${AG_ROOT:?run through tests/run-all}/tests/lib.sh" || exit 1
trap_cleanup

W=$AG_TMP/faults
mkdir -p "$W"
on_exit "rm -rf '$W'"
DRIVER=$AG_ROOT/tests/standins/qmail-smtpd-queue-driver
GUARD=$AG_BUILD/authguard-queue
QQ=$AG_BUILD/qmail-queue-standin
CTL=$AG_BUILD/authguardctl
BOUND_MS=2000 # no hook run may take this long
SOCK=$AG_TMP/faults.sock
printf 'Subject: fault row\nFrom: a@example.com\n\nthe message\n' >"$W/message"
: >"$W/stderr"

start_redis faults || { not_ok "own redis-server starts"; exit 1; }
RPID=$REDIS_PID
fr() { redis-cli -s "$SOCK" "$@"; }

# The checkpassword chain, timed: `bash -c` is what authguard's session
# binding looks through (as it does for qpsmtpd's sh -c), so the binding is
# still the driver's, as it would be qmail-smtpd's.
cat >"$W/timed-checkpw" <<EOF
#!/bin/bash
exec /bin/bash -c 't0=\$(date +%s%3N); "\$0" "\$@"; rc=\$?; echo \$((\$(date +%s%3N) - t0)) >"$W/auth-ms"; exit \$rc' \
    "\${AG_FAULT_CHECKPW:-$AG_BUILD/authguard-checkpw}" "$AG_BUILD/vchkpw-standin" /bin/true
EOF
chmod +x "$W/timed-checkpw"

# control NAME [key = value lines on stdin]: a control dir on our Redis;
# NAME-tf is the same with on-store-failure = tempfail.
control() {
    local name=$1 c extra
    extra=$(cat)
    c=$(new_control "faults-$name" <<EOF
redis = unix:$SOCK
next-queue = $QQ
$extra
EOF
)
    c=$(new_control "faults-$name-tf" <<EOF
redis = unix:$SOCK
next-queue = $QQ
on-store-failure = tempfail
$extra
EOF
)
    echo "$AG_TMP/control-faults-$name"
}

# session CONTROL USER [driver options]: one SMTP session: AUTH as USER with
# the right password, then one message to the final queue stand-in in a
# fresh directory, through $PROGRAM (default authguard-queue). Sets AUTH_RC,
# AUTH_MS, Q_EXIT, Q_REPLY (without the qp stamp), Q_MS, QDIR.
n_session=0
session() {
    local control=$1 user=$2 out
    shift 2
    n_session=$((n_session + 1))
    QDIR=$W/q.$n_session
    mkdir -p "$QDIR"
    rm -f "$W/auth-ms"
    out=$(timeout 60 env -i PATH=/usr/bin:/bin AUTHGUARD_CONTROL="$control" AG_QQ_DIR="$QDIR" \
        TCPREMOTEIP="${IP:-192.0.2.10}" TCPLOCALPORT=587 AG_STANDIN_PASSWORD=secret \
        ${NOW:+AUTHGUARD_NOW=$NOW} "${ENVS[@]}" \
        "$DRIVER" --cwd "$W" --timeout 20 --auth "$user:secret" --checkpw "$W/timed-checkpw" \
        --message "$W/message" --from "$user" --to r@example.org "$@" "${PROGRAM:-$GUARD}" \
        2>>"$W/stderr")
    AUTH_RC=$(sed -n 's/^auth //p' <<<"$out")
    AUTH_MS=$(cat "$W/auth-ms" 2>/dev/null || echo 0)
    Q_EXIT=$(sed -n 's/^exit //p' <<<"$out")
    Q_REPLY=$(sed -n 's/^reply //p' <<<"$out" | sed -E 's/^250 ok .*/250 ok/')
    Q_MS=$(sed -n 's/^seconds //p' <<<"$out" | awk '{ printf "%d", $1 * 1000 }')
    [ -n "$Q_MS" ] || Q_MS=99999
}
ENVS=()
queued() { find "$QDIR" -maxdepth 1 -name '*.msg' | wc -l; }

# auth_reply RC: what qmail-smtpd's AUTH patch answers (shared doc, section 2).
auth_reply() {
    case $1 in
    0) echo 235 ;;
    -*) echo "454 (crashed)" ;;
    "") echo "none" ;;
    *) echo 535 ;;
    esac
}

# spp SECTION CONTROL USER: authguard-spp as qmail-spp runs it (fd 0 closed,
# stdout read as commands). Sets SPP_OUT, SPP_RC, SPP_MS.
spp() {
    local t0
    t0=$(ms_now)
    SPP_OUT=$(env -i PATH=/usr/bin:/bin AUTHGUARD_CONTROL="$2" PROTO=TCP TCPREMOTEIP=192.0.2.10 \
        TCPLOCALPORT=587 SMTPAUTHUSER="$3" SMTPAUTHMETHOD=login SMTPMAILFROM="$3" \
        timeout 20 "$AG_BUILD/authguard-spp-$1" 0<&- 2>>"$W/stderr")
    SPP_RC=$?
    SPP_MS=$(($(ms_now) - t0))
}
# spp_both CONTROL USER: [auth] then [mail]; SPP_SEEN says what qmail-spp got.
spp_both() {
    local a m slow=
    spp auth "$1" "$2"; a="${SPP_OUT:-nothing}/$SPP_RC"
    [ "$SPP_MS" -lt "$BOUND_MS" ] || slow=" slow"
    spp mail "$1" "$2"; m="${SPP_OUT:-nothing}/$SPP_RC"
    [ "$SPP_MS" -lt "$BOUND_MS" ] || slow=" slow"
    SPP_SEEN="[auth] ${a%/0} [mail] ${m%/0}$slow"
}

# mark CONTROL: remember where its log ends. logged CONTROL: what the lines
# written since say, short: per line the verdict ("... queue" for
# authguard-queue's) and its reason, then " - " and the distinct error texts
# (notes), with what changes between runs (paths, numbers) taken out.
# raw_logged CONTROL PATTERN: a new line matches.
declare -A LOG_AT
mark() { LOG_AT[$1]=$({ wc -l <"$1/authguard.log"; } 2>/dev/null || echo 0); }
new_lines() { tail -n +$((${LOG_AT[$1]:-0} + 1)) "$1/authguard.log" 2>/dev/null; }
raw_logged() { new_lines "$1" | grep -q -- "$2"; }
logged() {
    new_lines "$1" | cut -d' ' -f2- | sed -E "s|$AG_TMP/[^ :\"]*|DIR|g; s|$AG_BUILD/||g" | awk '
        function short(t) {
            sub(/redis unix:DIR: /, "", t)
            sub(/OOM command not allowed.*/, "OOM", t)
            sub(/WRONGPASS .*/, "WRONGPASS", t)
            sub(/Resource temporarily unavailable/, "timed out", t)
            sub(/the next queue program [^ ]* /, "next queue ", t)
            sub(/ \(451 [^)]*\): the message was not queued/, ", not queued", t)
            gsub(/[0-9][0-9][0-9][0-9][0-9][0-9]+/, "N", t)
            return t
        }
        function add(list, t) {
            if (t == "" || index(";" list ";", ";" t ";")) return list
            return list == "" ? t : list ";" t
        }
        {
            item = $1; err = ""
            if ($2 ~ /^queue/) item = item " queue"
            if ($1 == "queue:" || $1 == "spp:") {
                item = $0
                if (sub(/^[a-z]+: cannot look up the session, [^:]*: /, "", item)) {
                    err = item; item = $1 " session unknown"
                }
            } else if ($1 !~ /^(allow|alert|lock|refuse-locked|tempfail|reject|not-counted)$/) {
                item = $0
            } else {
                if (match($0, / reason="[^"]*"/)) item = item " (" substr($0, RSTART + 9, RLENGTH - 10) ")"
                if (match($0, / note="[^"]*"/)) err = substr($0, RSTART + 7, RLENGTH - 8)
            }
            items = add(items, short(item)); errs = add(errs, short(err))
        }
        END {
            gsub(/;/, "; ", items); gsub(/;/, ", ", errs)
            print items (errs == "" ? "" : " - " errs)
        }'
}
row() { fault_row redis "$@"; }
# fate REPLY QUEUED: where the message is, as observed.
fate() {
    case "${1:0:1}:$2" in
    2:1) echo "message in the final queue" ;;
    4:0) echo "${1:0:3}: the client keeps the message" ;;
    4:1) echo "${1:0:3} and queued: the client's retry is a duplicate" ;;
    *) echo "reply ${1:0:3}, $2 queued: LOST" ;;
    esac
}
not_lost() { [[ $1 != *LOST* ]]; }
# judged CONTROL USER: whether authguard-queue judged (and counted) the
# message as USER's since the mark, as its log says.
judged() {
    if raw_logged "$1" " queue sender=$2 "; then echo "message judged as $2's"
    else echo "message not judged (sender unknown)"; fi
}

# bounded NAME: the last session's hooks each returned within the bound.
bounded() {
    check "$1: no hook waits unbounded (AUTH ${AUTH_MS} ms, queue ${Q_MS} ms < $BOUND_MS)" \
        test "$AUTH_MS" -lt "$BOUND_MS" -a "$Q_MS" -lt "$BOUND_MS"
}

# store_row FAULT CONTROL: the whole row for a store fault: a session with
# on-store-failure = allow (default) and one with tempfail, and spp.
store_row() {
    local fault=$1 c=$2 a q fa fq lost lost_tf log
    mark "$c"
    mark "$c-tf"
    session "$c" good@example.com
    a=$AUTH_RC q=$Q_REPLY
    check_eq "$fault: a good login is not refused (fail-open)" 235 "$(auth_reply "$AUTH_RC")"
    lost=$(fate "$Q_REPLY" "$(queued)")
    check_eq "$fault: the message is not lost (fail-open: final queue)" "message in the final queue" "$lost"
    bounded "$fault"
    session "$c-tf" good@example.com
    fa=$AUTH_RC fq=$Q_REPLY
    lost_tf=$(fate "$Q_REPLY" "$(queued)")
    check "$fault, on-store-failure = tempfail: the message is not lost ($lost_tf)" not_lost "$lost_tf"
    check_eq "$fault, on-store-failure = tempfail: DATA gets 451" 451 "${Q_REPLY:0:3}"
    bounded "$fault, on-store-failure = tempfail"
    spp_both "$c" good@example.com
    check_eq "$fault: authguard-spp prints nothing, exits 0, in time" "[auth] nothing [mail] nothing" "$SPP_SEEN"
    log=$(logged "$c")
    check "$fault: the store failure is logged ($log)" raw_logged "$c" 'store unavailable\|cannot look up'
    row "$fault" "AUTH $(auth_reply "$a"), DATA ${q:0:3}; spp nothing; tempfail: AUTH $(auth_reply "$fa"), DATA ${fq:0:3}" \
        "$log" "login let in; $lost; tempfail: $lost_tf"
}

# ============================================================ Redis rows
C=$(control redis </dev/null)

# --- baseline: everything up.
mark "$C"
session "$C" good@example.com
check_eq "Redis up: baseline AUTH 235, DATA 250, queued" "235 250 ok 1" \
    "$(auth_reply "$AUTH_RC") $Q_REPLY $(queued)"

# --- stopped: killed (the socket file stays: connection refused) ...
kill_wait KILL "$RPID"
store_row "Redis killed (SIGKILL, socket file left)" "$C"
# ... and gone (no socket file).
rm -f "$SOCK"
store_row "Redis stopped, socket gone" "$C"

# --- hung: SIGSTOP, the kernel still accepts connections, nothing answers.
start_redis faults || not_ok "own redis-server restarts"
RPID=$REDIS_PID
kill -STOP "$RPID"
store_row "Redis hung (SIGSTOP)" "$C"
kill -CONT "$RPID"

# --- killed in the middle of a call: the session logs in with Redis up,
# then Redis is stopped, and killed while authguard-queue's call waits for
# its answer (command-timeout-ms raised so the kill lands inside it).
CM=$(control midcall <<EOF
command-timeout-ms = 1500
EOF
)
mark "$CM"
session "$CM" good@example.com --between "kill -STOP $RPID; (sleep 0.4; kill -KILL $RPID) >/dev/null 2>&1 &"
lost=$(fate "$Q_REPLY" "$(queued)")
log=$(logged "$CM")
check_eq "Redis killed mid-call: the login went in before" 235 "$(auth_reply "$AUTH_RC")"
check_eq "Redis killed mid-call: the message is not lost" "message in the final queue" "$lost"
check "Redis killed mid-call: the queue's call ended with the kill, not the timeout (${Q_MS} ms < 1500)" \
    test "$Q_MS" -lt 1500
check "Redis killed mid-call: logged as a store failure ($log)" raw_logged "$CM" 'store unavailable\|cannot look up'
bounded "Redis killed mid-call"
row "Redis killed (SIGKILL) while a queue run's call is in flight" \
    "AUTH $(auth_reply "$AUTH_RC") (before), DATA ${Q_REPLY:0:3}" "$log" "login let in; $lost"
kill_wait KILL "$RPID"

# --- full: maxmemory reached with noeviction; writes get OOM errors.
start_redis faults || not_ok "own redis-server restarts"
RPID=$REDIS_PID
CF=$(control full </dev/null)
AUTHGUARD_CONTROL=$CF "$CTL" lock locked@example.com --reason "fault matrix" >/dev/null
fr debug populate 20000 filler 100 >/dev/null
fr config set maxmemory-policy noeviction >/dev/null
full() { redis-cli -s "$SOCK" config set maxmemory "$1" >/dev/null; }
full 1
check "Redis full: writes are refused (OOM)" bash -c "redis-cli -s '$SOCK' set probe 1 | grep -q OOM"
mark "$CF"
session "$CF" good@example.com
auth_full=$(auth_reply "$AUTH_RC") data_full=${Q_REPLY:0:3} judged_full=$(judged "$CF" good@example.com)
check_eq "Redis full: a good login is not refused" 235 "$auth_full"
lost=$(fate "$Q_REPLY" "$(queued)")
check_eq "Redis full: the message is not lost" "message in the final queue" "$lost"
bounded "Redis full"
session "$CF" locked@example.com
auth_locked=$(auth_reply "$AUTH_RC")
check_eq "Redis full: a locked account is still refused at AUTH (its lock is read, not written)" 535 \
    "$auth_locked"
spp_both "$CF" good@example.com
check_eq "Redis full: authguard-spp prints nothing, exits 0, in time" "[auth] nothing [mail] nothing" "$SPP_SEEN"
log=$(logged "$CF")
check "Redis full: logged as not recorded ($log)" raw_logged "$CF" "not recorded: .*OOM"
row "Redis at maxmemory, noeviction (AUTH in it)" "AUTH $auth_full (locked account: $auth_locked), DATA $data_full; spp nothing" \
    "$log" "login let in; $lost; $judged_full"
# Full between AUTH (the session is bound) and DATA: the message cannot be
# counted; fail-open or, with on-store-failure = tempfail, 451.
full 0
mark "$CF"
session "$CF" good@example.com --between "redis-cli -s $SOCK config set maxmemory 1 >/dev/null"
data_full=${Q_REPLY:0:3} lost=$(fate "$Q_REPLY" "$(queued)")
check_eq "Redis full at DATA: the message is not lost (fail-open)" "message in the final queue" "$lost"
bounded "Redis full at DATA"
log=$(logged "$CF")
check "Redis full at DATA: logged as a store failure ($log)" raw_logged "$CF" "store unavailable.*OOM"
full 0
session "$CF-tf" good@example.com --between "redis-cli -s $SOCK config set maxmemory 1 >/dev/null"
data_tf=${Q_REPLY:0:3} lost_tf=$(fate "$Q_REPLY" "$(queued)")
check_eq "Redis full at DATA, on-store-failure = tempfail: 451, the client keeps the message" \
    "451: the client keeps the message" "$lost_tf"
row "Redis at maxmemory, noeviction (between AUTH and DATA)" "AUTH 235 (before), DATA $data_full; tempfail: DATA $data_tf" \
    "$log" "$lost; tempfail: $lost_tf"
fr config set maxmemory 0 >/dev/null

# --- restarted empty: what was locked and bound is gone.
CE=$(control empty </dev/null)
AUTHGUARD_CONTROL=$CE "$CTL" lock locked@example.com --reason "fault matrix" >/dev/null
mark "$CE"
# The session logs in, then Redis loses everything (FLUSHALL, as a restart
# without persistence does) before the message.
session "$CE" good@example.com --between "redis-cli -s $SOCK flushall >/dev/null"
lost=$(fate "$Q_REPLY" "$(queued)")
check_eq "Redis emptied mid-session: the message is not lost" "message in the final queue" "$lost"
bounded "Redis emptied mid-session"
log=$(logged "$CE")
row "Redis emptied (FLUSHALL) between AUTH and DATA" "AUTH $(auth_reply "$AUTH_RC"), DATA ${Q_REPLY:0:3}" \
    "${log:-nothing}" "login let in; $lost; $(judged "$CE" good@example.com)"
# A real restart without data: the locked account.
AUTHGUARD_CONTROL=$CE "$CTL" lock locked@example.com --reason "fault matrix" >/dev/null
session "$CE" locked@example.com
check_eq "Redis up: a locked account gets 535" 535 "$(auth_reply "$AUTH_RC")"
kill_wait KILL "$RPID"
start_redis faults || not_ok "own redis-server restarts"
RPID=$REDIS_PID
mark "$CE"
session "$CE" locked@example.com
lost=$(fate "$Q_REPLY" "$(queued)")
log=$(logged "$CE")
check_eq "Redis restarted empty: the message is not lost" "message in the final queue" "$lost"
was_locked=$(fr exists "t-faults-empty:{locked@example.com}:lock")
check_eq "Redis restarted empty: the lock is gone with the data" 0 "$was_locked"
check "Redis restarted empty: the locked account's login is judged afresh and logged ($log)" \
    grep -q '^allow\|^alert\|^lock' <<<"$log"
row "Redis restarted empty: a locked account" "AUTH $(auth_reply "$AUTH_RC"), DATA ${Q_REPLY:0:3}" \
    "$log" "$lost; lock key after restart: $([ "$was_locked" = 1 ] && echo kept || echo gone)"

# --- a wrong password for Redis.
start_redis faults-auth --requirepass 'right-redis-pass' || not_ok "own redis-server with a password starts"
CP_=$(control password <<EOF
redis = unix:$AG_TMP/faults-auth.sock
redis-password = wrong-redis-pass
EOF
)
store_row "Redis wants another password (requirepass)" "$CP_"
check_eq "Redis password: never logged" 0 "$(cat "$CP_/authguard.log" "$CP_-tf/authguard.log" | grep -c redis-pass)"

# ============================================================ queue rows
# Redis up from here.
CQ=$(control queue </dev/null)

# --- authguard-queue killed by SIGKILL while the next queue program writes
# the message: the next program is a slow stand-in that says who its parent
# (authguard-queue) is, the test kills that parent.
cat >"$W/slow-queue" <<EOF
#!/bin/sh
echo \$\$ >"$W/next.pid"
echo \$PPID >"$W/guard.pid"
sleep 1
exec "$QQ"
EOF
chmod +x "$W/slow-queue"
mark "$CQ"
rm -f "$W/guard.pid"
OUT_FILE=$W/killed.out
ENVS=(AUTHGUARD_QUEUE=$W/slow-queue)
(
    session "$CQ" good@example.com
    echo "$AUTH_RC|$Q_REPLY|$QDIR|$Q_MS" >"$OUT_FILE"
) &
s=$!
pid=
for i in $(seq 100); do [ -s "$W/guard.pid" ] && pid=$(cat "$W/guard.pid") && break; sleep 0.05; done
check "queue killed: the slow next queue program started (authguard-queue pid known)" test -n "$pid"
[ -n "$pid" ] && kill -KILL "$pid"
wait "$s"
ENVS=()
n_session=$((n_session + 1)) # the subshell's session took that number
IFS='|' read -r AUTH_RC Q_REPLY QDIR Q_MS <"$OUT_FILE"
# The orphaned next queue program goes on; wait (bounded) until it is done.
next_pid=$(cat "$W/next.pid" 2>/dev/null)
for i in $(seq 50); do [ -n "$next_pid" ] && kill -0 "$next_pid" 2>/dev/null || break; sleep 0.1; done
lost=$(fate "$Q_REPLY" "$(queued)")
log=$(logged "$CQ")
check_eq "queue killed by SIGKILL: the client sees qmail-smtpd's answer for a crashed queue program" \
    "451 qq crashed (#4.3.0)" "$Q_REPLY"
check "queue killed by SIGKILL: the message is not lost ($lost)" not_lost "$lost"
check_eq "queue killed by SIGKILL: the final queue has no half-written message" "" \
    "$(find "$QDIR" -name '.tmp-*')"
row "authguard-queue killed (SIGKILL) while the next queue program writes" \
    "AUTH $(auth_reply "$AUTH_RC"), DATA $Q_REPLY" "${log:-nothing (killed)}" "$lost"

# --- killed in its store call, before any next queue program runs: Redis
# is stopped after AUTH, so the check of the sender (trusted SMTPAUTHUSER
# here) waits for its answer when the SIGKILL comes.
CK=$(control killed-early <<EOF
command-timeout-ms = 1500
trust-auth-env = yes
EOF
)
printf '#!/bin/sh\necho $$ >"%s"\nexec "%s"\n' "$W/guard.pid" "$GUARD" >"$W/pid-queue"
chmod +x "$W/pid-queue"
mark "$CK"
rm -f "$W/guard.pid"
ENVS=(SMTPAUTHUSER=good@example.com)
(
    PROGRAM=$W/pid-queue session "$CK" good@example.com --between "kill -STOP $RPID"
    echo "$AUTH_RC|$Q_REPLY|$QDIR|$Q_MS" >"$OUT_FILE"
) &
s=$!
pid=
for i in $(seq 100); do [ -s "$W/guard.pid" ] && pid=$(cat "$W/guard.pid") && break; sleep 0.05; done
sleep 0.3
[ -n "$pid" ] && kill -KILL "$pid"
wait "$s"
kill -CONT "$RPID"
ENVS=()
n_session=$((n_session + 1))
IFS='|' read -r AUTH_RC Q_REPLY QDIR Q_MS <"$OUT_FILE"
lost=$(fate "$Q_REPLY" "$(queued)")
log=$(logged "$CK")
check_eq "queue killed in its store call: 451 qq crashed" "451 qq crashed (#4.3.0)" "$Q_REPLY"
check_eq "queue killed in its store call: nothing queued, the client keeps the message" \
    "451: the client keeps the message" "$lost"
check_eq "queue killed in its store call: nothing left in the final queue" "" "$(find "$QDIR" -mindepth 1)"
row "authguard-queue killed (SIGKILL) in its store call, before the next queue runs" \
    "AUTH $(auth_reply "$AUTH_RC"), DATA $Q_REPLY" "${log:-nothing}" "$lost"

# --- the next queue program crashing, or exiting 71 or 81.
cat >"$W/segv-queue" <<'EOF'
#!/bin/sh
cat >/dev/null
kill -SEGV $$
EOF
cat >"$W/abort-queue" <<'EOF'
#!/bin/sh
cat >/dev/null
kill -ABRT $$
EOF
chmod +x "$W/segv-queue" "$W/abort-queue"
next_row() {
    local fault=$1 lost log
    shift
    ENVS=("$@")
    mark "$CQ"
    session "$CQ" good@example.com
    ENVS=()
    lost=$(fate "$Q_REPLY" "$(queued)")
    log=$(logged "$CQ")
    check "$fault: the client gets a 4xx and keeps the message ($lost)" \
        test "${Q_REPLY:0:1}:$(queued)" = "4:0"
    check "$fault: logged as not queued ($log)" grep -q 'not queued' <<<"$log"
    bounded "$fault"
    row "$fault" "AUTH $(auth_reply "$AUTH_RC"), DATA $Q_REPLY" "$log" "$lost"
}
next_row "next queue program crashes (SIGSEGV)" "AUTHGUARD_QUEUE=$W/segv-queue"
next_row "next queue program aborts (SIGABRT)" "AUTHGUARD_QUEUE=$W/abort-queue"
next_row "next queue program exits 71" AG_QQ_EXIT=71
next_row "next queue program exits 81" AG_QQ_EXIT=81

# ============================================================ file descriptors
# ulimit -n N set before each hook runs (the driver and spp are not limited).
fd_row() {
    local n=$1 lost log a
    printf '#!/bin/bash\nulimit -n %s\nexec "%s" "$@"\n' "$n" "$AG_BUILD/authguard-checkpw" >"$W/limited-checkpw"
    printf '#!/bin/bash\nulimit -n %s\nexec "%s"\n' "$n" "$GUARD" >"$W/limited-queue"
    chmod +x "$W/limited-checkpw" "$W/limited-queue"
    mark "$CQ"
    ENVS=(AG_FAULT_CHECKPW=$W/limited-checkpw)
    PROGRAM=$W/limited-queue session "$CQ" good@example.com
    ENVS=()
    a=$(auth_reply "$AUTH_RC")
    lost=$(fate "$Q_REPLY" "$(queued)")
    log=$(logged "$CQ")
    SPP_SEEN=
    local ss
    for ss in auth mail; do
        printf '#!/bin/bash\nulimit -n %s\nexec "%s"\n' "$n" "$AG_BUILD/authguard-spp-$ss" >"$W/limited-spp-$ss"
        chmod +x "$W/limited-spp-$ss"
        SPP_OUT=$(env -i PATH=/usr/bin:/bin AUTHGUARD_CONTROL="$CQ" TCPREMOTEIP=192.0.2.10 TCPLOCALPORT=587 \
            SMTPAUTHUSER=good@example.com SMTPAUTHMETHOD=login "$W/limited-spp-$ss" 0<&- 2>>"$W/stderr")
        SPP_SEEN+="[$ss] ${SPP_OUT:-nothing}/$? "
    done
    SPP_SEEN=${SPP_SEEN//\/0 / }
    FD_A=$a FD_LOST=$lost FD_LOG=$log
    check "ulimit -n $n: the message is not lost ($lost)" not_lost "$lost"
    check_eq "ulimit -n $n: authguard-spp prints nothing, exits 0" "[auth] nothing [mail] nothing " "$SPP_SEEN"
    bounded "ulimit -n $n"
    row "file descriptors exhausted (ulimit -n $n before each hook)" \
        "AUTH $a, DATA $Q_REPLY; spp ${SPP_SEEN% }" "${log:-nothing}" \
        "$([ "$a" = 235 ] && echo "login let in" || echo "good login refused ($a)"); $lost"
}
fd_row 8
check_eq "ulimit -n 8: a good login is not refused (authguard's own pipes must fit)" 235 "$FD_A"
check_eq "ulimit -n 8: the message reaches the final queue" "message in the final queue" "$FD_LOST"
fd_row 6
fd_row 5
check "ulimit -n 5: the refusal is logged, not silent ($FD_LOG)" test -n "$FD_LOG"

# ============================================================ clock
# The clock jumps back an hour between two sessions (AUTHGUARD_NOW: the
# hooks' clock; with the default clock = Redis TIME a host's own clock does
# not count at all). Sending limits and the lock must not be fooled.
CT=$(control clock <<EOF
max-messages-short = 3
EOF
)
T=1700000000
mark "$CT"
NOW=$T session "$CT" clock@example.com
NOW=$T session "$CT" clock@example.com
NOW=$((T - 3600)) session "$CT" clock@example.com
back_auth=$AUTH_RC back_reply=$Q_REPLY back_queued=$(queued)
NOW=$((T - 3600)) session "$CT" clock@example.com
fourth=$Q_REPLY
log=$(logged "$CT")
check_eq "clock back 1 h: a good login still goes in" 235 "$(auth_reply "$back_auth")"
check_eq "clock back 1 h: the message within the limit is queued" "250 ok 1" "$back_reply $back_queued"
check_eq "clock back 1 h: the messages sent 'in the future' still count (4th of max 3: 451)" 451 "${fourth:0:3}"
AUTHGUARD_NOW=$T AUTHGUARD_CONTROL=$CT "$CTL" lock clock@example.com --reason "fault matrix" >/dev/null
NOW=$((T - 3600)) session "$CT" clock@example.com
locked_back=$(auth_reply "$AUTH_RC")
check_eq "clock back 1 h: a lock taken 'later' still holds" 535 "$locked_back"
bounded "clock back 1 h"
row "clock back one hour between sessions" \
    "AUTH $(auth_reply "$back_auth"), DATA ${back_reply:0:3}; 4th message of 3/h: ${fourth:0:3}; locked: AUTH $locked_back" \
    "$log" "$([ "$(auth_reply "$back_auth")" = 235 ] && echo "login let in" || echo "good login refused"); $(fate "$back_reply" "$back_queued"); 4th: $(fate "$fourth" 0)"

if [ -s "$W/stderr" ]; then
    not_ok "nothing on stderr (fd 2 is the SMTP connection or qmail-smtpd's log): $(head -c 300 "$W/stderr")"
else
    ok "nothing on stderr (fd 2 is the SMTP connection or qmail-smtpd's log)"
fi
