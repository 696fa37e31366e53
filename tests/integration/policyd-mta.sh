#!/bin/bash
# policyd-mta.sh - authguard-policyd behind Debian's real Postfix and
# Dovecot (tests/mta.sh: private instances on loopback, each started once),
# on the suite's Redis. policyd.sh speaks the protocols byte for byte; this
# one shows the servers themselves asking the daemon and obeying it.
#
# Postfix does SMTP AUTH through Dovecot's SASL, asks the daemon on a unix
# socket (check_policy_service at RCPT and END-OF-MESSAGE); Dovecot asks it
# over HTTP on TCP (auth_policy_server_url, also for the SMTP logins Postfix
# hands it; Dovecot 2.3.19 refuses a unix: URL, "Not an HTTP URL", and then
# lets every login through unasked). Client addresses: swaks
# --xclient-addr, IMAP ID x-originating-ip.
#
# Dovecot does not wait for the answer to its report: for one SMTP login,
# its report (protocol smtp) and Postfix's first request reach the daemon
# in either order, sometimes at once. The counts below caught both orders
# counting the login twice (1 to 2 extra lines of 6 per run).
#
# Checks: a normal message is queued and counted once (one message, one
# login, although Dovecot reports the SMTP login and Postfix asks about it
# too); a botnet's SMTP logins lock the account and its mail stops before
# the queue; IMAP logins from many networks lock the account, after which
# Dovecot refuses the right password over IMAP and POP3; a wrong password
# counts as a failure; IMAP and SMTP logins add up to one lock; the daemon
# stopped: Postfix tempfails (451 4.3.5), Dovecot lets logins through;
# authguardctl scan reads Postfix's own log. Skips when Postfix, Dovecot or
# swaks are not installed, or when not root (the servers start as root).
source "${AG_ROOT:?run through tests/run-all}/tests/lib.sh" || exit 1

missing=
for tool in postfix dovecot swaks python3 ss base64; do
    command -v "$tool" >/dev/null 2>&1 || missing="$missing $tool"
done
for f in /usr/lib/dovecot/imap /usr/lib/dovecot/pop3; do
    [ -x "$f" ] || missing="$missing $f"
done
if [ -n "$missing" ]; then
    ok "skipped: not installed:$missing (tools/install-deps test)"
    exit 0
fi
if [ "$(id -u)" != 0 ]; then
    ok "skipped: needs root (Postfix's master and Dovecot start as root)"
    exit 0
fi
source "$AG_ROOT/tests/mta.sh" || exit 1
trap_cleanup

W=$AG_TMP/policyd-mta
mkdir -p "$W/pd"
# Postfix's smtpd (user postfix) connects to the socket in here.
chmod 755 "$W/pd"
PD=$AG_BUILD/authguard-policyd
CTL=$AG_BUILD/authguardctl
P='t-policyd-mta:'
T0=$(ms_now)

redis() { redis-cli -s "$AG_REDIS_SOCK" "$@"; }
locked() { [ "$(redis exists "$P{$1}:lock")" = 1 ]; }
# rate USER m|r: the messages (recipients) counted in the short window.
rate() {
    redis hgetall "$P{$1}:rate" | paste - - | awk -v k="$2" '
        $1 ~ "^s[0-9]+" k "$" { n += $2 } END { print n + 0 }'
}
# attempts USER: the lock's count of attempts after it.
attempts() { redis hget "$P{$1}:lock" attempts_after; }
# logins USER [OUTCOME]: the daemon's log lines for USER with that outcome.
logins() { grep -c "user=$1 .*outcome=${2:-success}" "$C/authguard.log" || true; }
wait_for() { # wait_for COMMAND...: up to 5 s
    local _
    for _ in $(seq 50); do "$@" && return 0; sleep 0.1; done
    return 1
}
# queued_at_least N: Postfix's cleanup has logged N messages (postlogd
# writes asynchronously).
queued_at_least() { [ "$(postfix_queued)" -ge "$1" ]; }
# settle: Postfix's and the daemon's logs are written after the client got
# its answer; a short wait before counting that something did NOT happen.
settle() { sleep 0.3; }
code() { sed -n '1s/^\([0-9][0-9][0-9]\).*/\1/p' <<<"$1"; }

# The order matters: on_exit runs last-registered first, so the servers
# stop before the daemon they ask.
PD_PID=
# shellcheck disable=SC2016 # PD_PID as it is at exit (emptied once stopped)
on_exit 'mta_kill_wait "$PD_PID"'
on_exit dovecot_stop
on_exit postfix_stop

SECRET=dove:cot-secret-1
C=$(new_control policyd-mta <<EOF
dovecot-policy-secret = $SECRET
EOF
)
# The control directory is read by the daemon only (it runs as root here).
DPORT=$(mta_free_ports 1)
"$PD" --control "$C" --postfix "unix:$W/pd/pf.sock" --dovecot "tcp:127.0.0.1:$DPORT" \
    --socket-mode 0666 --workers 2 </dev/null 2>>"$W/pd.stderr" &
PD_PID=$!
if ! wait_for test -S "$W/pd/pf.sock" || ! wait_for mta_listening "$DPORT"; then
    not_ok "authguard-policyd starts ($(tail -3 "$W/pd.stderr" | tr '\n' ' '))"
    exit 1
fi

# The accounts of the checks (hello@ and user2@ come with mta.sh).
DOVECOT_USERS="smtpbot@example.com pw-smtp
imapbot@example.com pw-imap
mixbot@example.com pw-mix
hold@example.com pw-hold"
dovecot_start "$W/dovecot" "http://127.0.0.1:$DPORT/" \
    "Authorization: Basic $(printf %s "$SECRET" | base64)" ||
    { not_ok "Dovecot starts: $(mta_log_tail "$W/dovecot")"; exit 1; }
postfix_start "$W/postfix" "unix:$W/pd/pf.sock" ||
    { not_ok "Postfix starts: $(mta_log_tail "$W/postfix")"; exit 1; }
echo "# servers up in $(($(ms_now) - T0)) ms (IMAP $DOVECOT_IMAP_PORT, POP3 $DOVECOT_POP3_PORT, SMTP $POSTFIX_PORT, policy HTTP $DPORT)"

# ---- 1. Postfix ------------------------------------------------------------
out=$(smtp_send hello@example.com secret 198.51.100.7)
rc=$?
echo "# normal message: $out (swaks exit $rc)"
check_eq "policy socket reachable by smtpd: an authenticated message is accepted" 0 "$rc"
check "... and reaches the queue" wait_for queued_at_least 1
check_eq "END-OF-MESSAGE counts the message once (not per policy request)" 1 "$(rate hello@example.com m)"
check_eq "... and its one recipient" 1 "$(rate hello@example.com r)"
# Dovecot reports the SMTP AUTH (protocol smtp), Postfix asks at RCPT and
# END-OF-MESSAGE: one login.
check_eq "one SMTP login that Dovecot reports and Postfix asks about counts once" 1 \
    "$(logins hello@example.com)"

# A botnet: one SMTP session from each of 7 new networks.
q0=$(postfix_queued)
bot=()
for i in 1 2 3 4 5 6 7; do
    out=$(smtp_send smtpbot@example.com pw-smtp "46.$((100 + i)).66.80")
    bot+=("$(code "$out")")
    echo "# smtpbot from 46.$((100 + i)).66.80: $out"
done
check_eq "the botnet's first 5 networks send" "250 250 250 250 250" "${bot[*]:0:5}"
check "the account is locked after the 6th network" locked smtpbot@example.com
# Dovecot's report of the 6th SMTP AUTH locks it; Dovecot does not undo a
# login it reported (the report comes after the password check), so that
# session is stopped at RCPT by Postfix's request (554); from then on
# Dovecot's allow refuses the AUTH itself (535).
check "the 6th network's session is refused (554 at RCPT or 535 at AUTH)" \
    grep -qE '^(554|535)$' <<<"${bot[5]}"
check_eq "the locked account's next session: 535 at AUTH (Dovecot asks the daemon)" 535 "${bot[6]}"
settle
check_eq "the locked account's mail does not reach the queue" $((q0 + 5)) "$(postfix_queued)"
check_eq "the botnet's SMTP logins counted once each" 6 "$(logins smtpbot@example.com)"

# ---- 2. Dovecot --------------------------------------------------------------
lines=
for i in 1 2 3 4 5 6 7; do lines+="imapbot@example.com pw-imap 81.$((10 + i)).1.1"$'\n'; done
lines+="user2@example.com wrong-password 203.0.113.50"$'\n'
t0=$(ms_now)
out=$(imap_logins <<<"$lines")
echo "$out" | sed 's/^/# imap: /'
echo "# 8 IMAP logins in $(($(ms_now) - t0)) ms"
res=$(awk '{print $1}' <<<"$out" | tr '\n' ' ' | sed 's/ $//')
check_eq "IMAP logins from 6 new networks: the 6th locks, the 7th is refused" \
    "ok ok ok ok ok ok no no" "$res"
check "the account is locked in the store" locked imapbot@example.com
check "... with the service imap in the log" grep -q "user=imapbot@example.com .*service=imap" "$C/authguard.log"
check "Dovecot's refusal carries the daemon's message" \
    grep -q '^no imapbot@example.com 81.17.1.1 .*locked' <<<"$out"
a0=$(attempts imapbot@example.com)
out=$(imap_login imapbot@example.com pw-imap 81.11.1.1)
rc=$?
echo "# after the lock, IMAP from a known network: $out"
check_eq "after the lock Dovecot refuses the right password over IMAP" 1 "$rc"
out=$(pop3_login imapbot@example.com pw-imap)
rc=$?
echo "# after the lock, POP3: $out"
check_eq "... and over POP3" 1 "$rc"
check_eq "the two refused logins count as attempts after the lock" $((a0 + 2)) \
    "$(attempts imapbot@example.com)"
check "... and log as refused logins (outcome=unchecked), not as message checks" \
    grep -q "refuse-locked user=imapbot@example.com address=81.11.1.1 service=imap outcome=unchecked" \
    "$C/authguard.log"
check "a wrong IMAP password counts as a failure (outcome=bad-password)" \
    wait_for grep -q "user=user2@example.com .*outcome=bad-password" "$C/authguard.log"
check_eq "... and not as a login" 0 "$(logins user2@example.com)"

# ---- 3. both at once ----------------------------------------------------------
lines=
for i in 1 2 3; do lines+="mixbot@example.com pw-mix 91.$((10 + i)).2.2"$'\n'; done
out=$(imap_logins <<<"$lines")
check_eq "mixbot: 3 IMAP logins from new networks pass" "ok ok ok" \
    "$(awk '{print $1}' <<<"$out" | tr '\n' ' ' | sed 's/ $//')"
q0=$(postfix_queued)
mix=()
for i in 1 2 3 4; do
    out=$(smtp_send mixbot@example.com pw-mix "92.$((10 + i)).3.3")
    mix+=("$(code "$out")")
    echo "# mixbot SMTP from 92.$((10 + i)).3.3: $out"
    [ "$i" = 2 ] && { locked mixbot@example.com && m5=locked || m5=open; }
done
check_eq "3 IMAP + 2 SMTP networks: not locked yet" open "$m5"
check "the 6th network (SMTP after 3 IMAP) locks: IMAP and SMTP add up to one lock" \
    locked mixbot@example.com
check_eq "mixbot's sessions: 2 sent, the 6th refused, then AUTH refused" "250 250 5 535" \
    "${mix[0]} ${mix[1]} ${mix[2]:0:1} ${mix[3]}"
settle
check_eq "... and only the 2 messages before the lock are queued" $((q0 + 2)) "$(postfix_queued)"
check_eq "each SMTP login counted once though Dovecot and Postfix both see it (3 IMAP + 3 SMTP)" 6 \
    "$(logins mixbot@example.com)"

# ---- 5. authguardctl scan on Postfix's own log ------------------------------------
# Postfix logged "QUEUEID: client=unknown[ADDR], sasl_method=PLAIN,
# sasl_username=USER" for every message it took (hello 1, smtpbot 5,
# mixbot 2). Its stamps are syslog's, without the year: --year.
wait_for queued_at_least 8
scan_out=$("$CTL" --control "$C" scan --json --year "$(date +%Y)" "$POSTFIX_LOG" 2>"$W/scan.err")
echo "# scan: $(tail -1 "$W/scan.err")"
scan_logins() {
    python3 -c '
import json, sys
n = 0
for line in sys.stdin:
    d = json.loads(line)
    if d.get("user") == sys.argv[1]:
        n = d.get("logins", 0)
print(n)' "$1" <<<"$scan_out"
}
check_eq "scan reads Postfix's sasl_username lines: smtpbot's 5 SMTP logins" 5 \
    "$(scan_logins smtpbot@example.com)"
check_eq "... hello's 1 and mixbot's 2" "1 2" \
    "$(scan_logins hello@example.com) $(scan_logins mixbot@example.com)"

# ---- 4. the daemon stopped -------------------------------------------------------
kill -TERM "$PD_PID"
wait "$PD_PID"
rc=$?
PD_PID=
check_eq "the daemon stops on SIGTERM (exit 0)" 0 "$rc"
q0=$(postfix_queued)
out=$(smtp_send hold@example.com pw-hold 198.51.100.9)
echo "# daemon stopped, SMTP: $out"
# Postfix's own behaviour with its policy server gone (not ours to change):
# smtpd_policy_service_default_action, "451 4.3.5 Server configuration
# problem", at RCPT after smtpd_policy_service_try_limit (2) tries, so the
# client retries later and no mail is lost. A site that would rather let
# mail through while the daemon is down sets that parameter to DUNNO
# (postconf(5)); authguard cannot fail open from a daemon that is not
# there.
check "policy server down: Postfix answers 451 4.3.5 (the client retries; nothing is lost)" \
    grep -q '^451 4.3.5' <<<"$out"
settle
check_eq "... and queues nothing" "$q0" "$(postfix_queued)"
out=$(imap_login hold@example.com pw-hold 198.51.100.9)
rc=$?
echo "# daemon stopped, IMAP: $out"
check_eq "policy server down: Dovecot lets the login through (auth_policy_reject_on_fail = no)" 0 "$rc"

check_eq "nothing on the daemon's stderr but its own news" "" "$(grep -v '^authguard-policyd: ' "$W/pd.stderr")"
check "no errors in Dovecot's log while the daemon ran" \
    test "$(grep -ciE 'panic|fatal' "$DOVECOT_LOG")" = 0
echo "# run time: $(($(ms_now) - T0)) ms"
