# unlock.sh - authguardctl unlock forgets only what the lock's evidence names
# as new, never the owner's own networks (issue 12: unlock forgot 127.0.0.1,
# first seen three hours before the lock, because it forgot every success
# first seen within window-long of the lock). A manual lock names no
# networks: unlock forgets nothing.
source "$AG_ROOT/tests/lib.sh"

CTL=$AG_BUILD/authguardctl
C=$(new_control unlock </dev/null)
N=1700000000
ctl() { AUTHGUARD_NOW=${NOW:-$N} "$CTL" --control "$C" "$@"; }
login() { checkpw "$C" "$1" secret "$2" AUTHGUARD_NOW="$3"; }
jget() { python3 -c 'import json, sys; d = json.load(sys.stdin); print(eval(sys.argv[1]))' "$1"; }
# contains TEXT PART...: every PART occurs in TEXT (literally)
contains() {
    local text=$1 part; shift
    for part in "$@"; do [[ "$text" == *"$part"* ]] || return 1; done
}
addresses() { ctl show "$1" --json | jget '" ".join(sorted(o["address"] for o in d["observations"] if o["kind"] == "success"))'; }

# The owner logs in from 127.0.0.1 three hours before the attack (inside
# window-long, outside window-short), then six new networks in six minutes.
check_eq "the owner logs in from 127.0.0.1" 0 "$(login alice@example.com 127.0.0.1 $((N - 3 * 3600)))"
codes=""
for i in 1 2 3 4 5 6; do codes+="$(login alice@example.com 10.$((10 + i)).0.5 $((N + 60 * i))) "; done
check_eq "six new networks lock alice" "0 0 0 0 0 1 " "$codes"
NOW=$((N + 600))
check_eq "the evidence names the attack's networks only" \
    "10.11.0.0/16 10.12.0.0/16 10.13.0.0/16 10.14.0.0/16 10.15.0.0/16 10.16.0.0/16" \
    "$(ctl show alice@example.com --json | jget '" ".join(n["network"] for n in d["lock"]["evidence_networks"])')"

out=$(ctl unlock alice@example.com --json); code=$?
check_eq "unlock exits 0" 0 "$code"
check_eq "unlock --json: the evidence's networks and their addresses forgotten" \
    "6 10.11.0.5 10.12.0.5 10.13.0.5 10.14.0.5 10.15.0.5" \
    "$(printf '%s' "$out" | jget '" ".join([str(len(d["forget_networks"]))] + d["forgotten"])')"
check_eq "unlock forgot 127.0.0.1, the owner's own network first seen 3 h before the lock" \
    "127.0.0.1" "$(addresses alice@example.com)"
check "the unlock is logged with what it forgot" \
    grep -q "unlock user=alice@example.com by=.* forget_networks=6 forgotten=5 " "$C/authguard.log"
check_eq "the owner's network is still known: 127.0.0.1 logs in" 0 "$(login alice@example.com 127.0.0.1 $((N + 700)))"
check_eq "127.0.0.1 keeps its first-seen time (3 h before the lock) and its logins" "$((N - 3 * 3600)) 2" \
    "$(ctl show alice@example.com --json | jget '" ".join(str(o[k]) for o in d["observations"] if o["address"] == "127.0.0.1" for k in ("first", "count"))')"

# Text output names the networks and addresses.
for i in 1 2 3 4 5 6; do login carol@example.com 10.$((40 + i)).0.7 $((N + 60 * i)) >/dev/null; done
check_eq "carol is locked" True "$(ctl show carol@example.com --json | jget 'd["lock"]["active"]')"
out=$(ctl unlock carol@example.com)
check "unlock (text) says what it forgot and why" contains "$out" \
    "forgot 5 successful addresses in the networks the lock named as new (10.41.0.0/16 " " 10.41.0.7 "

# A manual lock has no evidence: unlock forgets nothing.
check_eq "bob logs in from home" 0 "$(login bob@example.com 127.0.0.1 $((N - 3600)))"
check_eq "bob logs in from the office" 0 "$(login bob@example.com 198.51.100.7 $((N - 600)))"
check_eq "manual lock of bob" 0 "$(ctl lock bob@example.com --reason 'phone stolen' >/dev/null; echo $?)"
out=$(ctl unlock bob@example.com --json)
check_eq "unlock of a manual lock --json: nothing forgotten" "True None 0 0" \
    "$(printf '%s' "$out" | jget '" ".join(map(str, [d["unlocked"], d["forget_since"], len(d["forget_networks"]), len(d["forgotten"])]))')"
check_eq "unlock of a manual lock kept every network" "127.0.0.1 198.51.100.7" "$(addresses bob@example.com)"
ctl lock bob@example.com --reason again >/dev/null
check "unlock of a manual lock (text) says nothing was forgotten" \
    contains "$(ctl unlock bob@example.com)" "history kept: a manual lock names no networks to forget"
check_eq "... and still kept every network" "127.0.0.1 198.51.100.7" "$(addresses bob@example.com)"
