#!/bin/bash
# farm.sh - an MX farm: two control directories stand for two MX hosts that
# share the suite's Redis under one key prefix. A botnet that spreads its
# logins over both hosts is locked at the same login as one that uses one
# host; a lock set on either host (by the detector or by hand) is enforced
# on the other at once; and the clock is Redis', so two hosts whose local
# clocks disagree by days (libfaketime, on a dynamically linked copy of
# authguard-checkpw) still reach the same verdicts, where "clock = local"
# would let the spread botnet through.
. "$AG_ROOT/tests/lib.sh"

# host NAME [key = value lines]: a control dir on the shared prefix t-farm:
host() {
    local dir
    dir=$(new_control "$@")
    sed -i 's/^key-prefix = .*/key-prefix = t-farm:/' "$dir/authguard"
    echo "$dir"
}
MX1=$(host farm-mx1 </dev/null)
MX2=$(host farm-mx2 </dev/null)
redis del 't-farm:{solo}' 't-farm:{spread}' 't-farm:{spread}:lock' 't-farm:{solo}:lock' >/dev/null

# login N USER HOST...: login number N of a botnet, from a new wide network.
login() { checkpw "$3" "$2" secret "$((20 + $1)).$1.7.9" "${@:4}"; }

# lock_at USER HOSTS...: the number of the login that got 535, logging in
# from a new network each time and taking the hosts in turn (0: none in 10).
lock_at() {
    local user=$1 i rc
    shift
    local hosts=("$@")
    for i in $(seq 10); do
        rc=$(login "$i" "$user" "${hosts[$(((i - 1) % ${#hosts[@]}))]}")
        [ "$rc" = 1 ] && { echo "$i"; return; }
    done
    echo 0
}

solo=$(lock_at solo "$MX1")
spread=$(lock_at spread "$MX1" "$MX2")
check_eq "one host: the botnet is locked at its 6th login" 6 "$solo"
check_eq "two hosts taken in turn: locked at the same login" "$solo" "$spread"
check_eq "the lock was set by the host that saw the 6th login (mx2)" 1 \
    "$(grep -c '^@[0-9a-f]\{24\} lock user=spread ' "$MX2/authguard.log")"
check_eq "mx1 refuses the next login at once" 1 "$(login 7 spread "$MX1")"
check_eq "... logged there as refuse-locked" 1 \
    "$(tail -1 "$MX1/authguard.log" | grep -c '^@[0-9a-f]\{24\} refuse-locked user=spread ')"
check_eq "every later login is refused on both hosts" "1 1" \
    "$(login 1 spread "$MX1") $(login 1 spread "$MX2")"

# A lock by hand on one host, seen by the other; an unlock likewise.
check_eq "carol logs in on mx2" 0 "$(checkpw "$MX2" carol secret 192.0.2.5)"
"$AG_BUILD/authguardctl" --control "$MX1" lock carol --reason "phished, ticket 1" >/dev/null
check_eq "a lock set with authguardctl on mx1 is enforced by mx2 at once" 1 \
    "$(checkpw "$MX2" carol secret 192.0.2.5)"
"$AG_BUILD/authguardctl" --control "$MX2" unlock carol >/dev/null
check_eq "an unlock on mx2 lets carol in on mx1" 0 "$(checkpw "$MX1" carol secret 192.0.2.5)"

# --- clocks: Redis' TIME, whatever the hosts' clocks say ---------------------
FT=
for lib in /usr/lib/*/faketime/libfaketime.so.1 /usr/lib/faketime/libfaketime.so.1; do
    [ -e "$lib" ] && FT=$lib && break
done
if [ -z "$FT" ]; then
    echo "# libfaketime not installed (tools/install-deps installs faketime): clock checks skipped"
    exit 0
fi
skew1=(LD_PRELOAD="$FT" FAKETIME=-2d) # mx1 runs two days behind
skew2=(LD_PRELOAD="$FT" FAKETIME=+3h) # mx2 three hours ahead
d1=$(env "${skew1[@]}" date +%s) d2=$(env "${skew2[@]}" date +%s)
check "libfaketime puts the two hosts' clocks 51 h apart" test $((d2 - d1)) -ge $((51 * 3600 - 5))
# libfaketime works by LD_PRELOAD, which a static program ignores: the same
# objects as build/authguard-checkpw, linked dynamically, for these logins.
DYN=$AG_TMP/farm-checkpw-dynamic
${CXX:-g++} -o "$DYN" "$AG_BUILD/obj/plugins/checkpw/main.o" "$AG_BUILD/libauthguard.a" \
    $(sed -n 's/^DYNAMIC_LIBS *= *//p' "$AG_ROOT/Makefile") ||
    { not_ok "link a dynamic authguard-checkpw for libfaketime"; exit 0; }
# skewed N USER HOST SKEW...: login N of a botnet through the dynamic copy.
skewed() {
    local n=$1 user=$2 control=$3
    shift 3
    env -i PATH=/usr/bin:/bin AUTHGUARD_CONTROL="$control" TCPREMOTEIP="$((20 + n)).$n.7.9" \
        TCPLOCALPORT=587 AG_STANDIN_PASSWORD=secret "$@" \
        "$DYN" "$AG_BUILD/vchkpw-standin" /bin/true \
        3< <(printf '%s\0secret\0Y123456\0' "$user") >/dev/null 2>&1
    echo $?
}

redis del 't-farm:{skewed}' 't-farm:{skewed}:lock' >/dev/null
rc=0 i=0
while [ "$rc" != 1 ] && [ $i -lt 10 ]; do
    i=$((i + 1))
    if [ $((i % 2)) = 1 ]; then rc=$(skewed "$i" skewed "$MX1" "${skew1[@]}")
    else rc=$(skewed "$i" skewed "$MX2" "${skew2[@]}"); fi
done
check_eq "skewed local clocks: the spread botnet is still locked at its 6th login" 6 "$i"
redis_now=$(redis TIME | head -1)
times=$(grep -h ' user=skewed ' "$MX1/authguard.log" "$MX2/authguard.log" | sed 's/.* time=\([0-9]*\).*/\1/')
far=$(echo "$times" | awk -v now="$redis_now" '{ d = now - $1; if (d < 0) d = -d; if (d > 60) n++ } END { print n + 0 }')
check_eq "every decision on both hosts is timed by Redis (none more than 60 s off)" 0 "$far"

# The same with "clock = local": each host judges by its own clock, the
# two halves of the botnet fall two days apart, and neither window sees 6.
for h in "$MX1" "$MX2"; do echo "clock = local" >>"$h/authguard"; done
redis del 't-farm:{local}' 't-farm:{local}:lock' >/dev/null
locked=0
for i in 1 2 3 4 5 6; do
    if [ $((i % 2)) = 1 ]; then rc=$(skewed "$i" local "$MX1" "${skew1[@]}")
    else rc=$(skewed "$i" local "$MX2" "${skew2[@]}"); fi
    [ "$rc" = 1 ] && locked=$i
done
check_eq "for contrast, with clock = local the same skew lets 6 logins through" 0 "$locked"
