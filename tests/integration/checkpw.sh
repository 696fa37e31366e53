#!/bin/bash
# checkpw.sh - authguard-checkpw driven exactly as qmail-smtpd (and
# qmail-popup) drive a checkpassword program: "user\0password\0third\0" on a
# pipe at fd 3, argv "authguard-checkpw CHECKPROGRAM SUBPROGRAM...", the
# tcpserver environment, in front of the vchkpw stand-in and a real Redis.
# Checks exit codes, what the subprogram gets, what lands in Redis and the
# log, that fd 1 and fd 2 (the SMTP connection with qmail-smtpd-auth 0.31)
# stay silent in every case, and that the password never leaves the process.
source "${AG_ROOT:?run through tests/run-all}/tests/lib.sh" || exit 1
trap_cleanup
capture_syslog "$0" "$@" # re-executes in a private mount namespace when it can

W=$AG_TMP/checkpw
mkdir -p "$W"
# Files the unprivileged subprogram (uid 65534) must reach: $AG_TMP is 0700.
PUB=$(mktemp -d /tmp/authguard-checkpw.XXXXXX)
chmod 755 "$PUB"
on_exit "rm -rf '$PUB'"
mkdir -m 1777 "$PUB/out"
mkdir -m 755 "$PUB/home"

# A qmail-pop3d-like subprogram: records who, where and with what it ran.
cat >"$PUB/probe" <<'EOF'
#!/bin/sh
out=$1
shift
{
    echo "uid=$(id -u)"
    echo "cwd=$(pwd)"
    echo "argc=$#"
    for a in "$@"; do echo "arg=$a"; done
    leaked=
    for f in 3 4 5 6 7 8 9; do [ -e /proc/$$/fd/$f ] && leaked="$leaked $f"; done
    echo "leaked=$leaked"
    env | sort | sed 's/^/env:/'
} >"$out"
EOF
chmod 755 "$PUB/probe"
PROBE=$PUB/probe

# The real checkpassword behind a wrapper that notes each time it is run.
MARKER=$W/checkprogram-ran
cat >"$W/marked-standin" <<EOF
#!/bin/sh
echo ran >>'$MARKER'
exec '$STANDIN' "\$@"
EOF
chmod 755 "$W/marked-standin"

# field CONTROL_NAME USER FIELD [WORD]: a word (default 3: the count) of one
# observation in Redis, "" when absent.
field() {
    redis hget "t-$1:{$2}" "$3" | awk -v w="${4:-3}" '{print $w}'
}
prefix_keys() { redis --scan --pattern "t-$1:*" | sort | tr '\n' ' '; }
log_of() { echo "$AG_TMP/control-$1/authguard.log"; }

# ---------------------------------------------------------------------------
C=$(new_control cp-main <<'EOF'
fingerprint-secret = 0123456789abcdef-test-secret
EOF
)

# 1. Good password: 0, and the subprogram runs with what the stand-in set.
rm -f "$PUB/out/good"
fd3 'alice@example.com\0secret\0Y123456\0'
cp_run "$C" pipe TCPREMOTEIP=192.0.2.10 -- "$STANDIN" "$PROBE" "$PUB/out/good"
expect "good password" 0
check "good password: the subprogram ran" test -s "$PUB/out/good"
check "good password: USER set by the checkpassword program" grep -qx 'env:USER=alice@example.com' "$PUB/out/good"
check "good password: HOME set by the checkpassword program" grep -qx 'env:HOME=/' "$PUB/out/good"
check_eq "good password: SHELL and VPOPUSER as vchkpw sets them" \
    "$(printf 'env:SHELL=NOLOGIN\nenv:VPOPUSER=alice@example.com')" \
    "$(grep -E '^env:(SHELL|VPOPUSER)=' "$PUB/out/good")"
check_eq "good password: no descriptor leaks into the subprogram" "leaked=" "$(grep '^leaked=' "$PUB/out/good")"
check_eq "good password: no authguard variables leak into the subprogram" "" \
    "$(grep -E '^env:AUTHGUARD_(REPORT|VERDICT)' "$PUB/out/good")"
check_eq "good password: success counted in Redis" 1 "$(field cp-main alice@example.com 's|192.0.2.10')"
check "good password: logged as allow/success" \
    grep -q '^@[0-9a-f]\{24\} allow user=alice@example.com address=192.0.2.10 service=submission outcome=success ' "$(log_of cp-main)"

# 2. Bad password: the stand-in's 3 passes through; a failure is recorded.
rm -f "$PUB/out/bad"
fd3 'alice@example.com\0wrong\0Y123456\0'
cp_run "$C" pipe TCPREMOTEIP=192.0.2.10 -- "$STANDIN" "$PROBE" "$PUB/out/bad"
expect "bad password" 3
check "bad password: the subprogram did not run" test ! -e "$PUB/out/bad"
check_eq "bad password: failure counted in Redis" 1 "$(field cp-main alice@example.com 'f|192.0.2.10')"
fp=$(field cp-main alice@example.com 'f|192.0.2.10' 4)
check "bad password: a password fingerprint (not the password) is stored" \
    bash -c '[[ "$1" =~ ^[0-9]+$ ]] && [ "$1" -lt 65536 ]' _ "$fp"
check "bad password: logged as bad-password" \
    grep -q 'user=alice@example.com address=192.0.2.10 service=submission outcome=bad-password ' "$(log_of cp-main)"

# 3. IndiMail's four fields: user\0pass\0\0method\0.
fd3 'indi@example.com\0secret\0\0PLAIN\0'
cp_run "$C" pipe TCPREMOTEIP=192.0.2.11
expect "IndiMail 4-field input, good password" 0
fd3 'indi@example.com\0nope\0\0LOGIN\0'
cp_run "$C" pipe TCPREMOTEIP=192.0.2.11
expect "IndiMail 4-field input, bad password" 3
check_eq "IndiMail 4-field input: both counted" "1 1" \
    "$(field cp-main indi@example.com 's|192.0.2.11') $(field cp-main indi@example.com 'f|192.0.2.11')"

# Exactly 512 bytes is still valid input.
long_pw=$(printf 'p%.0s' $(seq 492))
fd3 'max@example.com\0%s\0Y1\0' "$long_pw"
check_eq "512-byte test input is 512 bytes" 512 "$(wc -c <"$AG_CP_DIR/fd3")"
cp_run "$C" pipe TCPREMOTEIP=192.0.2.12 AG_STANDIN_PASSWORD="$long_pw"
expect "exactly 512 bytes on fd 3 is accepted" 0

# 4. Bad fd 3 input: refused before the real checkpassword runs, nothing stored.
B=$(new_control cp-bad </dev/null)
bad_input() { # NAME RC INPUT-MODE
    rm -f "$MARKER"
    cp_run "$B" "$3" TCPREMOTEIP=192.0.2.20 -- "$W/marked-standin" /bin/true
    expect "$1" "$2"
    check "$1: the real checkpassword was not run" test ! -e "$MARKER"
    check_eq "$1: nothing stored in Redis" "" "$(prefix_keys cp-bad)"
}
fd3 '%s\0secret\0\0' "$(printf 'u%.0s' $(seq 600))"
bad_input "over 512 bytes on fd 3" 1 pipe
check "over 512 bytes: logged" grep -q 'fd 3: more than 512 bytes, refused' "$(log_of cp-bad)"
fd3 'alice@example.comsecret'
bad_input "no NUL at all on fd 3" 2 pipe
fd3 'alice@example.com\0secret'
bad_input "password not NUL-terminated" 2 pipe
fd3 ''
bad_input "empty fd 3" 2 pipe
check "missing NULs: logged" grep -q 'fd 3: not user\\0password\\0, refused' "$(log_of cp-bad)"
fd3 '\0secret\0\0'
bad_input "empty user" 1 pipe
fd3 'alice@example.com\0\0\0'
bad_input "empty password" 1 pipe
check "empty user or password: logged" grep -q 'fd 3: empty user or password, refused' "$(log_of cp-bad)"
bad_input "fd 3 closed" 111 closed
check "fd 3 closed: logged" grep -q 'fd 3: cannot read' "$(log_of cp-bad)"

# A checkprogram that cannot be run is a temporary failure, not a login.
fd3 'alice@example.com\0secret\0\0'
cp_run "$C" pipe TCPREMOTEIP=192.0.2.21 -- "$W/no-such-checkpassword" /bin/true
expect "checkprogram missing" 111
check_eq "checkprogram missing: no success counted" "" "$(field cp-main alice@example.com 's|192.0.2.21')"

# 5. The client address.
fd3 'nowhere@example.com\0secret\0\0'
cp_run "$C" pipe
expect "TCPREMOTEIP missing" 0
check_eq "TCPREMOTEIP missing: counted as address 'unknown'" 1 "$(field cp-main nowhere@example.com 's|unknown')"
check "TCPREMOTEIP missing: logged" \
    grep -q "no usable TCPREMOTEIP/TCP6REMOTEIP; counted as network 'unknown' for user=nowhere@example.com" "$(log_of cp-main)"
for garbage in 'not-an-ip' '999.1.2.3' '192.0.2.1; rm -rf /' '[2001:db8::1]' 'fe80::1%eth0'; do
    cp_run "$C" pipe TCPREMOTEIP="$garbage"
    expect "TCPREMOTEIP '$garbage'" 0
done
check_eq "garbage TCPREMOTEIP: all counted as 'unknown'" 6 "$(field cp-main nowhere@example.com 's|unknown')"
check_eq "garbage TCPREMOTEIP: stored nothing else" 1 "$(redis hlen 't-cp-main:{nowhere@example.com}')"

fd3 'six@example.com\0secret\0\0'
cp_run "$C" pipe TCP6REMOTEIP=2001:db8:1::5
expect "TCP6REMOTEIP only" 0
cp_run "$C" pipe TCP6REMOTEIP=2001:0DB8:0001:0000:0000:0000:0000:0005
expect "TCP6REMOTEIP in long form" 0
check_eq "TCP6REMOTEIP: counted under its canonical form" 2 "$(field cp-main six@example.com 's|2001:db8:1::5')"
cp_run "$C" pipe TCPREMOTEIP=::ffff:198.51.100.7
expect "::ffff:-mapped TCPREMOTEIP" 0
cp_run "$C" pipe TCP6REMOTEIP=::ffff:198.51.100.7
expect "::ffff:-mapped TCP6REMOTEIP" 0
cp_run "$C" pipe TCPREMOTEIP=198.51.100.7
expect "the same client over IPv4" 0
check_eq "mapped addresses count as the IPv4 address" 3 "$(field cp-main six@example.com 's|198.51.100.7')"
check_eq "mapped addresses: no separate IPv6 entry" "" "$(redis hkeys 't-cp-main:{six@example.com}' | grep -i ffff)"
cp_run "$C" pipe TCPREMOTEIP=garbage TCP6REMOTEIP=2001:db8:2::9
expect "garbage TCPREMOTEIP with a good TCP6REMOTEIP" 0
check_eq "TCP6REMOTEIP used when TCPREMOTEIP is garbage" 1 "$(field cp-main six@example.com 's|2001:db8:2::9')"

# 6. argv: both qmail-smtpd layouts hand the checkprogram the same argv;
# any number of subprogram arguments must reach the subprogram unchanged.
rm -f "$PUB/out/args"
fd3 'argv@example.com\0secret\0\0'
cp_run "$C" pipe TCPREMOTEIP=192.0.2.30 -- "$STANDIN" "$PROBE" "$PUB/out/args" -x 'two words' '' '$HOME;`id`'
expect "several subprogram arguments" 0
check_eq "several subprogram arguments: all passed unchanged" \
    "$(printf 'argc=4\narg=-x\narg=two words\narg=\narg=$HOME;`id`')" \
    "$(grep -E '^(argc|arg)=' "$PUB/out/args")"
cp_run "$C" pipe TCPREMOTEIP=192.0.2.30 -- "$STANDIN" /bin/sh -c 'exit 0'
expect "subprogram through sh -c" 0
cp_run "$C" pipe TCPREMOTEIP=192.0.2.30 -- "$STANDIN" /bin/sh -c 'exit 7'
expect "the subprogram's exit code is passed on" 7
cp_run "$C" pipe TCPREMOTEIP=192.0.2.30 -- "$STANDIN"
expect "no subprogram at all" 0
cp_run "$C" pipe TCPREMOTEIP=192.0.2.30 -- "$STANDIN" true
expect "subprogram found through PATH" 0
check_eq "argv runs: every success counted" 5 "$(field cp-main argv@example.com 's|192.0.2.30')"
env -i PATH=/usr/bin:/bin AUTHGUARD_CONTROL="$C" timeout 10 "$CP" 3< <(cat "$AG_CP_DIR/fd3") >"$AG_CP_DIR/fd1" 2>"$AG_CP_DIR/fd2"
CP_RC=$?
expect "no checkprogram given (misuse)" 2

# 7. In front of a qmail-pop3d-like subprogram: it runs with the uid, cwd
# and environment the real checkpassword set (as root, dropping to 65534).
if [ "$(id -u)" = 0 ]; then
    rm -f "$PUB/out/pop3d"
    fd3 'pop@example.com\0secret\0\0'
    cp_run "$C" pipe TCPREMOTEIP=203.0.113.5 TCPLOCALPORT=110 AG_STANDIN_UID=65534 \
        AG_STANDIN_HOME="$PUB/home" -- "$STANDIN" "$PROBE" "$PUB/out/pop3d" Maildir
    expect "pop3d-like subprogram" 0
    check_eq "pop3d-like: subprogram runs as the uid the checkpassword chose" uid=65534 "$(grep '^uid=' "$PUB/out/pop3d")"
    check_eq "pop3d-like: subprogram runs in the HOME the checkpassword chose" "cwd=$PUB/home" "$(grep '^cwd=' "$PUB/out/pop3d")"
    check_eq "pop3d-like: subprogram sees the checkpassword's environment" \
        "$(printf 'env:HOME=%s\nenv:SHELL=NOLOGIN\nenv:USER=pop@example.com' "$PUB/home")" \
        "$(grep -E '^env:(HOME|SHELL|USER)=' "$PUB/out/pop3d")"
    check_eq "pop3d-like: its argument arrives" "arg=Maildir" "$(grep '^arg=' "$PUB/out/pop3d")"
    check_eq "pop3d-like: no descriptor leaks into it" "leaked=" "$(grep '^leaked=' "$PUB/out/pop3d")"
    check_eq "pop3d-like: the login is counted (service pop3)" 1 "$(field cp-main pop@example.com 's|203.0.113.5')"
    check "pop3d-like: logged with service=pop3" grep -q 'user=pop@example.com address=203.0.113.5 service=pop3 ' "$(log_of cp-main)"
else
    ok "pop3d-like subprogram under another uid # SKIP needs root"
fi

# 8. A locked user with the right password gets 1; the subprogram never runs.
L=$(new_control cp-lock </dev/null)
T0=1700000000
fd3 'victim@example.com\0secret\0\0'
rcs=
for i in 1 2 3 4 5 6; do
    cp_run "$L" pipe TCPREMOTEIP=$((20 + i)).1.2.3 AUTHGUARD_NOW=$((T0 + i * 60))
    rcs+="$CP_RC "
done
check_eq "six new networks within an hour: the sixth login locks" "0 0 0 0 0 1 " "$rcs"
check_eq "the lock is stored" 1 "$(redis exists 't-cp-lock:{victim@example.com}:lock')"
rm -f "$PUB/out/locked"
cp_run "$L" pipe TCPREMOTEIP=21.1.2.3 AUTHGUARD_NOW=$((T0 + 600)) -- "$STANDIN" "$PROBE" "$PUB/out/locked"
expect "locked user, right password, known network" 1
check "locked user: the subprogram did not run" test ! -e "$PUB/out/locked"
check "locked user: logged as refuse-locked" grep -q '^@[0-9a-f]\{24\} refuse-locked user=victim@example.com address=21.1.2.3 ' "$(log_of cp-lock)"
fd3 'victim@example.com\0wrong\0\0'
cp_run "$L" pipe TCPREMOTEIP=21.1.2.3 AUTHGUARD_NOW=$((T0 + 660))
expect "locked user, wrong password: the checkpassword's code" 3
fd3 'bystander@example.com\0secret\0\0'
cp_run "$L" pipe TCPREMOTEIP=21.1.2.3 AUTHGUARD_NOW=$((T0 + 700))
expect "another user from the same network is not affected" 0

# 9. Hostile user names: refused, or stored as exact bytes, never raw in the log.
H=$(new_control cp-hostile </dev/null)
HL=$(log_of cp-hostile)
hostile_refused() { # NAME  (input already in fd3)
    rm -f "$MARKER"
    cp_run "$H" pipe TCPREMOTEIP=192.0.2.40 -- "$W/marked-standin" /bin/true
    expect "$1" 1
    check "$1: the real checkpassword was not run" test ! -e "$MARKER"
}
fd3 'ev\ril@example.com\0secret\0\0'
hostile_refused "CR in the user name"
check "CR in the user name: logged escaped" grep -q 'refused user=ev\\x0dil@example.com: control character' "$HL"
fd3 'ev\nil@example.com\0secret\0\0'
hostile_refused "LF in the user name"
check "LF in the user name: logged escaped" grep -q 'refused user=ev\\x0ail@example.com: control character' "$HL"
fd3 'tab\tuser@example.com\0secret\0\0'
hostile_refused "TAB in the user name"
fd3 'esc\033[2Juser@example.com\0secret\0\0'
hostile_refused "terminal escape in the user name"
fd3 '%s\0secret\0\0' "$(printf 'L%.0s' $(seq 1000))"
hostile_refused "1000-byte user name"
fd3 '%s\0secret\0\0' "$(printf 'M%.0s' $(seq 300))"
hostile_refused "300-byte user name (over max-user-length)"
check "long user name: logged truncated" grep -q "refused user=$(printf 'M%.0s' $(seq 128))\.\.\.: user name longer than 256 bytes" "$HL"
check_eq "long user name: never logged whole" 0 "$(grep -c "$(printf 'M%.0s' $(seq 129))" "$HL")"

fd3 'ev\0il@example.com\0secret\0\0' # NUL ends the user field: user "ev", password "il@..."
cp_run "$H" pipe TCPREMOTEIP=192.0.2.40
expect "NUL inside the user field (the rest is the password)" 3
check_eq "NUL inside the user field: a failure for user 'ev'" 1 "$(field cp-hostile ev 'f|192.0.2.40')"

utf8=$'j\xc3\xb6rg@ex\xc3\xa4mple.com'
fd3 '%s\0secret\0\0' "$utf8"
cp_run "$H" pipe TCPREMOTEIP=192.0.2.41
expect "UTF-8 user name" 0
check_eq "UTF-8 user name: stored under its exact bytes" 1 "$(field cp-hostile "$utf8" 's|192.0.2.41')"
check "UTF-8 user name: logged escaped" grep -q 'user=j\\xc3\\xb6rg@ex\\xc3\\xa4mple.com ' "$HL"

shelly='x$(touch '"$W"'/pwned)`touch '"$W"'/pwned2`;|&<>*?"'"'"'\@example.com'
fd3 '%s\0secret\0\0' "$shelly"
cp_run "$H" pipe TCPREMOTEIP=192.0.2.42
expect "shell metacharacters in the user name" 0
check "shell metacharacters: nothing was executed" test ! -e "$W/pwned" -a ! -e "$W/pwned2"
# (user names are lower-cased, and $W may hold capitals: mktemp)
check_eq "shell metacharacters: stored under the exact (lower-cased) name" 1 \
    "$(field cp-hostile "$(printf %s "$shelly" | tr A-Z a-z)" 's|192.0.2.42')"

fd3 'a}b{c@example.com\0secret\0\0'
cp_run "$H" pipe TCPREMOTEIP=192.0.2.43
expect "braces in the user name" 0
fd3 'a\0secret\0\0'
cp_run "$H" pipe TCPREMOTEIP=192.0.2.44
expect "user 'a'" 0
fd3 '}x{@example.com\0secret\0\0'
cp_run "$H" pipe TCPREMOTEIP=192.0.2.45
# refused: "{}" would be an empty hash tag, scattering the user's keys over Redis Cluster slots
expect "user name starting with }: refused" 1
check_eq "braces: each user has its own observations" "1 1 0" \
    "$(redis hlen 't-cp-hostile:{a}b{c@example.com}') $(redis hlen 't-cp-hostile:{a}') $(redis hlen 't-cp-hostile:{}x{@example.com}')"
check_eq "braces: the right address under each" "1 1" \
    "$(field cp-hostile 'a}b{c@example.com' 's|192.0.2.43') $(field cp-hostile a 's|192.0.2.44')"

fd3 '%%s%%n%%x@example.com\0secret\0\0'
cp_run "$H" pipe TCPREMOTEIP=192.0.2.46
expect "printf directives in the user name" 0
check "printf directives: logged literally" grep -q 'user=%s%n%x@example.com ' "$HL"

fd3 'eve address=10.9.8.7 service=smtp@example.com\0secret\0\0'
cp_run "$H" pipe TCPREMOTEIP=192.0.2.47
expect "user name that looks like log fields" 0
check "user name that looks like log fields: cannot forge the address field" \
    grep -q '^@[0-9a-f]\{24\} allow user=[^ ]* address=192.0.2.47 ' "$HL"

check_eq "the log has no raw control or non-ASCII bytes" 0 \
    "$(LC_ALL=C grep -c -P '[\x00-\x08\x0b-\x1f\x7f-\xff]' "$HL")"
check_eq "every log line is one line (no line breaks from user names)" 0 \
    "$(grep -c -v -E '^@[0-9a-f]{24} ((allow|alert|tempfail|lock|refuse-locked|refused|no usable|checkpassword) |fd 3: )' "$HL")"

# 10. A day compressed with AUTHGUARD_NOW: the windows expire.
D=$(new_control cp-day </dev/null)
day_logins() { # USER START STEP COUNT FIRST_NET: exit codes of COUNT logins
    local user=$1 t=$2 step=$3 n=$4 net=$5 i out=
    fd3 '%s\0secret\0\0' "$user"
    for ((i = 0; i < n; i++)); do
        cp_run "$D" pipe TCPREMOTEIP=$((net + i)).20.30.40 AUTHGUARD_NOW=$((t + i * step))
        out+="$CP_RC "
    done
    echo "$out"
}
check_eq "7 new networks spread over 3 days do not lock" "0 0 0 0 0 0 0 " \
    "$(day_logins spread@example.com $T0 36000 7 30)"
check_eq "the same networks, 8 within an hour, lock at the 6th (short window)" "0 0 0 0 0 1 1 1 " \
    "$(day_logins burst@example.com $T0 300 8 30)"
check "short-window lock: reason logged" \
    grep -q '^@[0-9a-f]\{24\} lock user=burst@example.com .*reason="6 new networks within 3600s (lock-new-networks-short=6)"' "$(log_of cp-day)"
r1=$(day_logins longday@example.com $T0 600 5 40)
r2=$(day_logins longday@example.com $((T0 + 5 * 3600)) 3600 3 45)
check_eq "5 new networks in an hour, then 3 more the same day: the 8th locks (long window)" \
    "0 0 0 0 0 0 0 1 " "$r1$r2"
check "long-window lock: reason logged" \
    grep -q '^@[0-9a-f]\{24\} lock user=longday@example.com .*reason="8 new networks within 86400s (lock-new-networks-long=8)"' "$(log_of cp-day)"
r1=$(day_logins nextday@example.com $T0 600 5 40)
r2=$(day_logins nextday@example.com $((T0 + 25 * 3600)) 3600 3 45)
check_eq "5 new networks, then 3 more a day later: the first 5 left the window" \
    "0 0 0 0 0 0 0 0 " "$r1$r2"

# 11. Bad control files never refuse a login (qmail-smtpd would say 535):
# the last valid configuration, here none (no state directory: the
# defaults), and the error logged with file:line.
K=$AG_TMP/cp-badkey/control # its own state directory beside it, never a shared one
mkdir -p "$K"
printf 'redis = unix:%s\nkey-prefix = t-cp-badkey:\n\nfrobnicate = 1\n' "$AG_REDIS_SOCK" >"$K/authguard"
chmod 640 "$K/authguard"
rm -f "$MARKER"
fd3 'alice@example.com\0secret\0\0'
cp_run "$K" pipe TCPREMOTEIP=192.0.2.50 AUTHGUARD_LOG_FILE="$K/log" -- "$W/marked-standin" /bin/true
expect "unknown key in the control file: the login goes on (exit 0, not 111: 535)" 0
check "unknown key: logged with file:line" grep -q "$K/authguard:4: unknown key 'frobnicate'; using the defaults" "$K/log"
check "unknown key: the real checkpassword was run" test -e "$MARKER"
rm -f "$MARKER"
check_eq "unknown key: nothing stored" "" "$(prefix_keys cp-badkey)"

printf 'redis = unix:%s\nkey-prefix = t-cp-badkey:\nredis-password = hunter2-very-secret\n' "$AG_REDIS_SOCK" >"$K/authguard"
chmod 644 "$K/authguard"
cp_run "$K" pipe TCPREMOTEIP=192.0.2.50 AUTHGUARD_LOG_FILE="$K/log" -- "$W/marked-standin" /bin/true
expect "world-readable control file holding redis-password: the login goes on" 0
check "world-readable secret: logged" grep -q "$K/authguard:3: holds a secret but is readable by others" "$K/log"
check "world-readable secret: the real checkpassword was run" test -e "$MARKER"
check_eq "world-readable secret: the secret is not logged" 0 "$(grep -c hunter2 "$K/log")"
chmod 640 "$K/authguard"
cp_run "$K" pipe TCPREMOTEIP=192.0.2.50 AUTHGUARD_LOG_FILE="$K/log" -- "$W/marked-standin" /bin/true
check_eq "the same file, chmod 640, is accepted (this Redis has no password: fail-open)" 0 "$CP_RC"
check_eq "chmod 640: the secret is not logged either" 0 "$(grep -c hunter2 "$K/log")"
printf 'redis = unix:%s\nfingerprint-secret = 0123456789abcdef0123\n' "$AG_REDIS_SOCK" >"$K/authguard"
chmod 604 "$K/authguard"
cp_run "$K" pipe TCPREMOTEIP=192.0.2.50 AUTHGUARD_LOG_FILE="$K/log"
expect "world-readable control file holding fingerprint-secret: the login goes on" 0
check "... on the last valid configuration (the chmod 640 file), logged" \
    grep -q "$K/authguard:2: holds a secret but is readable by others.*; using the last valid configuration" "$K/log"

# 12. The password never leaves the process: not in the log files, not in
# syslog, not in any Redis key or value.
PW="Uq7-$RANDOM$RANDOM-unique-password"
P=$(new_control cp-secret <<'EOF'
fingerprint-secret = another-secret-0123456789
EOF
)
fd3 'pw@example.com\0%s\0\0' "$PW"
cp_run "$P" pipe TCPREMOTEIP=192.0.2.60 AG_STANDIN_PASSWORD="$PW"
expect "unique password, good" 0
fd3 'pw@example.com\0%s-wrong\0\0' "$PW"
cp_run "$P" pipe TCPREMOTEIP=192.0.2.61 AG_STANDIN_PASSWORD="$PW"
expect "unique password, bad" 3
fd3 'pw@example.com\0%s\0\0' "$PW"
cp_run "$P" pipe AG_STANDIN_PASSWORD="$PW"
expect "unique password, no address" 0
fd3 'pw@example.com%s' "$PW"
cp_run "$P" pipe TCPREMOTEIP=192.0.2.62
expect "unique password in malformed input" 2
fd3 'pw\r@example.com\0%s\0\0' "$PW"
cp_run "$P" pipe TCPREMOTEIP=192.0.2.62
expect "unique password with a refused user name" 1
fd3 'pw@example.com\0%s\0%s\0' "$PW" "$(printf 'z%.0s' $(seq 500))"
cp_run "$P" pipe TCPREMOTEIP=192.0.2.62
expect "unique password in over-long input" 1
for i in 1 2 3 4 5 6; do
    fd3 'pwlock@example.com\0%s\0\0' "$PW"
    cp_run "$P" pipe TCPREMOTEIP=$((60 + i)).0.0.1 AG_STANDIN_PASSWORD="$PW" AUTHGUARD_NOW=$((T0 + i))
done
check_eq "unique password: the lock path ran too" 1 "$CP_RC"
dump=$W/redis-dump
: >"$dump"
while IFS= read -r key; do
    printf '%s\n' "$key" >>"$dump"
    case $(redis type "$key") in
    hash) redis hgetall "$key" >>"$dump" ;;
    string) redis get "$key" >>"$dump" ;;
    list) redis lrange "$key" 0 -1 >>"$dump" ;;
    set) redis smembers "$key" >>"$dump" ;;
    zset) redis zrange "$key" 0 -1 withscores >>"$dump" ;;
    esac
done < <(redis --scan)
redis slowlog get 1000 >>"$dump"
check "the Redis dump holds this test's data" grep -q 'pwlock@example.com' "$dump"
check_eq "the password is in no Redis key or value" 0 "$(grep -c -F "$PW" "$dump")"
check_eq "the password is in no log file" 0 "$(cat "$AG_TMP"/control-cp-*/authguard.log | grep -c -F "$PW")"

# 13. syslog (facility mail, ident authguard) gets the same lines.
if [ -n "${AG_SYSLOG:-}" ]; then
    # One reader, one socket: once a marker sent now has arrived, so has
    # everything authguard sent before it.
    marker="end-of-checkpw-$$"
    logger -t agtest "$marker"
    for _ in $(seq 100); do grep -q "$marker" "$AG_SYSLOG" && break; sleep 0.05; done
    check "syslog: authguard logs with facility mail" grep -q -E '^<(1[6-9]|2[0-3])>.*authguard\[[0-9]*\]: allow user=pw@example.com' "$AG_SYSLOG"
    check "syslog: the control file error with file:line" grep -q "authguard\[[0-9]*\]: $K/authguard:4: " "$AG_SYSLOG"
    check_eq "syslog: the password is not there" 0 "$(grep -c -F "$PW" "$AG_SYSLOG")"
    check_eq "syslog: no raw control or non-ASCII bytes from user names" 0 \
        "$(grep -a 'authguard\[' "$AG_SYSLOG" | LC_ALL=C grep -c -P '[\x00-\x08\x0b-\x1f\x7f-\xff]')"
else
    ok "syslog checks # SKIP no private mount namespace for /dev/log here"
fi
