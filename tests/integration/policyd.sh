#!/bin/bash
# policyd.sh - authguard-policyd spoken to as Postfix and Dovecot speak to
# it (tests/standins/policy-client writes Postfix 3.7's and Dovecot 2.3's
# requests byte for byte as ../shared/postfix-dovecot-interfaces.md shows
# them), on a unix socket, TCP and spawn mode, against the suite's Redis.
# The real Postfix and Dovecot in front of it: policyd-mta.sh.
#
# Checks: a login counts once per SMTP connection, not per request; a
# botnet's logins lock the account (REJECT 5.7.1 at RCPT, Dovecot status
# -1 at allow); Dovecot's report counts logins and failures, its SMTP
# report and Postfix's request for the same login count once; sending
# limits at RCPT and END-OF-MESSAGE; Basic authentication; malformed,
# oversized and wrong-method requests get a protocol error and the daemon
# keeps serving; the store down fails open (or tempfails, configured);
# the control file reloads when it changes and on SIGHUP, a broken one is
# not taken; idle and request-count limits; SIGTERM stops it cleanly; 200
# clients and 100,000 requests at once, every count exact.
source "${AG_ROOT:?run through tests/run-all}/tests/lib.sh" || exit 1
trap_cleanup

W=$AG_TMP/policyd
mkdir -p "$W"
CLIENT=$AG_ROOT/tests/standins/policy-client
PD=$AG_BUILD/authguard-policyd
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
redis() { redis-cli -s "$AG_REDIS_SOCK" "$@"; }
locked() { [ "$(redis exists "$1{$2}:lock")" = 1 ]; }
rate() {
    redis hgetall "$1{$2}:rate" | paste - - | awk -v k="$3" '
        $1 ~ "^s[0-9]+" k "$" { n += $2 } END { print n + 0 }'
}
wait_for() { # wait_for COMMAND...: up to 5 s
    for _ in $(seq 50); do "$@" && return 0; sleep 0.1; done
    return 1
}
# start_daemon NAME CONTROL ARGS...: starts it in the background; sets PID_<NAME>
start_daemon() {
    local name=$1 control=$2
    shift 2
    "$PD" --control "$control" "$@" 2>>"$W/$name.stderr" &
    eval "PID_$name=$!"
    on_exit "kill $! 2>/dev/null"
}
pf() { "$CLIENT" postfix "$@"; }
dv() { "$CLIENT" dovecot "$@"; }
logins() { grep -c "user=$2 .*outcome=success" "$1/authguard.log" || true; }

check "--help names both protocols" bash -c '"$1" --help | grep -q "Dovecot"' _ "$PD"
check_eq "no listener: usage error (exit 2)" 2 "$("$PD" --control /nonexistent >/dev/null 2>&1; echo $?)"
check_eq "a listener that cannot be opened: exit 3" 3 \
    "$("$PD" --control /nonexistent --postfix unix:/nonexistent/dir/s >/dev/null 2>&1; echo $?)"

# ---- Postfix: logins, locks, limits ------------------------------------------
C=$(new_control policyd <<EOF
dovecot-policy-secret = dove:cot-secret-1
max-messages-short = 3
EOF
)
P=t-policyd:
PORT=$(free_port) DPORT=$(free_port)
start_daemon main "$C" --postfix "unix:$W/pf.sock" --postfix "tcp:127.0.0.1:$PORT" \
    --dovecot "tcp:127.0.0.1:$DPORT" --socket-mode 0666
check "the daemon listens on its unix socket" wait_for test -S "$W/pf.sock"
check "... and on TCP" wait_for bash -c "exec 3<>/dev/tcp/127.0.0.1/$DPORT"
check "the unix socket has the mode asked for" test "$(stat -c %a "$W/pf.sock")" = 666
S=unix:$W/pf.sock

check_eq "a first login through Postfix: DUNNO" DUNNO \
    "$(pf "$S" sasl_username=hello@example.com client_address=198.51.100.7 client_port=40001)"
pf "$S" sasl_username=hello@example.com client_address=198.51.100.7 client_port=40001 recipient_count=1 >/dev/null
pf "$S" sasl_username=hello@example.com client_address=198.51.100.7 client_port=40001 \
    protocol_state=END-OF-MESSAGE recipient_count=2 >/dev/null
check_eq "three requests of one SMTP connection count one login" 1 "$(logins "$C" hello@example.com)"
check "... with the service from server_port (587: submission)" \
    grep -q "user=hello@example.com .*service=submission" "$C/authguard.log"
check_eq "END-OF-MESSAGE counts the message" 1 "$(rate "$P" hello@example.com m)"
check_eq "... and its recipients" 2 "$(rate "$P" hello@example.com r)"
check_eq "a request without sasl_username: DUNNO, nothing counted" DUNNO \
    "$(pf "$S" sasl_username= sasl_method= client_address=192.0.2.99)"
check_eq "over TCP the same" DUNNO \
    "$(pf "tcp:127.0.0.1:$PORT" sasl_username=hello@example.com client_address=198.51.100.7 client_port=40001)"

# sending limit: max-messages-short = 3
for i in 1 2; do
    pf "$S" sasl_username=hello@example.com client_address=198.51.100.7 client_port=40001 \
        protocol_state=END-OF-MESSAGE recipient_count=1 >/dev/null
done
check_eq "RCPT of a 4th message over max-messages-short = 3: deferred" \
    "DEFER_IF_PERMIT 4.7.1 sending limit reached, try later" \
    "$(pf "$S" sasl_username=hello@example.com client_address=198.51.100.7 client_port=40001)"

# A botnet: one SMTP connection from each of 7 new networks.
for i in 1 2 3 4 5 6 7; do
    pf "$S" sasl_username=victim@example.com "client_address=46.$((100 + i)).66.80" \
        "client_port=$((50000 + i))" >"$W/bot.$i"
done
check_eq "the botnet's first 5 networks pass" "DUNNO DUNNO DUNNO DUNNO DUNNO" \
    "$(cat "$W"/bot.[1-5] | tr '\n' ' ' | sed 's/ $//')"
check_eq "the 6th new network locks the account: REJECT 5.7.1 at RCPT" \
    "REJECT 5.7.1 this account is locked, ask your postmaster" "$(cat "$W/bot.6")"
check "the account is locked in the store" locked "$P" victim@example.com
check_eq "a later request of an old session: REJECT too" \
    "REJECT 5.7.1 this account is locked, ask your postmaster" \
    "$(pf "$S" sasl_username=victim@example.com client_address=46.101.66.80 client_port=50001)"
check "the lock is logged as the hooks log it" grep -q "^@[0-9a-f]* lock user=victim@example.com" "$C/authguard.log"

# ---- Dovecot --------------------------------------------------------------------
D=tcp:127.0.0.1:$DPORT
A=(--auth dove:cot-secret-1)
check_eq "dovecot: without Authorization: 401" 401 "$(dv "$D" allow | cut -d' ' -f1)"
check_eq "dovecot: a wrong secret: 401" 401 "$(dv "$D" allow --auth dove:wrong | cut -d' ' -f1)"
check_eq "dovecot: allow for a fresh user: status 0" '200 {"status":0,"msg":""}' \
    "$(dv "$D" allow login=imapuser@example.com "${A[@]}")"
check_eq "dovecot: allow for the locked account: status -1" \
    '200 {"status":-1,"msg":"this account is locked, ask your postmaster"}' \
    "$(dv "$D" allow login=victim@example.com "${A[@]}")"
for i in 1 2 3 4 5 6 7; do
    dv "$D" report login=imapbot@example.com "remote=81.$((10 + i)).1.1" success=true "${A[@]}" >"$W/dbot.$i"
done
check "dovecot: reports of 7 new networks lock the account" locked "$P" imapbot@example.com
check_eq "... and the next allow is refused" -1 \
    "$(dv "$D" allow login=imapbot@example.com "${A[@]}" | sed 's/.*"status":\([-0-9]*\).*/\1/')"
check "dovecot: the logins carry the service (imap)" \
    grep -q "user=imapbot@example.com .*service=imap" "$C/authguard.log"
check_eq "authguardctl show lists the service of each login (imap)" imap \
    "$(AUTHGUARD_CONTROL=$C "$AG_BUILD/authguardctl" show --json imapbot@example.com |
        python3 -c 'import json,sys; print(" ".join(sorted({o["service"] for o in json.load(sys.stdin)["observations"]})))')"
check "... and submission for a Postfix login on port 587" \
    bash -c 'AUTHGUARD_CONTROL=$1 "$2" show hello@example.com | grep -q " submission "' _ "$C" "$AG_BUILD/authguardctl"
dv "$D" report login=imapuser@example.com remote=203.0.113.9 success=false policy_reject=false pwhash=0b11 "${A[@]}" >/dev/null
check "dovecot: a wrong password counts as a failure" \
    grep -q "user=imapuser@example.com .*outcome=bad-password" "$C/authguard.log"
n=$(grep -c "user=imapuser@example.com" "$C/authguard.log")
dv "$D" report login=imapuser@example.com remote=203.0.113.9 success=false policy_reject=true "${A[@]}" >/dev/null
check_eq "dovecot: a login our allow refused is not counted again" "$n" \
    "$(grep -c "user=imapuser@example.com" "$C/authguard.log")"
# SMTP AUTH through Dovecot SASL: Dovecot reports it, then Postfix asks.
dv "$D" report login=smtpuser@example.com remote=198.51.100.50 protocol=smtp session_id= success=true "${A[@]}" >/dev/null
pf "$S" sasl_username=smtpuser@example.com client_address=198.51.100.50 client_port=41000 >/dev/null
check_eq "one SMTP login that Dovecot reports and Postfix asks about counts once" 1 \
    "$(logins "$C" smtpuser@example.com)"
check_eq "dovecot: a body that is not JSON: 400" 400 \
    "$(printf 'POST /?command=allow HTTP/1.1\r\nContent-Length: 5\r\nAuthorization: Basic ZG92ZTpjb3Qtc2VjcmV0LTE=\r\n\r\nhello' |
        "$CLIENT" postfix-raw "$D" | head -1 | cut -d' ' -f2)"
check_eq "dovecot: GET: 405" 405 \
    "$(printf 'GET / HTTP/1.1\r\nAuthorization: Basic ZG92ZTpjb3Qtc2VjcmV0LTE=\r\n\r\n' |
        "$CLIENT" postfix-raw "$D" | head -1 | cut -d' ' -f2)"
check_eq "dovecot: chunked: 501" 501 \
    "$(printf 'POST /?command=allow HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n' |
        "$CLIENT" postfix-raw "$D" | head -1 | cut -d' ' -f2)"
check_eq "dovecot: a body over 64 KiB: 413" 413 \
    "$(printf 'POST /?command=allow HTTP/1.1\r\nContent-Length: 10000000\r\n\r\n' |
        "$CLIENT" postfix-raw "$D" | head -1 | cut -d' ' -f2)"

# ---- malformed Postfix requests ---------------------------------------------
out=$(printf 'request=smtpd_access_policy\nthis line has no equals sign\n\n' | "$CLIENT" postfix-raw "$S")
check_eq "a line without '=': DUNNO, and the connection is closed" "action=DUNNO" "$(echo "$out" | head -1)"
check "... and logged" grep -q "policyd postfix: .*DUNNO, connection closed" "$C/authguard.log"
out=$(head -c 200000 /dev/zero | tr '\0' 'a' | "$CLIENT" postfix-raw "$S")
check_eq "a request over the size limit: DUNNO and closed" "action=DUNNO" "$(echo "$out" | head -1)"
check_eq "the daemon goes on serving" DUNNO \
    "$(pf "$S" sasl_username=hello2@example.com client_address=198.51.100.7)"
out=$(printf 'request=smtpd_access_policy\nsasl_username=a@example.com\nclient_address=192.0.2.1\n\nrequest=smtpd_access_policy\nsasl_username=a@example.com\nclient_address=192.0.2.1\n\n' |
    "$CLIENT" postfix-raw "$S")
check_eq "two requests in one write: two answers, in order" "action=DUNNO action=DUNNO" \
    "$(echo "$out" | grep '^action=' | tr '\n' ' ' | sed 's/ $//')"

# ---- reload -------------------------------------------------------------------
echo "max-messages-short = 1" >>"$C/authguard"
sleep 3
pf "$S" sasl_username=reload@example.com client_address=198.51.100.8 client_port=1 protocol_state=END-OF-MESSAGE recipient_count=1 >/dev/null
check_eq "a changed control file is read again (max-messages-short = 1)" \
    "DEFER_IF_PERMIT 4.7.1 sending limit reached, try later" \
    "$(pf "$S" sasl_username=reload@example.com client_address=198.51.100.8 client_port=1)"
check "... and logged" grep -q "policyd: configuration reloaded" "$C/authguard.log"
echo "window-short = not-a-duration" >>"$C/authguard"
kill -HUP "$PID_main"
sleep 0.5
check "a broken control file is not taken (logged)" \
    grep -q "keeping the configuration in force" "$C/authguard.log"
check_eq "... and the one in force keeps working" \
    "DEFER_IF_PERMIT 4.7.1 sending limit reached, try later" \
    "$(pf "$S" sasl_username=reload@example.com client_address=198.51.100.8 client_port=1)"
sed -i '/not-a-duration/d; /max-messages-short = 1/d' "$C/authguard"
kill -HUP "$PID_main"

# ---- spawn mode ---------------------------------------------------------------
out=$(printf 'request=smtpd_access_policy\nsasl_username=victim@example.com\nclient_address=46.101.66.80\n\n' |
    "$PD" --control "$C" --spawn)
check_eq "spawn mode: one request on stdin, the answer on stdout" \
    "action=REJECT 5.7.1 this account is locked, ask your postmaster" "$(echo "$out" | head -1)"

# ---- a control file with a typo and no last valid copy --------------------------
TYPO=$W/typo-root/control # a parent of its own: no last valid copy of another suite's
mkdir -p "$TYPO"
printf 'redis = unix:%s\nkey-prefix = t-policyd:\nlock-new-networks-shrot = 3\n' "$AG_REDIS_SOCK" >"$TYPO/authguard"
start_daemon typo "$TYPO" --postfix "unix:$W/typo.sock"
wait_for test -S "$W/typo.sock"
check_eq "a typo at the start with no last valid copy: answered unchecked (DUNNO), not refused" DUNNO \
    "$(pf "unix:$W/typo.sock" sasl_username=victim@example.com client_address=46.101.66.80)"
check "... with no new, empty store opened beside the control directory (it let locked accounts in)" \
    test ! -e "$W/typo-root/authguard"
check "... and said on stderr, naming the line" \
    grep -q "^authguard-policyd: .*authguard:3: unknown key 'lock-new-networks-shrot'.*without any check" "$W/typo.stderr"
sed -i 's/shrot/short/' "$TYPO/authguard"
sleep 3
check_eq "the file fixed: read again, and the locked account refused" \
    "REJECT 5.7.1 this account is locked, ask your postmaster" \
    "$(pf "unix:$W/typo.sock" sasl_username=victim@example.com client_address=46.101.66.80)"

# ---- the store down --------------------------------------------------------------
DOWN=$(new_control policyd-down <<EOF
redis = unix:$W/no-redis.sock
EOF
)
start_daemon down "$DOWN" --postfix "unix:$W/down.sock" --dovecot "unix:$W/down-dv.sock"
wait_for test -S "$W/down.sock"
check_eq "store down: DUNNO (fail-open)" DUNNO \
    "$(pf "unix:$W/down.sock" sasl_username=hello@example.com client_address=198.51.100.7)"
check "... logged as an error" grep -q "store unavailable" "$DOWN/authguard.log"
check_eq "store down: dovecot allow gets status 0" '200 {"status":0,"msg":""}' \
    "$(dv "unix:$W/down-dv.sock" allow)"
TF=$(new_control policyd-tempfail <<EOF
redis = unix:$W/no-redis.sock
on-store-failure = tempfail
EOF
)
start_daemon tf "$TF" --postfix "unix:$W/tf.sock" --dovecot "unix:$W/tf-dv.sock"
wait_for test -S "$W/tf.sock"
check_eq "store down, on-store-failure = tempfail: DEFER_IF_PERMIT" \
    "DEFER_IF_PERMIT 4.3.0 service temporarily unavailable" \
    "$(pf "unix:$W/tf.sock" sasl_username=hello@example.com client_address=198.51.100.7)"
check_eq "... and dovecot a delay" 5 \
    "$(dv "unix:$W/tf-dv.sock" allow | sed 's/.*"status":\([-0-9]*\).*/\1/')"

# ---- connection limits -----------------------------------------------------------
start_daemon lim "$C" --postfix "unix:$W/lim.sock" --idle-timeout 1 --max-requests 2
wait_for test -S "$W/lim.sock"
one='request=smtpd_access_policy\nsasl_username=a@example.com\nclient_address=192.0.2.1\n\n'
out=$(printf "$one$one$one" | "$CLIENT" postfix-raw "unix:$W/lim.sock")
check_eq "--max-requests 2: two answers, then the connection is closed" 2 "$(grep -c '^action=' <<<"$out")"
t0=$(date +%s%N)
out=$(python3 -c '
import socket, sys
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); s.settimeout(10)
print("closed" if s.recv(10) == b"" else "data")' "$W/lim.sock")
ms=$((($(date +%s%N) - t0) / 1000000))
check "--idle-timeout 1: a silent connection is closed within 3 s (${ms} ms)" \
    test "$out" = closed -a "$ms" -lt 3000

# ---- SIGTERM ----------------------------------------------------------------------
kill -TERM "$PID_lim"
wait "$PID_lim"
check_eq "SIGTERM: exit 0" 0 "$?"
check "... and its unix socket is removed" test ! -e "$W/lim.sock"

# ---- load: 200 clients, 100,000 requests --------------------------------------------
LOAD=$(new_control policyd-load <<EOF
max-messages-short = 1000000
max-recipients-short = 1000000
max-recipients-long = 1000000
EOF
)
start_daemon load "$LOAD" --postfix "unix:$W/load.sock" --dovecot "unix:$W/load-dv.sock" --max-connections 1000
wait_for test -S "$W/load.sock"
out=$("$CLIENT" load "unix:$W/load.sock" --clients 200 --requests 100000 --users 500)
echo "# load: $out"
check "200 clients, 100,000 requests: every one answered, no error" \
    grep -q "answered 100000 errors 0 " <<<"$out"
total=0
for u in $(seq 0 499); do total=$((total + $(rate t-policyd-load: "load$u@example.com" m))); done
check_eq "... and the store counted exactly 100,000 messages" 100000 "$total"
check_eq "nothing on the daemons' stderr but their own news" "" \
    "$(grep -hv '^authguard-policyd: ' "$W"/*.stderr)"
check "... which says that it serves" grep -q "^authguard-policyd: serving unix:$W/pf.sock (postfix)" "$W/main.stderr"
