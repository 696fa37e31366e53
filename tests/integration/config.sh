#!/bin/bash
# config.sh - mail keeps flowing whatever is in the control files: a typo in
# control/authguard (or authguard-allow, or a secret others may read) never
# refuses a login or a message; the hooks keep the last valid configuration
# (saved in the state directory beside the control directory), or the
# defaults, and log the error as FILE:LINE with every decision; keys holding
# Boost's placeholders (%canonical_option%) never make a hook spin. And
# authguardctl, run as root, never creates the embedded store's directory
# as root's (the hooks run as the smtpd's user, AUTHGUARD_USER).
. "$AG_ROOT/tests/lib.sh"
trap_cleanup

W=$(mktemp -d /tmp/authguard-config.XXXXXX) # reachable by nobody
chmod 755 "$W"
on_exit "rm -rf '$W'"
CTL=$AG_BUILD/authguardctl
QQ=$AG_BUILD/qmail-queue-standin

# site NAME [key = value lines on stdin]: W/NAME/control (this suite's Redis,
# own key prefix, log-file W/NAME/log) and the state directory
# W/NAME/authguard; prints the control dir.
site() {
    local d=$W/$1/control
    mkdir -p "$d" "$W/$1/authguard"
    {
        echo "redis = unix:$AG_REDIS_SOCK"
        echo "key-prefix = t-cfg-$1:"
        echo "log-file = $W/$1/log"
        echo "next-queue = $QQ"
        [ -t 0 ] || cat
    } >"$d/authguard"
    chmod 640 "$d/authguard"
    echo "$d"
}
# login CONTROL USER IP: checkpw with the right password, bounded in time.
login() { checkpw "$1" "$2" secret "$3" timeout 10; }
# queue CONTROL USER: one message through authguard-queue (as SMTPAUTHUSER);
# prints its exit code (0: queued).
queue() {
    local q=$W/qq
    mkdir -p "$q"
    printf 'Subject: t\n\nbody\n' >"$W/msg"
    printf 'Fs@example.com\0Tr@example.org\0\0' >"$W/env"
    env -i PATH=/usr/bin:/bin AUTHGUARD_CONTROL="$1" AG_QQ_DIR="$q" TCPREMOTEIP=192.0.2.10 \
        TCPLOCALPORT=587 SMTPAUTHUSER="$2" AUTHGUARD_QUEUE="$QQ" \
        timeout 10 "$AG_BUILD/authguard-queue" <"$W/msg" 1<"$W/env" 2>/dev/null
    echo $?
}
# spp CONTROL USER: authguard-spp's RCPT section; prints "EXIT:OUTPUT".
spp() {
    local out
    out=$(env -i PATH=/usr/bin:/bin AUTHGUARD_CONTROL="$1" TCPREMOTEIP=192.0.2.10 \
        TCPLOCALPORT=587 SMTPAUTHUSER="$2" SMTPRCPTTO=r@example.org SMTPRCPTCOUNT=0 \
        SMTPRCPTCOUNTALL=1 timeout 10 "$AG_BUILD/authguard-spp-rcpt" 0<&- 2>/dev/null)
    echo "$?:$out"
}

# --- a typo: the last valid configuration ------------------------------------------
S=$(site typo <<<"lock-new-networks-short = 2")
check_eq "a valid control file: login let in" 0 "$(login "$S" alice 192.0.2.1)"
copy=$W/typo/authguard/control.last-valid
check "... and saved as the last valid configuration" test -s "$copy"
check_eq "... mode 600 (it may hold redis-password)" 600 "$(stat -c %a "$copy")"
echo "lock-new-networks-shrt = 6" >>"$S/authguard"
line=$(grep -n shrt "$S/authguard" | cut -d: -f1)
t0=$(ms_now)
check_eq "typo 'lock-new-networks-shrt = 6': a right password is let in (exit 0, not 535)" 0 \
    "$(login "$S" alice 192.0.2.1)"
check "... at once ($(($(ms_now) - t0)) ms)" test $(($(ms_now) - t0)) -lt 5000
check_eq "typo: the log names file:line and says the last valid configuration is used" 1 \
    "$(grep -c "$S/authguard:$line: unknown key 'lock-new-networks-shrt'; using the last valid configuration (saved [0-9-]* [0-9:]* UTC)" "$W/typo/log")"
check_eq "typo: logged at every decision" 2 \
    "$(login "$S" alice 192.0.2.1 >/dev/null; grep -c "authguard:$line: unknown key" "$W/typo/log")"
# the last valid thresholds still guard: 2 new networks lock (the default is 6)
rc=
for i in 1 2; do rc=$(login "$S" mallory "$((60 + i)).1.2.3"); done
check_eq "typo: the last valid configuration still locks (lock-new-networks-short = 2)" 1 "$rc"
check_eq "typo: a message through authguard-queue is queued" 0 "$(queue "$S" alice)"
check_eq "typo: authguard-spp does not refuse" "0:" "$(spp "$S" alice)"
check_eq "typo: queue and spp log it too" 2 \
    "$(grep -cE "(queue|spp): $S/authguard:$line: unknown key" "$W/typo/log")"
check "typo: the saved copy is not replaced by the bad file" \
    test "$(grep -c shrt "$copy")" = 0

out=$("$CTL" --control "$S" check-config 2>&1); code=$?
check_eq "check-config on the typo exits 3" 3 "$code"
check "check-config names file:line and says the hooks run on the last valid configuration" \
    grep -q "authguardctl: $S/authguard:$line: unknown key 'lock-new-networks-shrt'" <<<"$out"
check "... and that the hooks use the last valid configuration" \
    grep -q "meanwhile the hooks run on the last valid configuration (saved " <<<"$out"
check_eq "check-config --json on the typo: ok false, hooks_use last_valid" "False last_valid" \
    "$("$CTL" --control "$S" --json check-config 2>/dev/null |
        python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["ok"], d["hooks_use"])')"

sed -i '/shrt/d' "$S/authguard"
echo "lock-new-networks-short = 3" >>"$S/authguard"
before=$(grep -c "unknown key" "$W/typo/log")
check_eq "the typo fixed: let in, nothing more logged" "0 $before" \
    "$(login "$S" bob 192.0.2.1) $(grep -c "unknown key" "$W/typo/log")"
check "... and the fixed file is the new last valid configuration" \
    grep -q "lock-new-networks-short = 3" "$copy"

# --- the allow file, and a secret others may read -------------------------------------
printf '192.0.2.300\n' >"$S/authguard-allow"
check_eq "authguard-allow '192.0.2.300': login let in" 0 "$(login "$S" carol 192.0.2.1)"
check_eq "... logged as authguard-allow:1" 1 \
    "$(grep -c "$S/authguard-allow:1: '192.0.2.300' is not an address or network" "$W/typo/log")"
rm "$S/authguard-allow"
echo "redis-password = hunter2-hunter2" >>"$S/authguard"
chmod 644 "$S/authguard"
check_eq "redis-password in a file others may read: login let in" 0 "$(login "$S" carol 192.0.2.1)"
check_eq "... logged, with the last valid configuration" 1 \
    "$(grep -c "holds a secret but is readable by others.*; using the last valid configuration" "$W/typo/log")"
chmod 640 "$S/authguard"
sed -i '/redis-password/d' "$S/authguard"

# --- no valid configuration ever: the defaults ---------------------------------------
D=$(site never <<<"lock-new-networks-shrt = 6")
rmdir "$W/never/authguard"
# (the defaults have no log-file: the copy comes from AUTHGUARD_LOG_FILE)
check_eq "a typo and no saved configuration: login let in" 0 \
    "$(checkpw "$D" dave secret 192.0.2.1 AUTHGUARD_LOG_FILE="$W/never/log" timeout 10)"
check_eq "... logged as using the defaults" 1 \
    "$(grep -c "$D/authguard:5: unknown key 'lock-new-networks-shrt'; using the defaults" "$W/never/log")"

# --- keys that made Boost spin: every hook ends, and allows ---------------------------
for key in 'x%canonical_option%y = 1' '%original_token% = 2'; do
    H=$(site "hang-$RANDOM" </dev/null)
    login "$H" erin 192.0.2.1 >/dev/null # saves the valid file
    echo "$key" >>"$H/authguard"
    t0=$(ms_now)
    check_eq "key '$key': checkpw ends and allows" 0 "$(login "$H" erin 192.0.2.1)"
    check_eq "key '$key': authguard-queue ends and queues" 0 "$(queue "$H" erin)"
    check_eq "key '$key': authguard-spp ends and allows" "0:" "$(spp "$H" erin)"
    check "key '$key': all three within seconds ($(($(ms_now) - t0)) ms)" test $(($(ms_now) - t0)) -lt 10000
    check_eq "key '$key': check-config ends with exit 3" 3 \
        "$(timeout 10 "$CTL" --control "$H" check-config >/dev/null 2>&1; echo $?)"
done

# --- authguardctl as root never makes the store root's --------------------------------
# lmdb-host NAME: a control directory for the embedded store (no Redis).
lmdb_host() {
    local d=$W/$1/control
    mkdir -p "$d"
    echo "log-file = $W/$1/log" >"$d/authguard"
    chmod 644 "$d/authguard"
    touch "$W/$1/log"
    chmod 666 "$W/$1/log"
    echo "$d"
}
as_nobody() {
    env -i PATH=/usr/bin:/bin AUTHGUARD_CONTROL="$1" TCPREMOTEIP=192.0.2.9 TCPLOCALPORT=587 \
        AG_STANDIN_PASSWORD=secret setpriv --reuid=65534 --regid=65534 --clear-groups \
        "$AG_BUILD/authguard-checkpw" "$AG_BUILD/vchkpw-standin" /bin/true \
        3< <(printf '%s\0secret\0Y123456\0' "$2") >/dev/null 2>&1
    echo $?
}
R=$(lmdb_host rootless)
err=$(env -u AUTHGUARD_USER "$CTL" --control "$R" stats 2>&1 >/dev/null); code=$?
check_eq "root, no state directory, no user vpopmail: authguardctl refuses (exit 4)" 4 "$code"
check "... naming the user it should belong to and AUTHGUARD_USER" \
    grep -q "there is no user 'vpopmail': set AUTHGUARD_USER" <<<"$err"
check "... and creates nothing" test ! -e "$W/rootless/authguard"
check_eq "root, AUTHGUARD_USER=nobody: stats creates the store directory as nobody's" "0 nobody" \
    "$(AUTHGUARD_USER=nobody "$CTL" --control "$R" stats >/dev/null 2>&1; echo $?) $(stat -c %U "$W/rootless/authguard")"
AUTHGUARD_USER=nobody "$CTL" --control "$R" gc >/dev/null 2>&1
check_eq "... the files root creates in it are nobody's too" "nobody nobody" \
    "$(stat -c %U "$W/rootless/authguard/data.mdb") $(stat -c %U "$W/rootless/authguard/lock.mdb")"
check_eq "... and the hook, as nobody, records the login there" '0 "count":1' \
    "$(as_nobody "$R" frank) $("$CTL" --control "$R" export frank | grep -o '"count":[0-9]*')"
F=$(lmdb_host follower)
AUTHGUARD_USER=nobody "$CTL" --control "$F" follow --once --from-start /dev/null >/dev/null 2>&1
check_eq "root, follow: the store directory is nobody's" nobody "$(stat -c %U "$W/follower/authguard" 2>&1)"
N=$(lmdb_host nostate)
out=$(env -u AUTHGUARD_USER "$CTL" --control "$N" check-config 2>&1); code=$?
check_eq "check-config: no store directory and no user vpopmail is an error, not ok (exit 3)" 3 "$code"
check "... naming the directory and how to create it" grep -q "$W/nostate/authguard (the store) does not exist: create it" <<<"$out"
# qmail-popup runs the checkpassword chain as root: the hook itself must not
# leave a root-owned store behind for the smtpd's logins.
P=$(lmdb_host pop3root)
env -i PATH=/usr/bin:/bin AUTHGUARD_CONTROL="$P" AUTHGUARD_USER=nobody TCPREMOTEIP=192.0.2.9 \
    TCPLOCALPORT=110 AG_STANDIN_PASSWORD=secret "$AG_BUILD/authguard-checkpw" \
    "$AG_BUILD/vchkpw-standin" /bin/true 3< <(printf 'gina\0secret\0Y1\0') >/dev/null 2>&1
check_eq "hook run as root (POP3 chain) creates the store directory as the hooks' user's" \
    "nobody nobody" "$(stat -c '%U %U' "$W/pop3root/authguard" 2>&1 | cut -d' ' -f1) $(stat -c %U "$W/pop3root/authguard/data.mdb" 2>&1)"
check_eq "... and the smtpd's login, as nobody, is recorded there" '0 "count":1' \
    "$(as_nobody "$P" hank) $("$CTL" --control "$P" export hank | grep -o '"count":[0-9]*')"
check_eq "AUTHGUARD_USER=root: created as root (the hooks run as root)" root \
    "$(AUTHGUARD_USER=root "$CTL" --control "$(lmdb_host asroot)" stats >/dev/null 2>&1; stat -c %U "$W/asroot/authguard")"
