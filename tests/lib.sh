# lib.sh - shared helpers for the integration scripts (sourced).
# Expects AG_ROOT, AG_BUILD, AG_TMP and AG_REDIS_SOCK from tests/run-all.
# Each script prints "ok - NAME" or "not ok - NAME" per check.
set -u
: "${AG_ROOT:?run through tests/run-all}"

ok()     { echo "ok - $*"; }
not_ok() { echo "not ok - $*"; }
# check NAME COMMAND...: ok when the command succeeds
check()  { local name=$1; shift; if "$@"; then ok "$name"; else not_ok "$name"; fi; }
# check_eq NAME EXPECTED ACTUAL
check_eq() {
    if [ "$2" = "$3" ]; then ok "$1"; else not_ok "$1 (expected '$2', got '$3')"; fi
}

# new_control NAME [key = value lines on stdin]: a fresh control dir using the
# suite's Redis with its own key prefix; prints the dir.
new_control() {
    local dir=$AG_TMP/control-$1
    mkdir -p "$dir"
    {
        echo "redis = unix:$AG_REDIS_SOCK"
        echo "key-prefix = t-$1:"
        echo "log-file = $dir/authguard.log"
        [ -t 0 ] || cat
    } > "$dir/authguard"
    chmod 640 "$dir/authguard"
    : > "$dir/authguard-allow"
    echo "$dir"
}

# checkpw CONTROL USER PASSWORD IP [more env assignments]: drives
# authguard-checkpw exactly as qmail-smtpd does (fd 3 pipe, argv, env) in front
# of the vchkpw stand-in whose password is "$AG_STANDIN_PASSWORD" (default
# "secret"). Prints the exit code.
checkpw() {
    local control=$1 user=$2 pass=$3 ip=$4; shift 4
    env -i PATH=/usr/bin:/bin AUTHGUARD_CONTROL="$control" TCPREMOTEIP="$ip" \
        TCPLOCALPORT=587 AG_STANDIN_PASSWORD="${AG_STANDIN_PASSWORD:-secret}" "$@" \
        "$AG_BUILD/authguard-checkpw" "$AG_BUILD/vchkpw-standin" /bin/true \
        3< <(printf '%s\0%s\0Y123456\0' "$user" "$pass") >/dev/null 2>&1
    echo $?
}

redis() { redis-cli -s "$AG_REDIS_SOCK" "$@"; }
