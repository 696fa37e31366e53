# queue.sh - authguard-queue driven exactly as qmail-smtpd drives a QMAILQUEUE
# program (tests/standins/qmail-smtpd-queue-driver: message on fd 0, the
# envelope on fd 1 only after fd 0 is closed, SIGPIPE ignored, exit code ->
# SMTP reply), in front of a qmail-queue stand-in that keeps what it got
# (build/qmail-queue-standin), against the suite's Redis:
#   a. byte-exact hand-on of messages and envelopes (sha256)
#   b. the guard never reads the message (its own /proc read counters)
#   c. a locked user: 31 -> 554 before anything is queued, no deadlock with
#      a 20 MB message still being written, nothing left by the next program
#   d. sending limits (messages/hour, recipients/hour and /day), both
#      actions, windows sliding with AUTHGUARD_NOW
#   e. store down: fail-open and logged, or 71 with on-store-failure=tempfail
#   f. the next program's exit code passed through; started as itself -> 81
#   g. identity from the session binding authguard-checkpw writes, both run
#      as children of one process (as both are children of qmail-smtpd)
#   h. spoofed TCPREMOTEINFO / SMTPAUTHUSER never make a session the victim
#   i. a next queue program missing, unable to start or refusing: 451 (or its
#      own code), logged with the path and strerror, and never counted
source "$AG_ROOT/tests/lib.sh"
trap_cleanup

DRIVER=$AG_ROOT/tests/standins/qmail-smtpd-queue-driver
GUARD=$AG_BUILD/authguard-queue
QQ=$AG_BUILD/qmail-queue-standin
CHAIN="$AG_BUILD/authguard-checkpw $AG_BUILD/vchkpw-standin /bin/true"
CTL=$AG_BUILD/authguardctl
W=$AG_TMP/queue
mkdir -p "$W/home" "$W/msg"
on_exit "rm -rf '$W'"
N=1700000000 # the test clock, AUTHGUARD_NOW

# drive CONTROL QDIR [driver options]: one SMTP session of the driver against
# authguard-queue (or $PROGRAM) with a clean environment: TCPREMOTEIP=$IP,
# AUTHGUARD_NOW=$NOW, plus the assignments in the array ENVS. Output in $OUT.
IP=192.0.2.10 NOW=$N ENVS=()
drive() {
    local control=$1 qdir=$2; shift 2
    mkdir -p "$qdir"
    OUT=$(timeout 180 env -i PATH=/usr/bin:/bin AUTHGUARD_CONTROL="$control" AG_QQ_DIR="$qdir" \
        TCPREMOTEIP="$IP" TCPLOCALPORT=587 AUTHGUARD_NOW="$NOW" "${ENVS[@]}" \
        "$DRIVER" --cwd "$W/home" "$@" "${PROGRAM:-$GUARD}" 2>>"$W/stderr")
}
# field NAME [N]: the value of the Nth (default: last) "NAME value" line of $OUT
field() {
    if [ -n "${2:-}" ]; then printf '%s\n' "$OUT" | sed -n "s/^$1 //p" | sed -n "${2}p"
    else printf '%s\n' "$OUT" | sed -n "s/^$1 //p" | tail -1; fi
}
queued() { find "$1" -maxdepth 1 -name '*.msg' 2>/dev/null | wc -l; }
leftovers() { find "$1" -mindepth 1 2>/dev/null | wc -l; }
sha() { sha256sum < "$1" | cut -c1-64; }
# sent CONTROL-NAME USER: messages counted for USER in the short window
sent() {
    redis hgetall "t-$1:{$2}:rate" | paste - - | awk '$1 ~ /^s[0-9]+m$/ { n += $2 } END { print n + 0 }'
}
lock() { AUTHGUARD_NOW=$N AUTHGUARD_CONTROL="$1" "$CTL" lock "$2" --reason "${3:-test}" >/dev/null; }

# ---------------------------------------------------------------- a. bytes
C=$(new_control queue-bytes <<EOF
next-queue = $QQ
trust-auth-env = yes
max-messages-short = 100000
max-recipients-short = 100000
max-recipients-long = 100000
EOF
)
M=$W/msg
: > "$M/empty"
printf 'x' > "$M/one"
head -c 1024 /dev/urandom > "$M/1k"
head -c $((1024 * 1024)) /dev/urandom > "$M/1m"
head -c $((50 * 1024 * 1024)) /dev/urandom > "$M/50m"
python3 -c 'import sys; sys.stdout.buffer.write(bytes(range(256)) * 40)' > "$M/8bit"
printf 'Subject: nul\n\nbefore\0after\0\0\n\0' > "$M/nul"
printf 'Subject: cr\n\nbare\rCR\r\rend\r' > "$M/cr"
python3 -c 'import sys; sys.stdout.write(("y" * 9999 + "\n") * 30 + "z" * 10000)' > "$M/longlines"
printf 'Subject: ok\nFrom: a@example.com\n\nlines\n.\n..dots\nend\n' > "$M/mail"
ENVS=(SMTPAUTHUSER=writer@example.com)
for m in empty one 1k 1m 50m 8bit nul cr longlines mail; do
    q=$W/q-bytes-$m
    drive "$C" "$q" --message "$M/$m" --from "s@example.com" --to "r1@example.org" --to "r2@example.net"
    got=$(find "$q" -name '*.msg' | head -1)
    if [ "$(field exit)" = 0 ] && [ "$(queued "$q")" = 1 ] && [ "$(sha "$got")" = "$(sha "$M/$m")" ]; then
        ok "bytes: $m ($(stat -c %s "$M/$m") bytes) reaches the next queue program unchanged"
    else
        not_ok "bytes: $m: exit $(field exit), $(queued "$q") queued, sha $( [ -n "$got" ] && sha "$got")"
    fi
    printf 'Fs@example.com\0Tr1@example.org\0Tr2@example.net\0\0' > "$W/env-expected"
    check "bytes: $m: envelope unchanged" cmp -s "$W/env-expected" "${got%.msg}.env"
    rm -rf "$q"
done
# qmail-smtpd's own Received: line first, LF endings, as in production.
q=$W/q-bytes-received
drive "$C" "$q" --received --message "$M/mail" --from "s@example.com" --to "r@example.org"
got=$(find "$q" -name '*.msg' | head -1)
check "bytes: qmail-smtpd's Received: line then the body arrive as written" \
    test "$(head -1 "$got" | cut -c1-23)" = "Received: from unknown " -a \
    "$(tail -c +"$(($(head -2 "$got" | wc -c) + 1))" "$got" | sha256sum | cut -c1-64)" = "$(sha "$M/mail")"
# Envelopes: a bounce (empty sender), 8-bit and 1000-byte addresses, 302 recipients.
long=$(printf 'l%.0s' $(seq 990))@example.org
args=(--from "" --to "$long" --to $'\xe4\xf6@example.org')
for i in $(seq 300); do args+=(--to "r$i@example.org"); done
q=$W/q-bytes-envelope
drive "$C" "$q" --message "$M/1k" "${args[@]}"
python3 - "$long" > "$W/env-expected" <<'EOF'
import sys
e = b"F\0T" + sys.argv[1].encode() + b"\0T\xe4\xf6@example.org\0"
e += b"".join(b"Tr%d@example.org\0" % i for i in range(1, 301)) + b"\0"
sys.stdout.buffer.write(e)
EOF
got=$(find "$q" -name '*.env' | head -1)
check "bytes: bounce, 8-bit, 1000-byte and 302 recipients: envelope unchanged" \
    cmp -s "$W/env-expected" "$got"
check "bytes: the 302 recipients are counted" \
    grep -q "allow queue sender=writer@example.com recipients=302 " "$C/authguard.log"
# An envelope cut short (qmail-smtpd died): nothing queued, 451.
printf 'Fs@example.com\0Tr@example.org\0' > "$W/env-short"
q=$W/q-bytes-short
drive "$C" "$q" --message "$M/1k" --envelope "$W/env-short"
check_eq "bytes: an envelope without its final NUL: 451 qq read error" \
    "451 qq read error (#4.3.0)" "$(field reply)"
check_eq "bytes: ... and nothing left in the queue" 0 "$(leftovers "$q")"
ENVS=()

# ---------------------------------------------------------------- b. reads
# /proc/PID/task/PID/io of the guard after it exited (the driver reads it
# before reaping it): the thread's own counters, without the next queue
# program it reaped.
ENVS=(SMTPAUTHUSER=writer@example.com)
q=$W/q-reads
drive "$C" "$q" --io --message "$M/50m" --to r@example.org
read -r guard_rchar guard_syscr <<<"$(field io | sed 's/.*rchar=\([0-9]*\).*syscr=\([0-9]*\).*/\1 \2/')"
PROGRAM=$QQ drive "$C" "$W/q-reads-alone" --io --message "$M/50m" --to r@example.org
read -r qq_rchar qq_syscr <<<"$(field io | sed 's/.*rchar=\([0-9]*\).*syscr=\([0-9]*\).*/\1 \2/')"
# The guard never reads the message: its own reads are the envelope and its
# files, under 64 KiB (1 MiB in a sanitizer build, whose runtime reads
# /proc/self/maps and the like at start).
read_bound=65536
[ -n "${ASAN_OPTIONS:-}" ] && read_bound=1048576
if [ "$(queued "$q")" = 1 ] && [ "${guard_rchar:-99999999}" -lt "$read_bound" ] && [ "${qq_rchar:-0}" -ge 52428800 ]; then
    ok "reads: the guard read $guard_rchar bytes in $guard_syscr reads for a 52428800-byte message (the next queue program alone: $qq_rchar in $qq_syscr)"
else
    not_ok "reads: guard rchar=${guard_rchar:-?} syscr=${guard_syscr:-?}, next program alone rchar=${qq_rchar:-?}"
fi
rm -rf "$q" "$W/q-reads-alone" "$M/50m"
ENVS=()

# ---------------------------------------------------------------- c. locked
C=$(new_control queue-lock <<EOF
next-queue = $QQ
EOF
)
head -c $((20 * 1024 * 1024)) /dev/urandom > "$M/20m"
q=$W/q-lock
t0=$(ms_now)
drive "$C" "$q" --auth locked@example.com:secret --checkpw "$CHAIN" \
    --between "AUTHGUARD_NOW=$N AUTHGUARD_CONTROL=$C $CTL lock locked@example.com --reason x >/dev/null" \
    --message "$M/20m" --to r@example.org --timeout 30
t1=$(ms_now)
check_eq "locked: the session logged in before the lock" 0 "$(field auth)"
check_eq "locked: exit 31" 31 "$(field exit)"
check_eq "locked: 554 before anything is queued" \
    "554 mail server permanently rejected message (#5.3.0)" "$(field reply)"
check "locked: no deadlock with 20 MB still being written ($(field wrote) bytes taken, $((t1 - t0)) ms)" \
    test "$(field wrote)" -lt $((20 * 1024 * 1024)) -a $((t1 - t0)) -lt 20000 -a -z "$(field timeout)"
check_eq "locked: the next queue program left no files" 0 "$(leftovers "$q")"
check "locked: logged as refuse-locked" grep -q "refuse-locked queue-early sender=locked@example.com" "$C/authguard.log"
drive "$C" "$q" --auth locked@example.com:secret --checkpw "$CHAIN" --message "$M/1k"
check_eq "locked: a locked user cannot log in again (checkpw 1)" 1 "$(field auth)"

# ---------------------------------------------------------------- d. limits
C=$(new_control queue-rate <<EOF
next-queue = $QQ
trust-auth-env = yes
max-messages-short = 3
max-recipients-short = 10
max-recipients-long = 15
EOF
)
ENVS=(SMTPAUTHUSER=busy@example.com)
q=$W/q-rate
codes=""
for _ in 1 2 3 4; do drive "$C" "$q" --message "$M/1k" --to r@example.org; codes="$codes $(field exit)"; done
check_eq "limits: 3 messages an hour go, the 4th gets 71" " 0 0 0 71" "$codes"
check_eq "limits: tempfail is 451" "451 mail server temporarily rejected message (#4.3.0)" "$(field reply)"
check_eq "limits: the refused message was not queued" 3 "$(queued "$q")"
check_eq "limits: ... and the next program left nothing else" 6 "$(leftovers "$q")"
NOW=$((N + 1800)) drive "$C" "$q" --message "$M/1k" --to r@example.org
check_eq "limits: half an hour later still 71" 71 "$(field exit)"
# The buckets of N fall out of the hour at N + 3600 + 300; the refused ones
# count as attempts (1 at N + 1800), so 2 more go.
NOW=$((N + 3900)) drive "$C" "$q" --message "$M/1k" --to r@example.org
check_eq "limits: the window slid: 0 again an hour later" 0 "$(field exit)"
grep -q 'tempfail queue sender=busy@example.com .*reason="4 over max-messages-short=3"' "$C/authguard.log"
check "limits: logged with the limit" test $? = 0

ENVS=(SMTPAUTHUSER=wide@example.com)
q=$W/q-rate-rcpt
to6=(--to a@x.org --to b@x.org --to c@x.org --to d@x.org --to e@x.org --to f@x.org)
drive "$C" "$q" --message "$M/1k" "${to6[@]}"; first=$(field exit)
drive "$C" "$q" --message "$M/1k" "${to6[@]}"; second=$(field exit)
check_eq "limits: 6 + 6 recipients in an hour: the second message over 10 gets 71" "0 71" "$first $second"
to4=(--to a@x.org --to b@x.org --to c@x.org --to d@x.org)
NOW=$((N + 2 * 3600)) drive "$C" "$q" --message "$M/1k" "${to4[@]}"; first=$(field exit)
NOW=$((N + 4 * 3600)) drive "$C" "$q" --message "$M/1k" "${to4[@]}"; second=$(field exit)
# day: 6 + 6 (refused, counted) + 4 = 16 > 15 already at the third.
check_eq "limits: recipients per day: over 15 in 24 h gets 71" "71 71" "$first $second"
NOW=$((N + 86400 + 3600 + 3600)) drive "$C" "$q" --message "$M/1k" "${to4[@]}"
check_eq "limits: the day window slid: 0 a day later" 0 "$(field exit)"
check_eq "limits: only the accepted messages were queued" 2 "$(queued "$q")"

C=$(new_control queue-reject <<EOF
next-queue = $QQ
trust-auth-env = yes
max-messages-short = 1
rate-limit-action = reject
EOF
)
ENVS=(SMTPAUTHUSER=busy@example.com)
q=$W/q-reject
drive "$C" "$q" --message "$M/1k"; first=$(field exit)
drive "$C" "$q" --message "$M/1k"; second=$(field exit)
check_eq "limits: rate-limit-action = reject gives 31" "0 31" "$first $second"
check_eq "limits: ... 554" "554 mail server permanently rejected message (#5.3.0)" "$(field reply)"
check_eq "limits: ... not queued" 1 "$(queued "$q")"
# Refused after the envelope: the next program has read all 20 MB by then and
# gets no envelope; it must exit and leave nothing.
t0=$(ms_now)
drive "$C" "$q" --message "$M/20m" --timeout 30
t1=$(ms_now)
check_eq "limits: a 20 MB message over the limit: 31, whole message taken, in $((t1 - t0)) ms" \
    "31 $((20 * 1024 * 1024))" "$(field exit) $(field wrote)"
check_eq "limits: ... the next queue program withdrew it (files: 1 .msg + 1 .env)" 2 "$(leftovers "$q")"

# Relay limits: unauthenticated clients with RELAYCLIENT, per address.
C=$(new_control queue-relay <<EOF
next-queue = $QQ
relay-max-messages-short = 2
EOF
)
ENVS=(RELAYCLIENT= TCPREMOTEINFO=busy@example.com)
q=$W/q-relay
codes=""
for _ in 1 2 3; do drive "$C" "$q" --message "$M/1k"; codes="$codes $(field exit)"; done
check_eq "limits: relay-max-messages-short = 2 per relaying address" " 0 0 71" "$codes"
IP=192.0.2.11 drive "$C" "$q" --message "$M/1k"
check_eq "limits: another relaying address has its own count" 0 "$(field exit)"
check_eq "limits: relaying with TCPREMOTEINFO set counts the address, not the user" 0 \
    "$(redis exists 't-queue-relay:{busy@example.com}:rate')"
ENVS=()

# ---------------------------------------------------------------- e. store down
C=$(new_control queue-down <<EOF
next-queue = $QQ
EOF
)
sed -i "s|^redis = .*|redis = unix:$W/no-such.sock|" "$C/authguard"
q=$W/q-down
drive "$C" "$q" --message "$M/1k"
check_eq "store down: fail-open, the message is queued" "0 1" "$(field exit) $(queued "$q")"
check "store down: the error is logged" grep -q "queue: cannot look up the session.*no-such.sock" "$C/authguard.log"
echo "trust-auth-env = yes" >> "$C/authguard"
ENVS=(SMTPAUTHUSER=someone@example.com)
drive "$C" "$q" --message "$M/1k"
check_eq "store down: an authenticated sender fails open too" "0 2" "$(field exit) $(queued "$q")"
check "store down: logged as an error with the reason" \
    grep -q 'allow queue.* sender=someone@example.com .*reason="store unavailable, fail-open"' "$C/authguard.log"
echo "on-store-failure = tempfail" >> "$C/authguard"
drive "$C" "$q" --message "$M/1k"
check_eq "store down, on-store-failure = tempfail: 71 for an authenticated sender" \
    "71 2" "$(field exit) $(queued "$q")"
ENVS=()
drive "$C" "$q" --message "$M/1k"
check_eq "store down, on-store-failure = tempfail: 71 when the session cannot be looked up" \
    "71 2" "$(field exit) $(queued "$q")"
check_eq "store down: nothing half-queued" 4 "$(leftovers "$q")"

# ---------------------------------------------------------------- f. exit codes
C=$(new_control queue-exit <<EOF
next-queue = $QQ
EOF
)
for code in 0 11 31 53 54 71 81 100; do
    ENVS=(AG_QQ_EXIT=$code)
    drive "$C" "$W/q-exit-$code" --message "$M/1k"
    check_eq "exit codes: the next queue program's $code is passed through" "$code" "$(field exit)"
done
ENVS=()
check_eq "exit codes: ... and mapped as qmail-smtpd does (11)" \
    "554 envelope address too long for qq (#5.1.3)" "$(ENVS=(AG_QQ_EXIT=11); drive "$C" "$W/q-exit-x" --message "$M/1k"; field reply)"
check_eq "exit codes: 0 after a full hand-on: 250" "250 ok" \
    "$(drive "$C" "$W/q-exit-y" --message "$M/1k"; field reply | cut -c1-6)"
# A next queue program that is not there: 120 (unable to exec qq).
ENVS=(AUTHGUARD_QUEUE=$W/no-such-qmail-queue)
drive "$C" "$W/q-exit-missing" --message "$M/1k"
check_eq "exit codes: a missing next queue program gives 120" "451 unable to exec qq (#4.3.0)" "$(field reply)"
# Started as itself, four ways: never a loop, 81 and a log line.
ln -sf "$GUARD" "$W/qmail-queue-link"
printf '#!/bin/sh\nexec %s\n' "$GUARD" > "$W/wrapper-of-guard"
chmod +x "$W/wrapper-of-guard"
for how in "AUTHGUARD_QUEUE=$GUARD" "AUTHGUARD_QUEUE=$W/qmail-queue-link" \
    "AUTHGUARD_QUEUE=$W/wrapper-of-guard" "next-queue"; do
    C2=$(new_control "queue-self-${#how}" <<EOF
next-queue = $([ "$how" = next-queue ] && echo "$GUARD" || echo "$QQ")
EOF
)
    ENVS=()
    [ "$how" != next-queue ] && ENVS=("$how")
    t0=$(ms_now)
    drive "$C2" "$W/q-self" --message "$M/1m" --timeout 20
    t1=$(ms_now)
    check_eq "loop: ${how#*=} as the next queue program: 81, in $((t1 - t0)) ms" \
        "81 451 qq internal bug (#4.3.0)" "$(field exit) $(field reply)"
    check "loop: ... logged" grep -q "is authguard-queue itself" "$C2/authguard.log"
done
check_eq "loop: nothing queued" 0 "$(leftovers "$W/q-self")"
ENVS=()

# ---------------------------------------------------------------- g. session
C=$(new_control queue-session <<EOF
next-queue = $QQ
EOF
)
q=$W/q-session
drive "$C" "$q" --auth alice@example.com:secret --checkpw "$CHAIN" --messages 2 \
    --message "$M/1k" --to a@example.org --to b@example.org
check_eq "session: logged in, two messages queued" "0 0 0" "$(field auth) $(field exit 1) $(field exit 2)"
check_eq "session: both counted for the user authguard-checkpw bound" 2 "$(sent queue-session alice@example.com)"
check "session: logged with the user" grep -q "allow queue sender=alice@example.com recipients=2 .*messages_short=2" "$C/authguard.log"
drive "$C" "$q" --message "$M/1k"
check_eq "session: another session from the same address is not alice's" "0 2" \
    "$(field exit) $(sent queue-session alice@example.com)"
drive "$C" "$q" --auth alice@example.com:wrong --checkpw "$CHAIN" --message "$M/1k"
check_eq "session: a failed AUTH binds nothing" "3 0 2" \
    "$(field auth) $(field exit) $(sent queue-session alice@example.com)"
drive "$C" "$q" --auth alice@example.com:secret --checkpw "$CHAIN" \
    --between "AUTHGUARD_NOW=$N AUTHGUARD_CONTROL=$C $CTL lock alice@example.com --reason hijacked >/dev/null" \
    --message "$M/1k"
check_eq "session: locked during the session: the next message gets 31" "0 31" "$(field auth) $(field exit)"
check_eq "session: 4 messages queued in all" 4 "$(queued "$q")"
# qpsmtpd runs its checkpassword through "sh -c" (which forks for it) but
# its queue program directly: the binding must still be the same session.
printf '#!/bin/sh\nexec /bin/sh -c "%s; exit \\$?"\n' "$CHAIN" > "$W/sh-c-chain"
chmod +x "$W/sh-c-chain"
drive "$C" "$q" --auth dave@example.com:secret --checkpw "$W/sh-c-chain" --message "$M/1k"
check_eq "session: checkpassword under sh -c (as qpsmtpd runs it): the same session" \
    "0 0 1" "$(field auth) $(field exit) $(sent queue-session dave@example.com)"
# Bindings expire with session-ttl and are per client address.
IP=192.0.2.99 drive "$C" "$q" --auth carol@example.com:secret --checkpw "$CHAIN" --message "$M/1k" \
    --between "redis-cli -s $AG_REDIS_SOCK keys 't-queue-session:session:*192.0.2.99*' > $W/session-keys"
check "session: the binding names the client address" grep -q ':192.0.2.99}$' "$W/session-keys"
ttl=$(redis ttl "$(head -1 "$W/session-keys")")
check "session: the binding has a TTL (session-ttl, default 3600: $ttl)" test "$ttl" -gt 0 -a "$ttl" -le 3600

# ---------------------------------------------------------------- h. spoofing
C=$(new_control queue-spoof <<EOF
next-queue = $QQ
EOF
)
lock "$C" victim@example.com
q=$W/q-spoof
ENVS=(TCPREMOTEINFO=victim@example.com)
drive "$C" "$q" --message "$M/1k"
check_eq "spoof: TCPREMOTEINFO=victim, not authenticated: queued, not refused" 0 "$(field exit)"
ENVS=(TCPREMOTEINFO=victim@example.com SMTPAUTHUSER=victim@example.com SMTP_AUTH_USER=victim@example.com)
drive "$C" "$q" --message "$M/1k"
check_eq "spoof: SMTPAUTHUSER/SMTP_AUTH_USER=victim with trust-auth-env off: not refused" 0 "$(field exit)"
# qmail-smtpd sets TCPREMOTEINFO after MAIL FROM:<x> AUTH=<victim>: queue env only.
ENVS=()
drive "$C" "$q" --queue-env TCPREMOTEINFO=victim@example.com --message "$M/1k"
check_eq "spoof: TCPREMOTEINFO set only for the queue program: not refused" 0 "$(field exit)"
check_eq "spoof: the victim's counts did not move" 0 "$(sent queue-spoof victim@example.com)"
check_eq "spoof: three messages queued" 3 "$(queued "$q")"
# Someone else authenticated, claiming to be the victim: counted as himself.
ENVS=(TCPREMOTEINFO=victim@example.com)
drive "$C" "$q" --auth mallory@example.com:secret --checkpw "$CHAIN" --message "$M/1k"
check_eq "spoof: mallory authenticated with TCPREMOTEINFO=victim: queued as mallory" \
    "0 0 1" "$(field exit) $(sent queue-spoof victim@example.com) $(sent queue-spoof mallory@example.com)"
echo "trust-auth-env = yes" >> "$C/authguard"
ENVS=(SMTPAUTHUSER=victim@example.com)
drive "$C" "$q" --message "$M/1k"
check_eq "spoof: with trust-auth-env = yes, SMTPAUTHUSER is the user (locked: 31)" 31 "$(field exit)"
ENVS=(SMTP_AUTH_USER=victim@example.com)
drive "$C" "$q" --message "$M/1k"
check_eq "spoof: ... and SMTP_AUTH_USER (31)" 31 "$(field exit)"
ENVS=(TCPREMOTEINFO=victim@example.com)
drive "$C" "$q" --message "$M/1k"
check_eq "spoof: TCPREMOTEINFO is still no proof with trust-auth-env = yes" 0 "$(field exit)"
ENVS=()

# ---------------------------------------------------------------- i. next queue missing
# The next queue program is not there (or cannot start, or refuses): the
# client gets a temporary failure, the log names the program and why, and
# the message, never queued, does not count against the sending limits.
C=$(new_control queue-missing <<EOF
next-queue = $W/no-such-dir/qmail-queue
trust-auth-env = yes
EOF
)
q=$W/q-missing
ENVS=(SMTPAUTHUSER=writer@example.com)
drive "$C" "$q" --message "$M/1k" --to a@example.org --to b@example.org
check_eq "missing next queue: exit 120, 451 unable to exec qq (temporary, retried)" \
    "120 451 unable to exec qq (#4.3.0)" "$(field exit) $(field reply)"
check "missing next queue: the log names the program and why" \
    grep -q "cannot run the next queue program $W/no-such-dir/qmail-queue: No such file or directory" "$C/authguard.log"
check "missing next queue: no ordinary allow line for it" \
    bash -c "! grep -q 'allow queue sender=writer@example.com' '$C/authguard.log'"
check_eq "missing next queue: the message is not counted" 0 "$(sent queue-missing writer@example.com)"
# The same user through a working next queue: counted once.
ENVS=(SMTPAUTHUSER=writer@example.com "AUTHGUARD_QUEUE=$QQ")
drive "$C" "$q" --message "$M/1k" --to a@example.org
check_eq "missing next queue: a queued message counts (1)" "0 1" "$(field exit) $(sent queue-missing writer@example.com)"
# Present but cannot start (a script whose interpreter is missing): exec fails.
printf '#!/no/such/interpreter\n' > "$W/bad-interpreter-queue"
chmod +x "$W/bad-interpreter-queue"
ENVS=(SMTPAUTHUSER=writer@example.com "AUTHGUARD_QUEUE=$W/bad-interpreter-queue")
drive "$C" "$q" --message "$M/1k" --to a@example.org
check_eq "next queue that cannot start: exit 120" 120 "$(field exit)"
check "next queue that cannot start: logged with the path and the reason" \
    grep -q "cannot run the next queue program $W/bad-interpreter-queue: No such file or directory" "$C/authguard.log"
check_eq "next queue that cannot start: not counted (still 1)" 1 "$(sent queue-missing writer@example.com)"
# Not executable.
printf '#!/bin/sh\nexit 0\n' > "$W/not-executable-queue"
chmod 644 "$W/not-executable-queue"
ENVS=(SMTPAUTHUSER=writer@example.com "AUTHGUARD_QUEUE=$W/not-executable-queue")
drive "$C" "$q" --message "$M/1k" --to a@example.org
check_eq "next queue not executable: exit 120, not counted" "120 1" "$(field exit) $(sent queue-missing writer@example.com)"
check "next queue not executable: logged as Permission denied" \
    grep -q "cannot run the next queue program $W/not-executable-queue: Permission denied" "$C/authguard.log"
# The next queue program refuses (53: write error, disk full; 31; 71): its
# code goes back to qmail-smtpd, and the message is taken back from the counts.
for code in 53 31 71; do
    ENVS=(SMTPAUTHUSER=writer@example.com "AUTHGUARD_QUEUE=$QQ" AG_QQ_EXIT=$code)
    drive "$C" "$q" --message "$M/1k" --to a@example.org --to b@example.org
    check_eq "next queue exits $code: passed through, the message not counted (still 1)" \
        "$code 1" "$(field exit) $(sent queue-missing writer@example.com)"
done
check "next queue exits 53: logged as not counted, with the exit code" \
    grep -q "not-counted queue sender=writer@example.com recipients=2 .*messages_short=1 .*exited 53 (451 write error)" "$C/authguard.log"
ENVS=()

if [ -s "$W/stderr" ]; then
    not_ok "nothing on stderr: $(head -c 300 "$W/stderr")"
else
    ok "nothing on stderr (fd 2 is qmail-smtpd's log)"
fi
