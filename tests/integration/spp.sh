#!/bin/bash
# spp.sh - authguard-spp driven exactly as qmail-spp drives a plugin: run
# by qmail-smtpd itself (so every plugin of one SMTP session, and the
# QMAILQUEUE program, share one parent process), stdin closed, stdout a
# pipe whose lines are read as spp commands, stderr inherited, and the
# environment qmail-spp builds up command by command (tcpserver's
# variables, SMTPHELOHOST, SMTPMAILFROM, SMTPRCPTTO, SMTPRCPTCOUNT,
# SMTPRCPTCOUNTALL, SMTPRCPTHOSTSOK; [auth]: SMTPAUTHUSER, SMTPAUTHMETHOD).
#
# Here a subshell stands for one qmail-smtpd process: the plugins it runs
# are its children, run one after another from it. (Not `bash -c 'a; b'`:
# bash execs the last command of a -c string, whose parent is then bash's
# parent.) The session binding that [auth] writes is keyed by that parent.
#
# Checks: [auth] records a login and binds the session; a botnet's logins
# lock the user at [auth] (E535); [mail]/[rcpt]/[data] of a locked user
# print E554; recipient and message limits with tempfail (E451) and reject
# (E554); [data] counts the message and its recipients with both qmail-spp
# 0.42's and sagredo's SMTPRCPTCOUNT; an unauthenticated session claiming a
# user through TCPREMOTEINFO / SMTPAUTHUSER is never judged or counted as
# that user (unless trust-auth-env = yes, for SMTPAUTHUSER); store down or
# stopped, a bad control file, an unknown section: nothing printed, exit 0,
# quickly, logged. Over every run: exit code 0, stderr empty, each line a
# newline-terminated spp command carrying its SMTP code, never O.
source "${AG_ROOT:?run through tests/run-all}/tests/lib.sh" || exit 1
trap_cleanup

W=$AG_TMP/spp
mkdir -p "$W"
: >"$W/codes"    # exit code of every run
: >"$W/stderr"   # the plugins' inherited stderr
: >"$W/lines"    # every line any run printed
: >"$W/unterminated" # runs whose output did not end in a newline
: >"$W/slow"     # runs slower than 1 s
T=1374486000     # the test clock (AUTHGUARD_NOW)

# ---- the qmail-smtpd / qmail-spp stand-in ---------------------------------

# session IP [PORT]: the current (sub)shell becomes one SMTP session's
# qmail-smtpd: tcpserver's environment, qmail-spp's variables cleared.
session() {
    unset SMTPHELOHOST SMTPMAILFROM SMTPRCPTTO SMTPRCPTCOUNT SMTPRCPTCOUNTALL \
        SMTPRCPTHOSTSOK SMTPAUTHUSER SMTPAUTHMETHOD SMTP_AUTH_USER TCPREMOTEINFO \
        RELAYCLIENT NOSPP
    export PROTO=TCP TCPREMOTEIP=$1 TCPREMOTEPORT=$((20000 + RANDOM % 40000)) \
        TCPLOCALIP=192.0.2.25 TCPLOCALPORT=${2:-587} TCPLOCALHOST=mail.example.com
    SPP_ACCEPTED=0 SPP_ALL=0
}

# run_plugin SECTION COMMAND...: runs COMMAND as qmail-spp runs a plugin
# from this shell (a child of it, fd 0 closed, fd 1 a pipe, fd 2 the
# session's stderr) and reads what it printed. Sets SPP_OUT (the output
# without the final newline), SPP_RC, SPP_MS.
run_plugin() {
    local section=$1 out=$W/out.$BASHPID t0
    shift
    t0=$(ms_now)
    "$@" 0<&- 2>>"$W/stderr" | cat >"$out"
    SPP_RC=${PIPESTATUS[0]}
    SPP_MS=$(($(ms_now) - t0))
    SPP_OUT=$(cat "$out")
    echo "$SPP_RC" >>"$W/codes"
    [ "$SPP_MS" -lt 1000 ] || echo "$section ${SPP_MS}ms" >>"$W/slow"
    if [ -s "$out" ]; then
        [ "$(tail -c 1 "$out" | od -An -c | tr -d ' ')" = '\n' ] || echo "$section" >>"$W/unterminated"
        sed "s/^/$section: /" "$out" >>"$W/lines"
    fi
}

# spp SECTION [VAR=value ...]: qmail-spp's variables for this command are
# set in the session (they persist, as qmail-spp's env_put does), then
# build/authguard-spp-SECTION runs.
spp() {
    local section=$1
    shift
    [ $# -eq 0 ] || export "$@"
    run_plugin "$section" "$AG_BUILD/authguard-spp-$section"
}

# The SMTP commands, with qmail-spp's bookkeeping. SPP_VARIANT=sagredo
# updates SMTPRCPTCOUNT after an accepted RCPT, as sagredo's qmail-spp does;
# 0.42 leaves it at the value the last RCPT's plugins saw.
auth() { spp auth SMTPAUTHUSER="$1" SMTPAUTHMETHOD="${2:-login}"; }
mail() {
    SPP_ACCEPTED=0 SPP_ALL=0
    spp mail SMTPMAILFROM="$1"
}
rcpt() {
    SPP_ALL=$((SPP_ALL + 1))
    spp rcpt SMTPRCPTTO="$1" SMTPRCPTCOUNT=$SPP_ACCEPTED SMTPRCPTCOUNTALL=$SPP_ALL SMTPRCPTHOSTSOK=0
    if [[ $SPP_OUT != [ER]* ]]; then
        SPP_ACCEPTED=$((SPP_ACCEPTED + 1))
        [ "${SPP_VARIANT:-0.42}" = sagredo ] && export SMTPRCPTCOUNT=$SPP_ACCEPTED
    fi
    return 0
}
data() { spp data; }

is_e554() { [[ $SPP_OUT == "E554 "* ]]; }
is_e451() { [[ $SPP_OUT == "E451 "* ]]; }

# ---- helpers for the store ------------------------------------------------

# bound_user PREFIX PID: the user the session of qmail-smtpd PID is bound to.
bound_user() {
    local key
    key=$(redis --scan --pattern "$1session:*" | grep -F ":$2:" | head -1)
    [ -n "$key" ] && redis get "$key"
}
# rate PREFIX USER m|r: messages or recipients in the user's short window
rate() {
    redis hgetall "$1{$2}:rate" | paste - - | awk -v k="$3" '
        $1 ~ "^s[0-9]+" k "$" { n += $2 } END { print n + 0 }'
}
locked() { [ "$(redis exists "$1{$2}:lock")" = 1 ]; }

# ---------------------------------------------------------------------------
# The driver itself: fd 0 of a plugin is closed (not /dev/null), and the
# plugins of one session share its shell as parent.
(
    session 198.51.100.7
    run_plugin probe readlink /proc/self/fd/0
    check_eq "driver: the plugin's fd 0 is closed" "" "$SPP_OUT"
    run_plugin probe awk '{ print $4 }' /proc/self/stat
    a=$SPP_OUT
    run_plugin probe awk '{ print $4 }' /proc/self/stat
    check "driver: two plugins of one session have the session's shell as parent" \
        test "$a" = "$BASHPID" -a "$SPP_OUT" = "$BASHPID"
)
: >"$W/lines" # the probes are not plugins: start the tallies afresh
: >"$W/codes"
: >"$W/stderr"

# ---------------------------------------------------------------------------
# [auth] records the login and binds the session; a botnet locks the user.
C=$(new_control spp-lock </dev/null)
P=t-spp-lock:
export AUTHGUARD_CONTROL=$C
( # two days ago the owner logged in from home: a known network now
    export AUTHGUARD_NOW=$((T - 2 * 86400))
    session 198.51.100.7
    auth hello@example.com
)
(
    export AUTHGUARD_NOW=$T
    session 198.51.100.7
    export SMTPHELOHOST=laptop.example.net
    auth hello@example.com
    check_eq "[auth]: a normal login prints nothing" "" "$SPP_OUT"
    check_eq "[auth]: exit code 0" 0 "$SPP_RC"
    check "[auth]: the login is recorded" test "$(redis hlen "${P}{hello@example.com}")" -ge 1
    me=$BASHPID # (inside $(...) it would be the command substitution's own pid)
    check_eq "[auth]: the session of its parent (this qmail-smtpd) is bound to the user" \
        hello@example.com "$(bound_user "$P" "$me")"
    export TCPREMOTEINFO=hello@example.com # what the AUTH patch sets after a good AUTH
    mail hello@example.com
    check_eq "[mail]: the bound user passes" "" "$SPP_OUT"
    rcpt friend@example.org
    check_eq "[rcpt]: the bound user passes" "" "$SPP_OUT"

    # Meanwhile a botnet logs in as the user from new networks, one SMTP
    # session (one qmail-smtpd) each.
    for i in 1 2 3 4 5 6 7; do
        (
            export AUTHGUARD_NOW=$((T + i * 60))
            session "46.$((100 + i)).66.80"
            auth hello@example.com
            echo "$SPP_OUT" >"$W/bot.$i"
        )
    done
    check_eq "[auth]: the botnet's first 5 logins print nothing" "" "$(cat "$W"/bot.[1-5])"
    check "[auth]: the 6th new network's login prints E535" grep -q '^E535 ' "$W/bot.6"
    check "[auth]: the user is locked" locked "$P" hello@example.com
    check "[auth]: a login after the lock prints E535" grep -q '^E535 ' "$W/bot.7"

    # The owner's session is still open.
    export AUTHGUARD_NOW=$((T + 600))
    mail hello@example.com
    check "[mail]: a locked user gets E554" is_e554
    rcpt friend@example.org
    check "[rcpt]: a locked user gets E554" is_e554
    data
    check "[data]: a locked user gets E554" is_e554
)

# ---------------------------------------------------------------------------
# Sending limits: max-recipients-short = 3, max-messages-short = 2.
C=$(new_control spp-limit <<'EOF'
max-recipients-short = 3
max-messages-short = 2
EOF
)
P=t-spp-limit:
export AUTHGUARD_CONTROL=$C AUTHGUARD_NOW=$T
(
    session 198.51.100.20
    auth bob@example.com
    mail bob@example.com
    for r in 1 2 3; do rcpt "r$r@example.org"; echo "$SPP_OUT" >>"$W/bob"; done
    check_eq "[rcpt]: recipients 1-3 of a transaction pass (max-recipients-short = 3)" "" "$(cat "$W/bob")"
    rcpt r4@example.org
    check_eq "[rcpt]: the 4th RCPT saw SMTPRCPTCOUNT=3" 3 "$SMTPRCPTCOUNT"
    check "[rcpt]: the 4th recipient gets E451 (rate-limit-action = tempfail)" is_e451
    check_eq "[rcpt]: looks count nothing" "0 0" "$(rate "$P" bob@example.com m) $(rate "$P" bob@example.com r)"
)
(
    session 198.51.100.21
    auth carol@example.com
    mail carol@example.com
    rcpt a@example.org
    rcpt b@example.org
    rcpt c@example.org
    data
    check_eq "[data]: a message within the limits prints nothing" "" "$SPP_OUT"
    check_eq "[data]: counts the message and its 3 recipients (qmail-spp 0.42: SMTPRCPTCOUNT=2 at DATA)" \
        "1 3" "$(rate "$P" carol@example.com m) $(rate "$P" carol@example.com r)"
    mail carol@example.com # the next transaction of the session
    check_eq "[mail]: the second message (2 of max 2) passes" "" "$SPP_OUT"
    rcpt d@example.org
    check "[rcpt]: over max-recipients-short with the stored 3: E451" is_e451
)
(
    SPP_VARIANT=sagredo
    session 198.51.100.22
    auth dave@example.com
    mail dave@example.com
    rcpt a@example.org
    rcpt b@example.org
    data
    check_eq "[data]: counts 2 recipients with sagredo's SMTPRCPTCOUNT (2 at DATA)" \
        "1 2" "$(rate "$P" dave@example.com m) $(rate "$P" dave@example.com r)"
    mail dave@example.com
    rcpt c@example.org
    data
    check_eq "[data]: the 2nd message passes" "" "$SPP_OUT"
    mail dave@example.com
    check "[mail]: a 3rd message within the hour gets E451 (max-messages-short = 2)" is_e451
    rcpt d@example.org
    check "[rcpt]: and so does its RCPT" is_e451
)

C=$(new_control spp-reject <<'EOF'
max-recipients-short = 3
rate-limit-action = reject
EOF
)
export AUTHGUARD_CONTROL=$C
(
    session 198.51.100.23
    auth erin@example.com
    mail erin@example.com
    rcpt a@example.org
    rcpt b@example.org
    rcpt c@example.org
    check_eq "[rcpt]: 3 recipients pass under rate-limit-action = reject" "" "$SPP_OUT"
    rcpt d@example.org
    check "[rcpt]: the 4th recipient gets E554 (rate-limit-action = reject)" is_e554
)

# ---------------------------------------------------------------------------
# Spoofing: no [auth] in this session, so no binding. TCPREMOTEINFO can be
# set by the client (MAIL FROM:<x> AUTH=<user>), SMTPAUTHUSER is not
# trusted without trust-auth-env: the session is nobody's.
export AUTHGUARD_CONTROL=$AG_TMP/control-spp-lock
(
    session 203.0.113.66 25
    export TCPREMOTEINFO=hello@example.com SMTPAUTHUSER=hello@example.com SMTP_AUTH_USER=hello@example.com
    before="$(rate t-spp-lock: hello@example.com m) $(rate t-spp-lock: hello@example.com r)"
    mail hello@example.com
    check_eq "spoofing: [mail] claiming a locked victim is not judged as the victim" "" "$SPP_OUT"
    rcpt postmaster@example.com
    check_eq "spoofing: [rcpt] likewise" "" "$SPP_OUT"
    data
    check_eq "spoofing: [data] likewise" "" "$SPP_OUT"
    check_eq "spoofing: nothing counted for the victim" "$before" \
        "$(rate t-spp-lock: hello@example.com m) $(rate t-spp-lock: hello@example.com r)"
)
export AUTHGUARD_CONTROL=$AG_TMP/control-spp-limit
(
    session 203.0.113.67 25
    export TCPREMOTEINFO=dave@example.com SMTPAUTHUSER=dave@example.com
    before="$(rate t-spp-limit: dave@example.com m) $(rate t-spp-limit: dave@example.com r)"
    mail dave@example.com
    check_eq "spoofing: [mail] claiming a user over the limit is not refused as that user" "" "$SPP_OUT"
    rcpt x@example.com
    data
    check_eq "spoofing: [data] counts nothing for the claimed user" "$before" \
        "$(rate t-spp-limit: dave@example.com m) $(rate t-spp-limit: dave@example.com r)"
)

# trust-auth-env = yes: SMTPAUTHUSER / SMTP_AUTH_USER are identity, TCPREMOTEINFO never.
C=$(new_control spp-trust <<'EOF'
trust-auth-env = yes
EOF
)
export AUTHGUARD_CONTROL=$C
"$AG_BUILD/authguardctl" lock victim@example.com --reason test >/dev/null 2>&1
(
    session 203.0.113.68
    export SMTPAUTHUSER=victim@example.com
    mail victim@example.com
    check "trust-auth-env = yes: [mail] with SMTPAUTHUSER of a locked user gets E554" is_e554
    unset SMTPAUTHUSER
    export SMTP_AUTH_USER=victim@example.com
    rcpt x@example.org
    check "trust-auth-env = yes: [rcpt] with SMTP_AUTH_USER of a locked user gets E554" is_e554
    unset SMTP_AUTH_USER
    export TCPREMOTEINFO=victim@example.com
    mail victim@example.com
    check_eq "trust-auth-env = yes: TCPREMOTEINFO alone is still nobody" "" "$SPP_OUT"
)

# ---------------------------------------------------------------------------
# Failures: nothing printed, exit 0, within 1 s, logged.
C=$(new_control spp-down <<EOF
redis = unix:$W/no-such.sock
EOF
)
C2=$(new_control spp-down-tempfail <<EOF
redis = unix:$W/no-such.sock
on-store-failure = tempfail
EOF
)
for c in "$C" "$C2"; do
    (
        export AUTHGUARD_CONTROL=$c
        session 198.51.100.30
        : >"$W/down"
        auth frank@example.com
        echo "auth rc=$SPP_RC out=$SPP_OUT ms=$SPP_MS" >>"$W/down"
        mail frank@example.com
        echo "mail rc=$SPP_RC out=$SPP_OUT ms=$SPP_MS" >>"$W/down"
        rcpt a@example.org
        echo "rcpt rc=$SPP_RC out=$SPP_OUT ms=$SPP_MS" >>"$W/down"
        data
        echo "data rc=$SPP_RC out=$SPP_OUT ms=$SPP_MS" >>"$W/down"
        name=$(basename "$c")
        check_eq "store down ($name): every section prints nothing, exits 0" \
            "auth rc=0 out= mail rc=0 out= rcpt rc=0 out= data rc=0 out=" \
            "$(sed 's/ ms=.*//' "$W/down" | tr '\n' ' ' | sed 's/ $//')"
        check "store down ($name): each run within 1 s" \
            awk '{ sub("ms=", "", $4); if ($4 + 0 >= 1000) exit 1 }' "$W/down"
        check "store down ($name): logged" grep -q 'redis.*no-such.sock' "$c/authguard.log"
    )
done

# A stopped Redis (accepts connections, never answers): bounded by the timeouts.
if start_redis spp-stopped; then
    C=$(new_control spp-stopped <<EOF
redis = unix:$AG_TMP/spp-stopped.sock
EOF
    )
    kill -STOP "$REDIS_PID"
    (
        export AUTHGUARD_CONTROL=$C
        session 198.51.100.31
        auth gina@example.com
        a="$SPP_RC:$SPP_OUT:$SPP_MS"
        mail gina@example.com
        m="$SPP_RC:$SPP_OUT:$SPP_MS"
        check "stopped Redis: [auth] prints nothing, exits 0, within 1 s ($a)" \
            test "${a%:*}" = "0:" -a "${a##*:}" -lt 1000
        check "stopped Redis: [mail] prints nothing, exits 0, within 1 s ($m)" \
            test "${m%:*}" = "0:" -a "${m##*:}" -lt 1000
    )
    kill -CONT "$REDIS_PID"
else
    not_ok "stopped Redis: could not start a private redis-server"
fi

C=$(new_control spp-bad <<'EOF'
max-recipients-short = many
EOF
)
(
    export AUTHGUARD_CONTROL=$C
    session 198.51.100.32
    : >"$W/bad"
    for s in auth mail rcpt data; do
        spp "$s" SMTPAUTHUSER=hank@example.com SMTPMAILFROM=hank@example.com SMTPRCPTTO=a@example.org
        echo "$s rc=$SPP_RC out=$SPP_OUT" >>"$W/bad"
    done
    check_eq "bad control file: every section prints nothing, exits 0" \
        "auth rc=0 out= mail rc=0 out= rcpt rc=0 out= data rc=0 out=" "$(tr '\n' ' ' <"$W/bad" | sed 's/ $//')"
    # log-file comes from the bad file itself, so the log is syslog (and
    # AUTHGUARD_LOG_FILE, which the hooks honour without a control file).
    export AUTHGUARD_LOG_FILE=$W/bad.log
    spp mail
    check "bad control file: logged with file:line" \
        grep -q "spp: $C/authguard:4: 'max-recipients-short'.*; using the " "$W/bad.log"
)

(
    export AUTHGUARD_CONTROL=$AG_TMP/control-spp-limit AUTHGUARD_LOG_FILE=$W/section.log
    session 198.51.100.20
    auth bob@example.com >/dev/null
    export SMTPRCPTCOUNT=3 SMTPRCPTCOUNTALL=4 SMTPRCPTTO=x@example.org
    run_plugin plain "$AG_BUILD/authguard-spp"
    check_eq "no section (plain authguard-spp, no argument): prints nothing, exits 0" "0:" "$SPP_RC:$SPP_OUT"
    check "no section: logged" grep -q "spp: cannot tell the section" "$W/section.log"
    # A ':' line of control/smtpplugins runs through /bin/sh -c; with exec
    # the plugin keeps qmail-smtpd as its parent and finds the session.
    run_plugin sh-line /bin/sh -c "exec $AG_BUILD/authguard-spp rcpt"
    check "section as argument (':exec .../authguard-spp rcpt'): 4th recipient gets E451" is_e451
)

# ---------------------------------------------------------------------------
# Over every run above.
check_eq "every run exited 0" "" "$(grep -vx 0 "$W/codes" | sort | uniq -c | tr -s ' ')"
check "every run wrote to its stderr nothing" test ! -s "$W/stderr"
check "every output ended with a newline (qmail-spp cuts a line's last byte)" test ! -s "$W/unterminated"
check "every run took less than 1 s" test ! -s "$W/slow"
check "some runs printed commands (the checks below are not vacuous)" test -s "$W/lines"
check "never the command O (it would skip rcpthosts)" \
    bash -c "! grep -q '^[a-z-]*: O' '$W/lines'"
check "every line is an spp command; E, R and L lines carry an SMTP code" \
    bash -c "! grep -Evq '^[a-z-]*: (A|N|D|[ER][245][0-9][0-9] .+|L[MRD][245][0-9][0-9] .+|P.*|S[^=]+=.*|U.+|H.+|C.*)\$' '$W/lines'"
check "[auth] refuses only with E535/E454, the others only with E554/E451" \
    bash -c "! grep -Evq '^(auth: E(535|454) |(mail|rcpt|data|sh-line): E(554|451) )' '$W/lines'"
