#!/bin/bash
# tests/mta-selftest.sh - shows that tests/mta.sh works, against a stub
# policy server (tests/standins/policy-stub) instead of authguard-policyd.
# Not part of tests/run-all: run it by hand, as root, when mta.sh or the
# Debian packages change:  tests/mta-selftest.sh [-v]
#
# Starts the stub (Postfix policy on a unix socket, Dovecot policy over
# HTTP), then a private Dovecot and a private Postfix asking it, and checks
# what arrives: an IMAP login from x-originating-ip 203.0.113.9 arrives as
# allow, allow, report with that remote; SMTP AUTH + a message with XCLIENT
# ADDR=198.51.100.7 reaches the policy socket with sasl_username and
# client_address, and Dovecot's policy sees protocol smtp; status -1 makes
# the IMAP login fail; action=REJECT gives 554 at RCPT and no message in the
# queue. Prints the requests the stub saw (-v: every attribute), and how
# long starting and stopping took. Exit 0 when every check passed.
set -u
cd "$(dirname "$0")/.." || exit 1
source tests/mta.sh || exit 1
VERBOSE=${1:-}

[ "$(id -u)" = 0 ] || { echo "run as root (Dovecot and Postfix start as root)"; exit 1; }
for tool in dovecot postfix swaks python3 ss; do
    command -v "$tool" >/dev/null || { echo "missing: $tool"; exit 1; }
done

W=$(mktemp -d /tmp/mta-selftest.XXXXXX)
STUB_PID=
FAILED=0
cleanup() {
    postfix_stop
    dovecot_stop
    mta_kill_wait "$STUB_PID"
    rm -rf "$W"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

ok() { echo "ok - $*"; }
not_ok() { echo "not ok - $*"; FAILED=$((FAILED + 1)); }
check() { local name=$1; shift; if "$@"; then ok "$name"; else not_ok "$name"; fi; }
check_eq() { if [ "$2" = "$3" ]; then ok "$1"; else not_ok "$1 (expected '$2', got '$3')"; fi; }
ms_now() { date +%s%3N; }

# wait_for FILE PATTERN [TENTHS]: until grep -E finds PATTERN in FILE.
wait_for() {
    local _
    for _ in $(seq "${3:-30}"); do grep -qE "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done
    return 1
}

# ---- the stub ---------------------------------------------------------------
S=$W/stub
mkdir -p "$S"
LOG=$S/requests.log
: >"$LOG"
python3 tests/standins/policy-stub --dir "$S" --log "$LOG" --unix "$S/policy.sock" \
    --http-port-file "$S/http.port" --ready "$S/ready" </dev/null >"$S/stub.out" 2>&1 &
STUB_PID=$!
for _ in $(seq 50); do [ -e "$S/ready" ] && break; sleep 0.1; done
[ -e "$S/ready" ] || { not_ok "policy stub starts: $(cat "$S/stub.out")"; exit 1; }
HTTP_PORT=$(cat "$S/http.port")

# stub_seen FROM: one line per request the stub logged after line FROM.
stub_seen() {
    tail -n +"$(($1 + 1))" "$LOG" | python3 -c '
import json, sys
verbose = sys.argv[1] == "-v"
for line in sys.stdin:
    e = json.loads(line)
    if e["proto"] == "dovecot":
        b = e["body"]
        extra = "".join(" %s=%s" % (k, json.dumps(b[k])) for k in ("success", "policy_reject") if k in b)
        print("dovecot %s protocol=%s login=%s remote=%s%s auth=%r -> status %s" % (
            e["command"], b.get("protocol"), b.get("login"), b.get("remote"), extra,
            e["auth"], e["answer"]["status"]))
        if verbose:
            print("    body:", json.dumps(b, sort_keys=True))
    else:
        a = e["attrs"]
        print("postfix %s sasl_username=%s client_address=%s instance=%s server_port=%s -> %s" % (
            a.get("protocol_state"), a.get("sasl_username"), a.get("client_address"),
            a.get("instance"), a.get("server_port"), e["answer"]))
        if verbose:
            print("    attrs:", " ".join("%s=%s" % kv for kv in a.items()))
' "$VERBOSE"
}
mark() { wc -l <"$LOG"; }

# ---- start ---------------------------------------------------------------
t0=$(ms_now)
dovecot_start "$W/dovecot" "http://127.0.0.1:$HTTP_PORT/" "Authorization: Basic YXV0aGd1YXJkOnRlc3Q=" ||
    { not_ok "Dovecot starts: $(mta_log_tail "$W/dovecot")"; exit 1; }
t1=$(ms_now)
postfix_start "$W/postfix" "unix:$S/policy.sock" ||
    { not_ok "Postfix starts: $(mta_log_tail "$W/postfix")"; exit 1; }
t2=$(ms_now)
ok "Dovecot started in $((t1 - t0)) ms (IMAP $DOVECOT_IMAP_PORT, POP3 $DOVECOT_POP3_PORT)"
ok "Postfix started in $((t2 - t1)) ms (smtpd $POSTFIX_PORT, submission $POSTFIX_SUBMISSION_PORT)"

# ---- 1. IMAP login from 203.0.113.9 -------------------------------------------
echo "# IMAP login hello@example.com from x-originating-ip 203.0.113.9"
m=$(mark)
out=$(imap_login hello@example.com secret 203.0.113.9)
rc=$?
echo "#   client: $out (exit $rc)"
check_eq "IMAP login with the right password succeeds" 0 "$rc"
for _ in $(seq 30); do [ "$(stub_seen "$m" | grep -c 'dovecot report')" -ge 1 ] && break; sleep 0.1; done
seen=$(stub_seen "$m")
echo "$seen" | sed 's/^/#   stub: /'
check_eq "Dovecot asks allow, allow, then report, for one IMAP login" "allow allow report" \
    "$(echo "$seen" | awk '$1 == "dovecot" {print $2}' | tr '\n' ' ' | sed 's/ $//')"
check "Dovecot's requests carry remote=203.0.113.9 and protocol=imap" \
    test "$(echo "$seen" | grep -c 'protocol=imap login=hello@example.com remote=203.0.113.9')" = 3
check "Dovecot's report says success=true policy_reject=false" \
    grep -q 'report .*success=true policy_reject=false' <<<"$seen"
check "Dovecot sends the configured API header" grep -q "auth='Basic YXV0aGd1YXJkOnRlc3Q='" <<<"$seen"

# ---- POP3 and a batch of IMAP logins ---------------------------------------
m=$(mark)
out=$(pop3_login user2@example.com secret2)
rc=$?
echo "# POP3 login user2@example.com: $out (exit $rc)"
check_eq "POP3 login succeeds" 0 "$rc"
for _ in $(seq 30); do [ "$(stub_seen "$m" | grep -c 'dovecot report')" -ge 1 ] && break; sleep 0.1; done
check "Dovecot's POP3 requests say protocol=pop3 remote=127.0.0.1" \
    grep -q 'report protocol=pop3 login=user2@example.com remote=127.0.0.1' <<<"$(stub_seen "$m")"
m=$(mark)
t0=$(ms_now)
out=$(printf '%s\n' "hello@example.com secret 192.0.2.1" "hello@example.com wrong 192.0.2.2" \
    "user2@example.com secret2 192.0.2.3" | imap_logins)
t1=$(ms_now)
echo "$out" | sed 's/^/#   imap_logins: /'
check_eq "imap_logins: ok, no, ok for right, wrong, right passwords" "ok no ok" \
    "$(echo "$out" | awk '{print $1}' | tr '\n' ' ' | sed 's/ $//')"
for _ in $(seq 30); do [ "$(stub_seen "$m" | grep -c 'dovecot report')" -ge 3 ] && break; sleep 0.1; done
check "a wrong password is reported as success=false policy_reject=false" \
    grep -q 'report protocol=imap login=hello@example.com remote=192.0.2.2 success=false policy_reject=false' \
    <<<"$(stub_seen "$m")"
echo "#   3 IMAP logins (one wrong) in $((t1 - t0)) ms"

# ---- 2. SMTP AUTH + message, XCLIENT ADDR=198.51.100.7 ------------------------
echo "# SMTP AUTH hello@example.com + one message, XCLIENT ADDR=198.51.100.7"
m=$(mark)
t0=$(ms_now)
out=$(smtp_send hello@example.com secret 198.51.100.7)
rc=$?
t1=$(ms_now)
echo "#   swaks: $out (exit $rc, $((t1 - t0)) ms)"
check_eq "the message is accepted" 0 "$rc"
check "swaks sent XCLIENT before AUTH" \
    test "$(grep -E '^ -> (XCLIENT|AUTH)' "$POSTFIX_DIR/swaks.out" | awk '{print $2}' | tr '\n' ' ')" = "XCLIENT AUTH "
check "Postfix logs the queue entry with client and sasl_username" wait_for "$POSTFIX_LOG" \
    'postfix/smtpd\[[0-9]+\]: [0-9A-F]+: client=unknown\[198\.51\.100\.7\], sasl_method=PLAIN, sasl_username=hello@example\.com'
check "the message reached the queue (cleanup logged it)" \
    wait_for "$POSTFIX_LOG" 'postfix/cleanup\[[0-9]+\]: [0-9A-F]+: message-id='
check "and was discarded" wait_for "$POSTFIX_LOG" 'postfix/discard\[[0-9]+\]: .*status=sent'
seen=$(stub_seen "$m")
echo "$seen" | sed 's/^/#   stub: /'
check "the policy socket gets RCPT with sasl_username and client_address=198.51.100.7" \
    grep -q '^postfix RCPT sasl_username=hello@example.com client_address=198.51.100.7 ' <<<"$seen"
check "and END-OF-MESSAGE, same instance" \
    test "$(echo "$seen" | awk '$1 == "postfix" {print $5}' | sort -u | wc -l)/$(echo "$seen" |
        grep -c '^postfix END-OF-MESSAGE')" = 1/1
check "Dovecot's policy sees the SMTP AUTH as protocol=smtp remote=198.51.100.7" \
    grep -q 'dovecot report protocol=smtp login=hello@example.com remote=198.51.100.7 success=true' <<<"$seen"
m=$(mark)
out=$(SMTP_PORT=$POSTFIX_SUBMISSION_PORT smtp_send user2@example.com secret2 198.51.100.8)
rc=$?
echo "# the same through the submission port: $out (exit $rc)"
check_eq "the message through the submission port is accepted" 0 "$rc"
check "its log line says postfix/submission/smtpd" wait_for "$POSTFIX_LOG" \
    'postfix/submission/smtpd\[[0-9]+\]: [0-9A-F]+: client=unknown\[198\.51\.100\.8\], sasl_method=PLAIN, sasl_username=user2@example\.com'
check "its policy requests carry server_port=$POSTFIX_SUBMISSION_PORT" \
    grep -q "^postfix RCPT sasl_username=user2@example.com .* server_port=$POSTFIX_SUBMISSION_PORT " \
    <<<"$(stub_seen "$m")"

# ---- 3. status -1: the IMAP login is refused ---------------------------------
echo "# Dovecot's policy answers status -1"
echo -1 >"$S/dovecot-status"
echo "account locked" >"$S/dovecot-msg"
m=$(mark)
out=$(imap_login hello@example.com secret 203.0.113.9)
rc=$?
echo "#   client: $out (exit $rc)"
check_eq "status -1: the IMAP login with the right password fails" 1 "$rc"
check "the client sees the policy's msg" grep -q 'account locked' <<<"$out"
for _ in $(seq 30); do [ "$(stub_seen "$m" | grep -c 'dovecot report')" -ge 1 ] && break; sleep 0.1; done
seen=$(stub_seen "$m")
echo "$seen" | sed 's/^/#   stub: /'
check "one allow, then a report success=false policy_reject=true" test \
    "$(echo "$seen" | awk '$1 == "dovecot" {print $2}' | tr '\n' ' ')$(echo "$seen" | grep -c 'policy_reject=true')" \
    = "allow report 1"
m=$(mark)
out=$(smtp_send hello@example.com secret 198.51.100.7)
rc=$?
echo "#   SMTP AUTH under status -1: $out (exit $rc)"
check_eq "status -1: SMTP AUTH through Dovecot fails too (swaks exit 28)" 28 "$rc"
echo 0 >"$S/dovecot-status"
: >"$S/dovecot-msg"

# ---- 4. action=REJECT: 554 at RCPT, nothing queued ---------------------------
echo "# Postfix's policy answers REJECT 5.7.1 locked"
echo "REJECT 5.7.1 locked" >"$S/postfix-action"
queued=$(postfix_queued)
m=$(mark)
out=$(smtp_send hello@example.com secret 198.51.100.7)
rc=$?
echo "#   swaks: $out (exit $rc)"
check_eq "REJECT: swaks fails at RCPT (exit 24)" 24 "$rc"
check "REJECT: the reply is 554 5.7.1 ... locked" grep -q '^554 5.7.1 .*locked' <<<"$out"
check "the rejection is logged" wait_for "$POSTFIX_LOG" 'NOQUEUE: reject: RCPT from unknown\[198\.51\.100\.7\]: 554 5\.7\.1'
sleep 0.5
check_eq "REJECT: no message reached the queue" "$queued" "$(postfix_queued)"
stub_seen "$m" | sed 's/^/#   stub: /'
: >"$S/postfix-action"
rm -f "$S/postfix-action"

# ---- the policy server gone ----------------------------------------------------
echo "# the stub stopped"
mta_kill_wait "$STUB_PID"
STUB_PID=
out=$(imap_login hello@example.com secret 203.0.113.10)
rc=$?
echo "#   IMAP: $out (exit $rc)"
check_eq "policy server down: the IMAP login goes through (reject_on_fail = no)" 0 "$rc"
out=$(smtp_send hello@example.com secret 198.51.100.7)
rc=$?
echo "#   SMTP: $out (exit $rc)"
check "policy socket gone: 451 4.3.5 at RCPT" grep -q '^451 4.3.5' <<<"$out"

# ---- stop ----------------------------------------------------------------------
master=$(sed -n '1s/ //gp' "$POSTFIX_DIR/queue/pid/master.pid")
procs="$master $DOVECOT_PID $(ps -o pid= --ppid "$master") $(ps -o pid= --ppid "$DOVECOT_PID")"
t0=$(ms_now)
postfix_stop
t1=$(ms_now)
dovecot_stop
t2=$(ms_now)
ok "Postfix stopped in $((t1 - t0)) ms, Dovecot in $((t2 - t1)) ms"
left=
for pid in $procs; do mta_alive "$pid" && left="$left $pid"; done
check "none of their $(echo $procs | wc -w) processes is left${left:+ (left:$left)}" test -z "$left"
echo "# Dovecot log: $(grep -c . "$W/dovecot/dovecot.log") lines, errors: $(grep -ciE 'error|fatal|panic' "$W/dovecot/dovecot.log")"
echo "# Postfix log: $(grep -c . "$W/postfix/postfix.log") lines, warnings: $(grep -ciE 'warning|fatal|panic' "$W/postfix/postfix.log")"
grep -iE 'error|fatal|panic' "$W/dovecot/dovecot.log" | sed 's/^/#   /' | head -5
grep -iE 'warning|fatal|panic' "$W/postfix/postfix.log" | sed 's/^/#   /' | head -5
[ "$FAILED" = 0 ] && echo "# all checks passed" || echo "# $FAILED checks failed"
exit $((FAILED > 0))
