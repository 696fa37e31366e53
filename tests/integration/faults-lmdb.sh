#!/bin/bash
# faults-lmdb.sh - the LMDB rows of the fault matrix (issue 13; the Redis,
# queue, fd and clock rows are in faults.sh). Each row puts the embedded
# store in one fault and drives, as qmail-smtpd does, authguard-checkpw (an
# AUTH) and authguard-queue (a message, through
# tests/standins/qmail-smtpd-queue-driver, in front of the qmail-queue
# stand-in), with on-store-failure = allow and = tempfail, and authguardctl.
# Each row checks three things, as observed: what the client sees (the SMTP
# reply: checkpw 0 -> 235, any other exit -> 535; the queue's exit -> its
# DATA reply), what is logged, and that nothing was lost (the message in the
# final queue, or a 4xx so that the client keeps it; a good login let in when
# failing open); and that no hook run takes twice lmdb-lock-timeout-ms (it
# would have waited for the lock twice). Each row also appends one line,
#   fault-row<TAB>FAULT<TAB>lmdb<TAB>CLIENT SEES<TAB>LOGGED<TAB>NOTHING LOST
# to ${AG_FAULT_ROWS:-$AG_TMP/fault-rows.tsv}, from which doc/reliability.md is
# generated. The rows that need mounts (full tmpfs, read-only remount) run in
# a private mount namespace (unshare -m), so nothing shows outside; without
# the privilege they print "ok - NAME # SKIP reason".
. "$AG_ROOT/tests/lib.sh"

# A private mount namespace: the tmpfs mounts below vanish with the script.
if [ -z "${AG_FAULTS_NS:-}" ] && [ "$(id -u)" = 0 ] &&
    unshare -m --propagation private true 2>/dev/null; then
    AG_FAULTS_NS=1 exec unshare -m --propagation private bash "$0" "$@"
fi
trap_cleanup

W=$AG_TMP/faults-lmdb
mkdir -p "$W"
on_exit "rm -rf '$W'"
DRIVER=$AG_ROOT/tests/standins/qmail-smtpd-queue-driver
GUARD=$AG_BUILD/authguard-queue
QQ=$AG_BUILD/qmail-queue-standin
CTL=$AG_BUILD/authguardctl
# lmdb-lock-timeout-ms of every row; no hook run may take twice as long: a
# hook that waited for writer.lock twice takes that at least. 1.5 s leaves
# a loaded machine 1.5 s to start the processes of one run (with 1 s and a
# bound of 2 s, one run of CI's took 2,015 ms).
LOCK_MS=1500
BOUND=$((2 * LOCK_MS))
printf 'Subject: fault row\nFrom: a@example.com\n\nthe message\n' >"$W/message"

CAN_MOUNT=
if [ -n "${AG_FAULTS_NS:-}" ] && mkdir -p "$W/probe" &&
    mount -t tmpfs -o size=64k authguard-probe "$W/probe" 2>/dev/null; then
    umount "$W/probe"
    CAN_MOUNT=yes
fi
skip() { echo "ok - $1 # SKIP $2"; }

# host NAME STORE-DIR [key = value lines on stdin]: W/NAME/control (allow) and
# W/NAME/control-tf (on-store-failure = tempfail), both on STORE-DIR, logging
# to W/NAME/authguard.log.
host() {
    local name=$1 store=$2 d
    mkdir -p "$W/$name/control" "$W/$name/control-tf"
    {
        echo "lmdb-path = $store"
        echo "log-file = $W/$name/authguard.log"
        echo "next-queue = $QQ"
        echo "trust-auth-env = yes"
        echo "lmdb-lock-timeout-ms = $LOCK_MS"
        [ -t 0 ] || cat
    } >"$W/$name/control/authguard"
    cp "$W/$name/control/authguard" "$W/$name/control-tf/authguard"
    echo "on-store-failure = tempfail" >>"$W/$name/control-tf/authguard"
    for d in control control-tf; do : >"$W/$name/$d/authguard-allow"; done
}

# login CONTROL USER IP: authguard-checkpw as qmail-smtpd runs it (fd 3, the
# vchkpw stand-in, password right). Sets LOGIN_RC (124: killed by timeout) and
# LOGIN_MS.
login() {
    local t0
    t0=$(ms_now)
    env -i PATH=/usr/bin:/bin AUTHGUARD_CONTROL="$1" TCPREMOTEIP="$3" TCPLOCALPORT=587 \
        AG_STANDIN_PASSWORD=secret timeout 10 "$AG_BUILD/authguard-checkpw" \
        "$AG_BUILD/vchkpw-standin" /bin/true 3< <(printf '%s\0secret\0Y123456\0' "$2") \
        >/dev/null 2>"$W/checkpw.err"
    LOGIN_RC=$?
    LOGIN_MS=$(($(ms_now) - t0))
}
# auth_reply RC: what qmail-smtpd answers AUTH (shared doc, section 2).
auth_reply() {
    case $1 in
    0) echo 235 ;;
    124) echo "none (hung)" ;;
    13[0-9] | 1[4-9][0-9]) echo "454 (crashed)" ;;
    *) echo 535 ;;
    esac
}

# message CONTROL USER QDIR: one message from USER (SMTPAUTHUSER, trusted)
# through authguard-queue. Sets MSG_EXIT, MSG_REPLY (the code), MSG_MS and
# MSG_QUEUED (messages in QDIR).
message() {
    local out
    mkdir -p "$3"
    out=$(env -i PATH=/usr/bin:/bin AUTHGUARD_CONTROL="$1" AG_QQ_DIR="$3" TCPREMOTEIP=192.0.2.10 \
        TCPLOCALPORT=587 "$DRIVER" --cwd "$W" --timeout 10 --queue-env "SMTPAUTHUSER=$2" \
        --message "$W/message" --from "$2" --to r@example.org "$GUARD" 2>>"$W/queue.err")
    MSG_EXIT=$(sed -n 's/^exit //p' <<<"$out")
    MSG_REPLY=$(sed -n 's/^reply \([0-9]*\).*/\1/p' <<<"$out")
    MSG_MS=$(sed -n 's/^seconds //p' <<<"$out" | awk '{ printf "%d", $1 * 1000 }')
    MSG_QUEUED=$(find "$3" -maxdepth 1 -name '*.msg' | wc -l)
}

# excerpt LOGFILE PATTERN: the reason and note of the last line matching,
# with what changes between runs (the test directory, numbers of bytes, pids)
# taken out.
excerpt() {
    grep -a -- "$2" "$1" 2>/dev/null | tail -1 | grep -o -E '^@[0-9a-f]+ [a-z-]+|(reason|note)="[^"]*"' |
        sed -E 's/^@[0-9a-f]+ //' |
        sed -E "s|$W/[^ :\"]*|DIR|g; s/[0-9]+ bytes free/N bytes free/g; s/ +/ /g" |
        sed -E 's/^reason="([^"]*)"/\1:/; s/^note="(lmdb DIR: )?([^"]*)"/\2/' | tr '\n\t' '  ' |
        sed -E 's/ +$//'
}

row() { fault_row lmdb "$@"; }

# lost AUTH-RC REPLY QUEUED TEMPFAIL-REPLY TEMPFAIL-QUEUED: the evidence that
# nothing was lost, as observed: fail-open login and message, tempfail reply.
lost() {
    local a m t
    if [ "$1" = 0 ]; then a="login let in"; else a="good login refused"; fi
    case "$2:$3" in
    250:1) m="message in the final queue" ;;
    4*:0) m="message refused $2, client keeps it" ;;
    *) m="reply $2, $3 queued: LOST?" ;;
    esac
    case "$4:$5" in
    4*:0) t="$4, client keeps it" ;;
    250:1) t="queued" ;;
    *) t="reply $4, $5 queued: LOST?" ;;
    esac
    echo "fail-open: $a, $m; tempfail: $t"
}

# fault NAME FAULT-TEXT HOST USER LOGGED-PATTERN: the checks and the row, with
# the fault in place. The store is expected to fail: fail-open lets the login
# in and queues the message, tempfail answers 535 and 451 (the client keeps
# the message), both logged with LOGGED-PATTERN (an ERE), all within BOUND.
fault() {
    local name=$1 text=$2 h=$3 user=$4 pattern=$5 ip=192.0.2.$((RANDOM % 200 + 1))
    local q=$W/$h/queue log=$W/$h/authguard.log before
    before=$(find "$q" -maxdepth 1 -name '*.msg' 2>/dev/null | wc -l)
    login "$W/$h/control" "$user" "$ip"
    local a_rc=$LOGIN_RC a_ms=$LOGIN_MS
    message "$W/$h/control" "$user" "$q"
    local m_exit=$MSG_EXIT m_reply=$MSG_REPLY m_ms=$MSG_MS m_queued=$MSG_QUEUED
    local logged_cp logged_q
    logged_cp=$(excerpt "$log" "user=$user ")
    logged_q=$(excerpt "$log" "sender=$user \|queue: cannot look up")
    login "$W/$h/control-tf" "$user" "$ip"
    local t_rc=$LOGIN_RC t_ms=$LOGIN_MS
    message "$W/$h/control-tf" "$user" "$q"
    local t_exit=$MSG_EXIT t_reply=$MSG_REPLY t_ms2=$MSG_MS t_queued=$MSG_QUEUED

    check_eq "$name: fail-open lets the good login in (AUTH 235)" 235 "$(auth_reply "$a_rc")"
    check_eq "$name: fail-open queues the message (250, one more in the final queue)" \
        "250 $((before + 1))" "$m_reply $m_queued"
    check_eq "$name: tempfail refuses the login: AUTH 535 (exit 111)" 111 "$t_rc"
    # The queue's write may still fit where checkpw's did not (map full):
    # then it is queued; else 451, queued nothing, and the client keeps it.
    if [ "$t_reply" = 250 ]; then
        check_eq "$name: tempfail: the queue's count still fits: queued (250)" \
            "0 $((before + 2))" "$t_exit $t_queued"
        check "$name: logged by the queue: an allow line" grep -q -E "allow queue sender=$user " "$log"
    else
        check_eq "$name: tempfail: DATA 451 (exit 71), nothing queued: the client keeps the message" \
            "71 451 $((before + 1))" "$t_exit $t_reply $t_queued"
    fi
    check "$name: logged by checkpw: $pattern" grep -q -E "user=$user .*$pattern" "$log"
    if [ "$m_reply $t_reply" = "250 250" ] && ! grep -q -E "sender=$user .*$pattern" "$log"; then
        check "$name: logged by the queue: its count, which still fits" \
            grep -q -E "allow queue sender=$user .*messages_short=[1-9]" "$log"
    else
        check "$name: logged by the queue (fail-open): $pattern" \
            grep -q -E "(sender=$user .*|cannot look up the session.*)$pattern" "$log"
    fi
    check "$name: no hook run waits twice lmdb-lock-timeout-ms ($a_ms $m_ms $t_ms $t_ms2 ms)" \
        test "$a_ms" -lt $BOUND -a "${m_ms:-99999}" -lt $BOUND -a "$t_ms" -lt $BOUND -a "${t_ms2:-99999}" -lt $BOUND
    check "$name: nothing on the SMTP connection (checkpw's fd 2)" test ! -s "$W/checkpw.err"
    row "$text" \
        "fail-open: AUTH $(auth_reply "$a_rc"), DATA $m_reply; tempfail: AUTH $(auth_reply "$t_rc"), DATA $t_reply" \
        "$logged_cp" \
        "$(lost "$a_rc" "$m_reply" "$((m_queued - before))" "$t_reply" "$((t_queued - m_queued))")"
}

# ctl_fails NAME HOST PATTERN ARGS...: authguardctl ARGS exits non-zero and
# says PATTERN on stderr, within BOUND. Sets CTL_SAYS (excerpted).
ctl_fails() {
    local name=$1 h=$2 pattern=$3 t0 rc ms
    shift 3
    t0=$(ms_now)
    timeout 10 "$CTL" --control "$W/$h/control" "$@" >/dev/null 2>"$W/ctl.err"
    rc=$?
    ms=$(($(ms_now) - t0))
    CTL_SAYS=$(head -1 "$W/ctl.err" | sed -E "s|$W/[^ :\"]*|DIR|g; s/[0-9]+ bytes free/N bytes free/g")
    check "$name: authguardctl $* fails (exit $rc, $ms ms) saying $pattern" \
        eval 'test "$rc" != 0 -a "$rc" != 124 -a "$ms" -lt $BOUND && grep -q -E "$pattern" "$W/ctl.err"'
}

# ------------------------------------------------------------ full disk
if [ -z "$CAN_MOUNT" ]; then
    skip "full disk: the hooks fail open with No space left on device" "needs root and a private mount namespace"
    skip "fresh store on a full disk: the hooks fail open" "needs root and a private mount namespace"
    skip "read-only remount: the hooks fail open with Read-only file system" "needs root and a private mount namespace"
else
    D=$W/disk
    mkdir -p "$D"
    mount -t tmpfs -o size=512k,mode=755 authguard-faults "$D" && on_exit "umount -l '$D'"
    host full "$D/store" </dev/null
    login "$W/full/control" seed 192.0.2.1
    check_eq "full disk: the store is made first" "0 yes" "$LOGIN_RC $(test -s "$D/store/data.mdb" && echo yes)"
    dd if=/dev/zero of="$D/fill" bs=4k status=none 2>/dev/null
    # Pages LMDB freed earlier are reused without growing the file: write
    # until the file must grow.
    for i in $(seq 200); do
        "$CTL" --control "$W/full/control" lock "fill-$i-$(printf '%0200d' 0)" --reason test >/dev/null 2>&1 || break
    done
    fault "full disk" "LMDB on a full disk (tmpfs filled after the store exists)" full \
        "victim-$RANDOM" 'store unavailable, (fail-open|tempfail).*No space left on device'
    ctl_fails "full disk" full 'No space left on device' lock "one-more-$(printf '%0200d' 0)" --reason test
    check "full disk: never logged as Input/output error" test "$(grep -c 'Input/output error' "$W/full/authguard.log")" = 0
    rm -f "$D/fill"
    login "$W/full/control" after-full 192.0.2.2
    check_eq "full disk: once there is room, logins are counted again" '"count":1' \
        "$("$CTL" --control "$W/full/control" export after-full | grep -o '"count":[0-9]*')"
    umount -l "$D"

    # A fresh store on a disk that is already full: LMDB maps lock.mdb, and
    # touching a page of a tmpfs file that has no room is SIGBUS.
    mount -t tmpfs -o size=512k,mode=755 authguard-faults "$D"
    dd if=/dev/zero of="$D/fill" bs=4k status=none 2>/dev/null
    host fresh "$D/store" </dev/null
    fault "fresh store on a full disk" "a fresh LMDB store on a disk already full" fresh \
        "victim-$RANDOM" 'store unavailable, (fail-open|tempfail).*No space left on device'
    umount -l "$D"

    # ------------------------------------------------------------ read-only
    mount -t tmpfs -o size=2m,mode=755 authguard-faults "$D"
    host ro "$D/store" </dev/null
    login "$W/ro/control" seed 192.0.2.1
    mount -o remount,ro "$D"
    fault "read-only remount" "LMDB on a read-only remount" ro \
        "victim-$RANDOM" 'store unavailable, (fail-open|tempfail).*Read-only file system'
    ctl_fails "read-only remount" ro 'Read-only file system' lock somebody --reason test
    mount -o remount,rw "$D"
    umount -l "$D"
fi

# works NAME FAULT-TEXT HOST USER LOGGED-PATTERN: as fault, for a fault the
# store survives: both settings let the login in and queue the message.
works() {
    local name=$1 text=$2 h=$3 user=$4 pattern=$5 ip=192.0.2.$((RANDOM % 200 + 1))
    local q=$W/$h/queue log=$W/$h/authguard.log before
    before=$(find "$q" -maxdepth 1 -name '*.msg' 2>/dev/null | wc -l)
    login "$W/$h/control" "$user" "$ip"
    local a_rc=$LOGIN_RC a_ms=$LOGIN_MS
    message "$W/$h/control" "$user" "$q"
    local m_reply=$MSG_REPLY m_ms=$MSG_MS m_queued=$MSG_QUEUED
    check_eq "$name: the good login is let in (AUTH 235)" 235 "$(auth_reply "$a_rc")"
    check_eq "$name: the message is queued (250, in the final queue)" "250 $((before + 1))" \
        "$m_reply $m_queued"
    check "$name: logged: $pattern" grep -q -E "$pattern" "$log"
    check "$name: no hook run waits twice lmdb-lock-timeout-ms ($a_ms $m_ms ms)" \
        test "$a_ms" -lt $BOUND -a "${m_ms:-99999}" -lt $BOUND
    row "$text" "AUTH $(auth_reply "$a_rc"), DATA $m_reply (either on-store-failure)" \
        "$(excerpt "$log" "user=$user ") (a new store: its locks forgotten)" \
        "$(lost "$a_rc" "$m_reply" "$((m_queued - before))" 451 0 | sed 's/; tempfail.*//')"
}

# ------------------------------------------------------------ map full
# lmdb-map-size at its least (1m), filled by an import of many users.
host map "$W/map/store" <<<"lmdb-map-size = 1m"
mkdir -p "$W/map/store"
login "$W/map/control" seed 192.0.2.1
python3 -c '
import sys
for i in range(20000):
    obs = ",".join("{\"kind\":\"success\",\"address\":\"10.%d.%d.%d\",\"first\":1,\"last\":2,\"count\":3}"
                   % (i % 250, j, i // 250) for j in range(4))
    print("{\"user\":\"filler-%06d\",\"observations\":[%s],\"dropped\":0,\"observations_ttl\":2592000,"
          "\"lock\":null,\"rate\":{},\"rate_ttl\":0,\"marks\":{},\"rate_marks\":{}}" % (i, obs))
' >"$W/map/fill.jsonl"
"$CTL" --control "$W/map/control" import "$W/map/fill.jsonl" >/dev/null 2>"$W/map/import.err"
check "map full: filling the map, authguardctl import stops saying so (lmdb-map-size)" \
    grep -q 'MDB_MAP_FULL.*lmdb-map-size' "$W/map/import.err"
fault "map full" "the LMDB map full (lmdb-map-size 1m)" map "victim-$RANDOM" \
    'store unavailable, (fail-open|tempfail).*MDB_MAP_FULL.*lmdb-map-size: raise it'
ctl_fails "map full" map 'MDB_MAP_FULL' lock "one-more" --reason test

# ------------------------------------------------------------ directory deleted
# Between runs: the next hook makes a new, empty store (the parent is
# writable): what it held, a lock included, is gone.
host gone "$W/gone/store" </dev/null
mkdir -p "$W/gone/store"
"$CTL" --control "$W/gone/control" lock gone-locked --reason test >/dev/null
login "$W/gone/control" gone-locked 192.0.2.3
check_eq "directory deleted: before, the locked user is refused" 1 "$LOGIN_RC"
rm -rf "$W/gone/store"
works "store directory deleted between runs" "the LMDB directory deleted between runs" gone gone-locked \
    'allow user=gone-locked .*outcome=success'
check "directory deleted: the next hook made a new store" test -s "$W/gone/store/data.mdb"

# During a session: checkpw binds the session in the store, the directory goes,
# then the message comes (the queue finds no binding: not the user's).
host gone2 "$W/gone2/store" <<<"trust-auth-env = no"
mkdir -p "$W/gone2/store" "$W/gone2/queue"
out=$(env -i PATH=/usr/bin:/bin AUTHGUARD_CONTROL="$W/gone2/control" AG_QQ_DIR="$W/gone2/queue" \
    TCPREMOTEIP=192.0.2.4 TCPLOCALPORT=587 "$DRIVER" --cwd "$W" --timeout 10 \
    --auth mid-session:secret \
    --checkpw "$AG_BUILD/authguard-checkpw $AG_BUILD/vchkpw-standin /bin/true" \
    --between "rm -rf '$W/gone2/store'" --message "$W/message" --from mid-session "$GUARD" 2>>"$W/queue.err")
a=$(sed -n 's/^auth //p' <<<"$out")
r=$(sed -n 's/^reply \([0-9]*\).*/\1/p' <<<"$out")
n=$(find "$W/gone2/queue" -maxdepth 1 -name '*.msg' | wc -l)
check_eq "directory deleted during a session: login let in, message queued" "0 250 1" "$a $r $n"
check "... the message not counted for anybody (the binding went with the store)" \
    test "$(grep -c 'sender=mid-session' "$W/gone2/authguard.log")" = 0
row "the LMDB directory deleted during an SMTP session (after AUTH)" \
    "AUTH $(auth_reply "$a"), DATA $r" "nothing for the message: its session binding went with the store" \
    "$(lost "$a" "$r" "$n" 451 0 | sed 's/; tempfail.*//')"

# ------------------------------------------------------------ writer held
# Another writer holds writer.lock (an fcntl lock, as authguard's writers
# take it) past lmdb-lock-timeout-ms.
host held "$W/held/store" </dev/null
mkdir -p "$W/held/store"
login "$W/held/control" seed 192.0.2.1
python3 -c 'import fcntl, sys, time
f = open(sys.argv[1], "r+")
fcntl.lockf(f, fcntl.LOCK_EX)
print("held", flush=True)
time.sleep(60)' "$W/held/store/writer.lock" >"$W/held/holder.out" &
HOLDER=$!
on_exit "kill $HOLDER"
for _ in $(seq 100); do grep -q held "$W/held/holder.out" 2>/dev/null && break; sleep 0.05; done
fault "writer.lock held" "another writer holding writer.lock past lmdb-lock-timeout-ms" held \
    "victim-$RANDOM" "store unavailable, (fail-open|tempfail).*another writer has held the database for over $LOCK_MS ms"
ctl_fails "writer.lock held" held "another writer has held the database" lock one-more --reason test
kill "$HOLDER"
wait "$HOLDER" 2>/dev/null

# A flock(1) on writer.lock is another kind of lock (flock(2)): it does not
# exclude authguard's writers, which take fcntl locks.
flock "$W/held/store/writer.lock" sleep 30 &
FLOCKER=$!
on_exit "kill $FLOCKER"
sleep 0.2
login "$W/held/control" flocked 192.0.2.7
check_eq "a flock(1) on writer.lock does not stop the hooks (they take fcntl locks)" 0 "$LOGIN_RC"
kill "$FLOCKER"
wait "$FLOCKER" 2>/dev/null

# authguardctl import SIGSTOPped inside one of its write transactions: it
# holds writer.lock (and LMDB's own writer mutex behind it).
host stopped "$W/stopped/store" </dev/null
mkdir -p "$W/stopped/store"
login "$W/stopped/control" seed 192.0.2.1
head -8000 "$W/map/fill.jsonl" >"$W/stopped/big.jsonl"
# In a session of its own: when the suite runs detached (CI under nohup),
# its process group is orphaned, and the kernel wakes a stopped member of an
# orphaned group with SIGHUP + SIGCONT (ignored HUP: it simply goes on).
setsid "$CTL" --control "$W/stopped/control" import "$W/stopped/big.jsonl" >/dev/null 2>&1 &
IMPORT=$!
on_exit "kill -CONT $IMPORT; kill $IMPORT"
caught=
for _ in $(seq 200); do
    kill -STOP "$IMPORT" 2>/dev/null || break
    # The signal takes effect later than kill returns: only a process seen
    # stopped (state T) can no longer let go of the lock after the look,
    # and only its own descriptors (fdinfo) say the lock is its own.
    stopped=
    for _ in $(seq 100); do
        [ "$(awk '{print $3}' "/proc/$IMPORT/stat" 2>/dev/null)" = T ] && { stopped=yes; break; }
        sleep 0.01
    done
    if [ -n "$stopped" ] && grep -q 'OFDLCK.*WRITE' /proc/"$IMPORT"/fdinfo/* 2>/dev/null; then
        caught=yes
        break
    fi
    kill -CONT "$IMPORT"
    sleep 0.0$((RANDOM % 9 + 1))
done
if [ -n "$caught" ]; then
    fault "writer stopped mid-transaction" "a writer (authguardctl import) SIGSTOPped mid-transaction" \
        stopped "victim-$RANDOM" \
        "store unavailable, (fail-open|tempfail).*another writer has held the database for over $LOCK_MS ms"
    kill -CONT "$IMPORT"
    wait "$IMPORT"
    check_eq "writer stopped mid-transaction: once it goes on, the import completes" 0 "$?"
else
    kill -CONT "$IMPORT" 2>/dev/null
    wait "$IMPORT"
    skip "writer stopped mid-transaction" "could not stop authguardctl import inside a transaction"
fi
