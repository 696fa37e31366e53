#!/bin/bash
# scenarios.sh - the detector's defaults against realistic traffic: every
# build/traffic-gen scenario is driven, login by login, through
# build/authguard-checkpw in front of the vchkpw stand-in (as demo/run does,
# with tests/standins/drive), each against its own key prefix in the suite's
# Redis. The seed incident must be locked within 10 bot logins without
# refusing anyone else; the honest patterns (carrier NAT, IPv6 privacy
# addresses and prefixes, a provider's pools, travel, office NAT, webmail)
# must never be locked nor refused. The 30-day scenarios that log in every
# few minutes are sampled (traffic-gen --per-day keeps every first login
# from a network, which is what locks).
# Last, a smaller `world` (tests/standins/world-run): every address drawn
# from the real IP-to-AS table that tests/run-all fetches (AG_ASN_CSV_DIR);
# skipped, saying why, only when that table cannot be fetched.
#
. "$AG_ROOT/tests/lib.sh"

gen=$AG_BUILD/traffic-gen
drive=$AG_ROOT/tests/standins/drive
jobs=$(nproc)
out=$AG_TMP/scenarios
mkdir -p "$out"

# replay NAME JOBS [traffic-gen options]: generates, drives; leaves
# $out/NAME.traffic, $out/NAME.results and the control dir control-scen-NAME.
replay() {
    local name=$1 jobs=$2; shift 2
    local control
    control=$(new_control "scen-$name" </dev/null)
    [ -f "$out/$name.allow" ] && cp "$out/$name.allow" "$control/authguard-allow"
    "$gen" "$@" > "$out/$name.traffic" || { echo "# traffic-gen $* failed"; return 1; }
    "$drive" "$control" "$jobs" < "$out/$name.traffic" > "$out/$name.results"
}

control_of() { echo "$AG_TMP/control-scen-$1"; }

# Checks that hold for every scenario: each login was driven, and wrong
# passwords got the stand-in's own answer (3) and nothing else.
check_driven() {
    local name=$1 r=$out/$1.results
    check_eq "$name: every login driven through authguard-checkpw" \
        "$(wc -l < "$out/$name.traffic")" "$(wc -l < "$r")"
    check_eq "$name: wrong passwords answered by vchkpw alone (exit 3)" 0 \
        "$(awk '$4 == 0 && $6 != 3' "$r" | wc -l)"
}

# An honest pattern: never locked, never refused, never tempfailed.
check_never_locked() {
    local name=$1 r=$out/$1.results control
    control=$(control_of "$1")
    check_driven "$name"
    local logins users
    logins=$(awk '$4 == 1' "$r" | wc -l)
    users=$(cut -d' ' -f2 "$r" | sort -u | wc -l)
    check_eq "$name: none of $logins good logins ($users users) refused or tempfailed" 0 \
        "$(awk '$4 == 1 && $6 != 0' "$r" | wc -l)"
    check_eq "$name: nobody locked (log)" 0 "$(grep -c '^lock ' "$control/authguard.log")"
    check_eq "$name: nobody locked (store)" "" \
        "$(redis --scan --pattern "t-scen-$name:*:lock" | head -1)"
}

# The single-user patterns run side by side, one worker each.
pids=()
replay cgnat-phone 1 --scenario cgnat-phone & pids+=($!)
replay v6-home 1 --scenario v6-home & pids+=($!)
replay v6-phone 1 --scenario v6-phone & pids+=($!)
replay sendas 1 --scenario sendas --per-day 40 & pids+=($!)
replay traveller 1 --scenario traveller & pids+=($!)
for pid in "${pids[@]}"; do wait "$pid"; done

# --- the seed incident
replay seed-day "$jobs" --scenario seed-day
r=$out/seed-day.results
check_driven seed-day
lock_at=$(awk '$2 == "hello@example.com" && $4 == 1 && $6 != 0 { print $1; exit }' "$r")
check "seed-day: hello@example.com is locked" [ -n "$lock_at" ]
bots_in=$(awk -v t="${lock_at:-0}" '$5 == "bot" && $4 == 1 && $6 == 0 && $1 < t' "$r" | wc -l)
check "seed-day: locked after at most 10 bot logins (let in: $bots_in)" [ "$bots_in" -le 10 ]
check_eq "seed-day: lock recorded in the log" 1 \
    "$(grep -c '^lock user=hello@example.com ' "$(control_of seed-day)/authguard.log")"
check_eq "seed-day: no bot login let in after the lock" 0 \
    "$(awk -v t="${lock_at:-0}" '$5 == "bot" && $6 == 0 && $1 >= t' "$r" | wc -l)"
check "seed-day: the old password's retries are all refused" \
    [ "$(awk '$5 == "bot" && $4 == 0 && $6 != 0' "$r" | wc -l)" -gt 20 ]
normal=$(awk '$5 != "bot" && $5 != "owner"' "$r")
check_eq "seed-day: no ordinary user refused ($(wc -l <<<"$normal") logins of \
$(cut -d' ' -f2 <<<"$normal" | sort -u | wc -l) users)" 0 \
    "$(awk '$4 == 1 && $6 != 0' <<<"$normal" | wc -l)"
check_eq "seed-day: nobody but hello@example.com locked" 1 \
    "$(redis --scan --pattern 't-scen-seed-day:*:lock' | wc -l)"

# --- the honest patterns
for name in cgnat-phone v6-home v6-phone sendas traveller; do check_never_locked "$name"; done

replay office-nat "$jobs" --scenario office-nat --days 3 --per-day 4
check_never_locked office-nat

# Webmail: without and with its address in authguard-allow.
replay webmail "$jobs" --scenario webmail --users 1500 --days 1
check_never_locked webmail
server=$(awk '$5 == "webmail" { print $3; exit }' "$out/webmail.traffic")
echo "$server" > "$out/webmail-allow.allow"
replay webmail-allow "$jobs" --scenario webmail --users 1500 --days 1
check_never_locked webmail-allow
check "webmail-allow: the server's logins are not counted (logged as allowlisted)" \
    grep -q "address=$server .*reason=\"allowlisted network\"" \
    "$(control_of webmail-allow)/authguard.log"

# A full history (max-entries) must not blind the detector: a botnet on day
# 25 of a CGNAT phone's history, or on day 2 of a send-as provider's (both
# long full), is locked as fast as on a fresh account. (This was a real
# defect: full histories dropped new events instead of forgetting old ones.)
for hijacked in "cgnat-phone 25 30" "sendas 2 3"; do
    set -- $hijacked
    replay "$1-hijacked" 1 --scenario "$1" --hijack-day "$2" --days "$3"
    r=$out/$1-hijacked.results
    lock_at=$(awk '$5 == "bot" && $4 == 1 && $6 != 0 { print $1; exit }' "$r")
    bots_in=$(awk -v t="${lock_at:-9999999999}" '$5 == "bot" && $6 == 0 && $1 < t' "$r" | wc -l)
    check "$1-hijacked: a botnet on day $2 of a full history is locked within 10 (let in: $bots_in)" \
        test -n "$lock_at" -a "$bots_in" -le 10
done

# --- the world: ordinary users, phones behind carrier NAT spread over
# hundreds of /16s, send-as providers, travellers, and five attacks, every
# address from the real IP-to-AS table. Only "every login driven" is
# checked for now; the figures (locks, refusals, bot logins let in) are
# printed as comments. Its size: 100 users for 2 days, about 8,800 logins,
# 4,700 of them the five attacks' (which do not shrink with the users).
# Each login is a few process starts, ~28 ms of CPU here, so this is about
# the least that keeps every actor in it; AG_WORLD_USERS and AG_WORLD_DAYS
# change it, and tests/standins/world-run --users 3000 --days 3 is the full
# size.
asn_csv=${AG_ASN_CSV_DIR:-}
if [ -z "$asn_csv" ] && [ -z "${AG_ASN_FETCH_ERROR:-}" ]; then
    # Run on its own, not through tests/run-all: fetch (or find) it here.
    asn_csv=$("$AG_ROOT/tools/fetch-asn-data" 2>"$out/fetch-asn-data.err") ||
        { asn_csv=; AG_ASN_FETCH_ERROR="tools/fetch-asn-data failed: $(tail -2 "$out/fetch-asn-data.err" | tr '\n' ' ')"; }
fi
if [ -z "$asn_csv" ]; then
    echo "# skipped: world: the IP-to-AS table could not be fetched (${AG_ASN_FETCH_ERROR:-AG_ASN_CSV_DIR is empty})"
else
    control=$(new_control scen-world </dev/null)
    t0=$(ms_now)
    AG_BUILD=$AG_BUILD "$AG_ROOT/tests/standins/world-run" --asn-table "$asn_csv" --control "$control" \
        --users "${AG_WORLD_USERS:-100}" --days "${AG_WORLD_DAYS:-2}" --jobs "$jobs" \
        --work "$out/world" --quiet > "$out/world.figures" 2>&1
    world_rc=$?
    figure() { awk -v n="$1" '$1 == n { print $2 }' "$out/world.figures"; }
    logins=$(figure logins)
    check "world: traffic generated from the table (${logins:-no} logins)" \
        test "$world_rc" -le 1 -a "${logins:-0}" -gt 0
    check_eq "world: every login driven through authguard-checkpw" "${logins:-?}" "$(figure driven)"
    check_eq "world: wrong passwords answered by vchkpw alone (exit 3)" 0 \
        "$(figure wrong-passwords-not-answered-3)"
    # The figures, less the per-KIND user counts (in $out/world.figures).
    grep -v -e '-having-' "$out/world.figures" | sed 's/^/# world: /'
    echo "# world: $(( ($(ms_now) - t0) / 1000 )) s"
fi
