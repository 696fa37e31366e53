# ctl.sh - authguardctl against the suite's Redis: every command, --json
# parse-ability, the exit codes (unknown user, Redis down, bad control file,
# bad usage), an attack locked by authguard-checkpw and unlocked again (the
# user logs in, the attack's networks are forgotten), manual locks with
# notification, and hostile user names in tables and JSON.
source "$AG_ROOT/tests/lib.sh"
trap_cleanup # start_redis

CTL=$AG_BUILD/authguardctl
N=1700000000 # the test clock, AUTHGUARD_NOW
NOTIFIED=$AG_TMP/ctl-notified
cat > "$AG_TMP/ctl-notify" <<EOF
#!/bin/sh
cat >> "$NOTIFIED"
EOF
chmod +x "$AG_TMP/ctl-notify"

C=$(new_control ctl <<EOF
notify-command = $AG_TMP/ctl-notify
override = @override.example lock-new-networks-long=20
EOF
)
printf '192.0.2.0/24\nvip@example.com\n' > "$C/authguard-allow"

ctl() { AUTHGUARD_NOW=${NOW:-$N} "$CTL" --control "$C" "$@"; }
# rc COMMAND...: the exit code, output discarded
rc() { "$@" >/dev/null 2>&1; echo $?; }
# login USER IP TIME [PASSWORD]: exit code of authguard-checkpw
login() { checkpw "$C" "$1" "${4:-secret}" "$2" AUTHGUARD_NOW="$3"; }
# jget PYTHON-EXPRESSION: evaluates it with d = the JSON document on stdin
jget() { python3 -c 'import json, sys; d = json.load(sys.stdin); print(eval(sys.argv[1]))' "$1"; }
json_ok() { python3 -c 'import json, sys; json.load(sys.stdin)' 2>/dev/null; }
# one_json NAME COMMAND...: the command prints exactly one line of valid JSON
one_json() {
    local name=$1 out; shift
    out=$("$@" 2>/dev/null)
    if [ "$(printf '%s\n' "$out" | wc -l)" = 1 ] && printf '%s' "$out" | json_ok; then
        ok "$name"
    else
        not_ok "$name: $out"
    fi
}
# contains TEXT PART...: every PART occurs in TEXT (literally)
contains() {
    local text=$1 part; shift
    for part in "$@"; do [[ "$text" == *"$part"* ]] || return 1; done
}
wait_for_file() { for _ in $(seq 50); do [ -s "$1" ] && return 0; sleep 0.1; done; return 1; }

# --- usage and help ---
check_eq "no command: usage error" 2 "$(rc "$CTL")"
check_eq "unknown command: usage error" 2 "$(rc ctl frobnicate)"
check_eq "show without a user: usage error" 2 "$(rc ctl show)"
check_eq "show with two users: usage error" 2 "$(rc ctl show a b)"
check_eq "unknown option: usage error" 2 "$(rc ctl locks --bogus)"
check_eq "abbreviated option refused: usage error" 2 "$(rc ctl locks --js)"
check_eq "top --limit not a number: usage error" 2 "$(rc ctl top --limit many)"
check_eq "top --limit negative: usage error" 2 "$(rc ctl top --limit -3)"
check_eq "top --window bad: usage error" 2 "$(rc ctl top --window soon)"
check_eq "lock without --reason: usage error" 2 "$(rc ctl lock someone)"
check_eq "lock --for bad: usage error" 2 "$(rc ctl lock someone --reason x --for banana)"
check_eq "lock --reason with a newline: usage error" 2 "$(rc ctl lock someone --reason $'a\nb')"
check_eq "user name with a control byte: usage error" 2 "$(rc ctl show $'a\x01b@example.com')"
check_eq "empty user name: usage error" 2 "$(rc ctl show '')"
err=$(ctl frobnicate 2>&1 >/dev/null)
check "usage error on stderr as 'authguardctl: ...'" contains "$err" "authguardctl: unknown command 'frobnicate'"
out=$("$CTL" --help); code=$?
check_eq "--help exits 0" 0 "$code"
check "--help lists commands and exit codes" \
    contains "$out" "unlock USER [--keep-history]" "Exit codes" "4  store unreachable"
out=$("$CTL" unlock --help); code=$?
check_eq "unlock --help exits 0" 0 "$code"
check "unlock --help describes --keep-history" contains "$out" "forget nothing" "--keep-history"
out=$("$CTL" help lock)
check "help lock describes --reason and --for" contains "$out" "--reason TEXT" "--for DURATION"
check_eq "a user name starting with a dash after --" 1 "$(rc ctl show -- -x@example.com)"
check_eq "options before the command" 0 "$(rc "$CTL" --json --control "$C" check-config)"

# --- check-config ---
out=$(ctl check-config); code=$?
check_eq "check-config exits 0" 0 "$code"
check_eq "check-config prints ok first" ok "$(printf '%s\n' "$out" | head -1)"
check "check-config shows the thresholds" contains "$out" "lock-new-networks-short=6"
one_json "check-config --json is one JSON line" ctl check-config --json
check_eq "check-config --json: domain override" 20 \
    "$(ctl check-config --json 2>/dev/null | jget 'd["domain_thresholds"]["override.example"]["lock-new-networks-long"]')"
check_eq "check-config --json: allowlist" "['192.0.2.0/24'] ['vip@example.com']" \
    "$(ctl check-config --json 2>/dev/null | jget 'd["allow_networks"], d["allow_users"]' | tr -d '(),' )"

BAD=$AG_TMP/control-ctl-bad
mkdir -p "$BAD"
printf 'redis = unix:%s\nwindow-short = banana\n' "$AG_REDIS_SOCK" > "$BAD/authguard"
err=$("$CTL" --control "$BAD" check-config 2>&1 >/dev/null); code=$?
check_eq "check-config on a bad file exits 3" 3 "$code"
check "the error names file:line" contains "$err" "authguardctl: $BAD/authguard:2: " banana
check_eq "show with a bad control file exits 3" 3 "$(rc "$CTL" --control "$BAD" show alice)"
printf '10.0.0.0/33\n' > "$BAD/authguard-allow"
printf 'redis = unix:%s\n' "$AG_REDIS_SOCK" > "$BAD/authguard"
check_eq "bad authguard-allow exits 3" 3 "$(rc "$CTL" --control "$BAD" check-config)"

# --- store unreachable ---
DOWN=$(new_control ctl-down <<<"redis = unix:$AG_TMP/no-such-dir/redis.sock")
for cmd in "show alice" "locks" "unlock alice" "lock alice --reason x" "top" "stats"; do
    # shellcheck disable=SC2086
    check_eq "$cmd with Redis down exits 4" 4 "$(rc "$CTL" --control "$DOWN" $cmd)"
done
err=$("$CTL" --control "$DOWN" stats 2>&1 >/dev/null)
check "store error on stderr" contains "$err" "authguardctl: redis unix:$AG_TMP/no-such-dir/redis.sock: cannot connect"
err=$("$CTL" --control "$DOWN" check-config 2>&1 >/dev/null); code=$?
check_eq "check-config with the store unreachable: exit 4 (it used to pass)" 4 "$code"
check "... saying so" contains "$err" "authguardctl: error: the store cannot be used: redis unix:$AG_TMP/no-such-dir/redis.sock"

# --- unknown users ---
check_eq "show of an unknown user exits 1" 1 "$(rc ctl show nobody@example.com)"
check_eq "unlock of an unknown user exits 1" 1 "$(rc ctl unlock nobody@example.com)"
one_json "locks --json on an empty store" ctl locks --json
check_eq "locks --json on an empty store: no locks" 0 "$(ctl locks --json | jget 'len(d["locks"])')"
check_eq "top on an empty store exits 0" 0 "$(rc ctl top)"

# --- an attack: alice's home network, then six new /16 within minutes ---
check_eq "alice logs in from home" 0 "$(login alice@example.com 203.0.113.10 $((N - 2 * 86400)))"
codes=""
for i in 1 2 3 4 5 6; do codes+="$(login alice@example.com 10.$((10 + i)).0.5 $((N + 60 * i))) "; done
check_eq "the sixth new network locks alice" "0 0 0 0 0 1 " "$codes"
NOW=$((N + 600))

out=$(ctl show alice@example.com); code=$?
check_eq "show alice exits 0" 0 "$code"
check "show: locked, with reason and evidence" \
    contains "$out" LOCKED "lock-new-networks-short=6" "10.16.0.0/16  2023-11-14T22:19:20Z  10.16.0.5"
check "show: observations with UTC times and networks" \
    grep -qE "success  2023-11-12T22:13:20Z  2023-11-12T22:13:20Z      1   -  +[a-z0-9-]+ +203.0.113.0/24  203.0.0.0/16  203.0.113.10" <<<"$out"
check_eq "show normalises the name (ALICE@EXAMPLE.COM)" 0 "$(rc ctl show ALICE@Example.COM)"
one_json "show --json is one JSON line" ctl show alice@example.com --json
# The locking login was refused, so it is not remembered: six networks in
# the evidence, five of them (and home) in the store.
check_eq "show --json: lock, evidence, windows, observations" "True 6 5 6 manual?False" \
    "$(ctl show alice@example.com --json | jget '" ".join(map(str, [d["lock"]["active"], len(d["lock"]["evidence_networks"]), d["windows"]["short"]["new_wide_networks"], len(d["observations"]), "manual?" + str(d["lock"]["evidence"] == "manual")]))')"
check_eq "show --json: /24 and wide network of an address" "203.0.113.0/24 203.0.0.0/16" \
    "$(ctl show alice@example.com --json | jget '" ".join([(o["network"] + " " + o["wide_network"]) for o in d["observations"] if o["address"] == "203.0.113.10"])')"

check_eq "alice's home login is refused while locked" 1 "$(login alice@example.com 203.0.113.10 $((N + 500)))"
check_eq "show: attempts after the lock" 1 "$(NOW=$((N + 600)) ctl show alice@example.com --json | jget 'd["lock"]["attempts_after"]')"

out=$(ctl locks)
check "locks lists alice with the reason" contains "$out" "locked         1  alice@example.com  6 new networks"
one_json "locks --json is one JSON line" ctl locks --json
check_eq "locks --json: alice" "alice@example.com True" \
    "$(ctl locks --json | jget '" ".join(l["user"] + " " + str(l["lock"]["active"]) for l in d["locks"])')"

check_eq "bob logs in from home" 0 "$(login bob@example.com 198.51.100.20 $((N + 100)))"
out=$(ctl top)
check_eq "top: alice first, 6 wide networks in the long window" "6 6 6 5 0 locked alice@example.com" \
    "$(printf '%s\n' "$out" | sed -n 3p | tr -s ' ' | sed 's/^ //')"
one_json "top --json is one JSON line" ctl top --json
check_eq "top --json: order and lock state" "alice@example.com:6:locked bob@example.com:1:None" \
    "$(ctl top --json | jget '" ".join("%s:%s:%s" % (u["user"], u["wide_networks"], u["lock"]) for u in d["users"])')"
check_eq "top --limit 1" 1 "$(ctl top --json --limit 1 | jget 'len(d["users"])')"
check_eq "top --window 5m leaves out older logins" "alice@example.com" \
    "$(NOW=$((N + 420)) ctl top --json --window 5m | jget '" ".join(u["user"] for u in d["users"])')"

out=$(ctl stats)
check "stats table" contains "$out" "users         2" "locks         1" "observations  7"
one_json "stats --json is one JSON line" ctl stats --json
check_eq "stats --json" "2 1 7 True" \
    "$(ctl stats --json | jget '" ".join(map(str, [d["users"], d["locks"], d["observations"], d["memory_bytes"] > 0]))')"

# --- unlock forgets the attack; alice logs in again ---
out=$(ctl unlock ALICE@example.com); code=$?
check_eq "unlock exits 0" 0 "$code"
check "unlock reports the forgotten addresses" contains "$out" "forgot 5 successful addresses" " 10.11.0.5 "
check_eq "unlock again: not locked, exits 1" 1 "$(rc ctl unlock alice@example.com)"
check_eq "unlock forgot the evidence networks, kept home" "203.0.113.10" \
    "$(ctl show alice@example.com --json | jget '" ".join(o["address"] for o in d["observations"])')"
check_eq "show after unlock: no lock" None "$(ctl show alice@example.com --json | jget 'd["lock"]')"
check "the unlock is logged" grep -q "unlock user=alice@example.com by=.* forgotten=5 reason=" "$C/authguard.log"
check_eq "locks after unlock: none" "no locks" "$(ctl locks)"
check_eq "alice logs in from home again" 0 "$(login alice@example.com 203.0.113.10 $((N + 700)))"
check_eq "alice logs in from a forgotten attack network (new again, allowed)" 0 \
    "$(login alice@example.com 10.11.0.5 $((N + 720)))"
check_eq "alice has 1 new network after the unlock" 1 \
    "$(NOW=$((N + 800)) ctl show alice@example.com --json | jget 'd["windows"]["short"]["new_wide_networks"]')"

# --- unlock --keep-history ---
check_eq "carol logs in from home" 0 "$(login carol@example.com 203.0.113.30 $((N - 86400 * 3)))"
for i in 1 2 3 4 5 6; do login carol@example.com 10.$((40 + i)).1.1 $((N + 60 * i)) >/dev/null; done
check_eq "carol is locked" True "$(ctl show carol@example.com --json | jget 'd["lock"]["active"]')"
out=$(ctl unlock carol@example.com --keep-history --json); code=$?
check_eq "unlock --keep-history --json exits 0" 0 "$code"
check_eq "unlock --keep-history --json: nothing forgotten" "True None 0" \
    "$(printf '%s' "$out" | jget '" ".join(map(str, [d["unlocked"], d["forget_since"], len(d["forgotten"])]))')"
check_eq "unlock --keep-history kept the attack's networks (those let in)" 6 \
    "$(ctl show carol@example.com --json | jget 'len(d["observations"])')"

# --- manual lock, notification, expiry ---
NOW=$((N + 600)) # the lock lasts until N + 4200
rm -f "$NOTIFIED"
out=$(ctl lock Dave@example.com --reason "phone stolen" --for 1h); code=$?
check_eq "manual lock exits 0" 0 "$code"
check "manual lock is notified" wait_for_file "$NOTIFIED"
check "notification names the user and the reason" grep -q "locked the account dave@example.com" "$NOTIFIED"
check "notification carries the reason" grep -q "Reason: phone stolen" "$NOTIFIED"
check "the manual lock is logged" grep -q 'manual-lock user=dave@example.com .*reason="phone stolen"' "$C/authguard.log"
check_eq "lock again: already locked, exits 1" 1 "$(rc ctl lock dave@example.com --reason again)"
check_eq "manual lock: evidence manual, until = since + 1h" "manual 3600" \
    "$(ctl show dave@example.com --json | jget 'd["lock"]["evidence"] + " " + str(d["lock"]["until"] - d["lock"]["since"])')"
check_eq "dave's login is refused" 1 "$(login dave@example.com 198.51.100.40 $((N + 660)))"
check_eq "dave's login after the hour is allowed" 0 "$(login dave@example.com 198.51.100.40 $((N + 4300)))"
check "locks shows the expired lock" contains "$(NOW=$((N + 4400)) ctl locks)" "expired         1  dave@example.com  phone stolen"
check_eq "lock over an expired lock" 0 "$(NOW=$((N + 4400)) rc ctl lock dave@example.com --reason again)"
check_eq "the new lock is active" "True again 0" \
    "$(NOW=$((N + 4500)) ctl show dave@example.com --json | jget '" ".join(map(str, [d["lock"]["active"], d["lock"]["reason"], d["lock"]["until"]]))')"
out=$(ctl lock vip@example.com --reason test 2>&1)
check "lock of an allowlisted user warns" contains "$out" "authguardctl: warning: 'vip@example.com' is listed in authguard-allow"
out=$(ctl lock erin@example.com --reason "pre-emptive" --json)
check_eq "lock --json" "erin@example.com True None" \
    "$(printf '%s' "$out" | jget '" ".join(map(str, [d["user"], d["locked"], d["notify_failed"]]))')"
check_eq "a lock-only user is shown" 0 "$(rc ctl show erin@example.com)"
check_eq "unlock of a lock-only user" 0 "$(rc ctl unlock erin@example.com)"

# --- hostile user names ---
EVIL=$'Evil"\\{*}?[x] \xc3\xa9@Example.com' # quote, backslash, glob bytes, UTF-8
EVIL_LOWER=$'evil"\\{*}?[x] \xc3\xa9@example.com'
LATIN=$'m\xfcller@example.com' # not UTF-8
check_eq "hostile user logs in" 0 "$(login "$EVIL" 198.51.100.66 $((N + 100)))"
check_eq "latin-1 user logs in" 0 "$(login "$LATIN" 198.51.100.67 $((N + 100)))"
# A name with control bytes can only come from outside the hooks; put it in directly.
redis hset $'t-ctl:{ctl\x1b[31mred\nline@example.com}' 's|198.51.100.68' "$((N + 100)) $((N + 100)) 1" >/dev/null
out=$(ctl show "$EVIL"); code=$?
check_eq "show hostile user exits 0" 0 "$code"
check "show escapes the backslash and UTF-8" contains "$out" 'user:        evil"\x5c{*}?[x] \xc3\xa9@example.com'
check_eq "show --json round-trips the hostile name" "$EVIL_LOWER" \
    "$(ctl show "$EVIL" --json | python3 -c 'import json, sys; sys.stdout.buffer.write(json.load(sys.stdin)["user"].encode())')"
check_eq "show --json: a non-UTF-8 byte as \\u00XX" '"user":"m\u00fcller@example.com"' \
    "$(ctl show "$LATIN" --json | grep -o '"user":"[^"]*"')"
out=$(ctl top --limit 0)
check "top escapes control bytes" contains "$out" 'ctl\x1b[31mred\x0aline@example.com'
check_eq "top prints no raw control byte" 0 "$(printf '%s' "$out" | tr -d '\n' | LC_ALL=C grep -c '[[:cntrl:]]')"
one_json "top --json with hostile names is one JSON line" ctl top --json --limit 0
check_eq "top --json: control bytes as \\u escapes" 1 "$(ctl top --json --limit 0 | grep -c 'ctl\\u001b\[31mred\\u000aline')"
check "top --json decodes every name" contains "$(ctl top --json --limit 0 | jget 'repr([u["user"] for u in d["users"]])')" \
    "'ctl\x1b[31mred\nline@example.com'" "'evil\"\\\\{*}?[x] é@example.com'" "'müller@example.com'"
check_eq "lock a hostile name" 0 "$(rc ctl lock "$EVIL" --reason 'quote " and backslash \ here')"
out=$(ctl locks)
check "locks escapes the hostile name and reason" \
    contains "$out" 'evil"\x5c{*}?[x] \xc3\xa9@example.com  quote " and backslash \x5c here'
check_eq "locks --json round-trips the reason" 'quote " and backslash \ here' \
    "$(ctl locks --json | jget '[l["lock"]["reason"] for l in d["locks"] if l["user"].startswith("evil")][0]')"
check_eq "unlock a hostile name" 0 "$(rc ctl unlock "$EVIL")"
# As the hooks do, the command line refuses names with control bytes.
check_eq "a control-byte name on the command line: usage error" 2 \
    "$(rc ctl show $'ctl\x1b[31mred\nline@example.com')"

# --- providers (asn-db): every view names them; without a table nothing changed ---
# A carrier over 16 /16s, a home ISP (a comma in its name), and a provider
# whose name carries what each output must escape (HTML, UTF-8, quotes).
cat > "$AG_TMP/ctl-asn.csv" <<'CSV'
start,end,asn,organisation
100.64.0.0,100.79.255.255,64500,Some Carrier
198.18.0.0,198.18.255.255,64501,"Home ISP, Inc."
198.19.0.0,198.19.255.255,64502,"<b>Évil & ""Net""</b>"
CSV
check_eq "asn-db build: a table from a few CSV lines" 0 \
    "$(rc "$CTL" asn-db build "$AG_TMP/ctl-asn.db" "$AG_TMP/ctl-asn.csv")"
rm -f "$NOTIFIED"
PC=$(new_control ctl-asn <<EOF
asn-db = $AG_TMP/ctl-asn.db
notify-command = $AG_TMP/ctl-notify
EOF
)
pctl() { AUTHGUARD_NOW=${NOW:-$N} "$CTL" --control "$PC" "$@"; }
plogin() { checkpw "$PC" "$1" secret "$2" AUTHGUARD_NOW="$3"; }
# frank: home, then his phone on the carrier, a new /16 each session: one provider
plogin frank@example.com 198.18.0.10 $((N - 2 * 86400)) >/dev/null
codes=""
for i in 0 1 2 3 4 5 6 7; do codes+="$(plogin frank@example.com 100.$((64 + i)).$i.9 $((N + 300 * i))) "; done
check_eq "a phone over 8 /16s of one carrier is let in" "0 0 0 0 0 0 0 0 " "$codes"
# gina: home, then a botnet; the sixth new provider (the carrier) locks
plogin gina@example.com 198.18.5.5 $((N - 2 * 86400)) >/dev/null
codes=""
for a in 10.1.0.5 10.2.0.5 198.19.1.1 10.3.0.5 10.4.0.5 100.64.9.9; do codes+="$(plogin gina@example.com $a $((N + 60))) "; done
check_eq "a botnet over providers and prefixes is locked at the sixth" "0 0 0 0 0 1 " "$codes"
NOW=$((N + 900))

out=$(pctl show gina@example.com)
check "show: the evidence names the providers, escaped" contains "$out" \
    "AS64502 <b>\xc3\x89vil & \"Net\"</b>  2023-11-14T22:14:20Z  198.19.1.1" "10.1.0.0/16 "
check "show: an observation's provider with its prefix" contains "$out" \
    "198.18.5.0/24  AS64501 Home ISP, Inc. (198.18.0.0/16) " \
    "AS64502 <b>\xc3\x89vil & \"Net\"</b> (198.19.0.0/16)  198.19.1.1" "10.1.0.0/24    10.1.0.0/16 "
check_eq "show --json: provider, provider_name and wide_prefix beside wide_network" \
    "10.1.0.0/16 None None 10.1.0.0/16 | AS64502 AS64502 <b>Évil & \"Net\"</b> 198.19.0.0/16" \
    "$(pctl show gina@example.com --json | jget '" | ".join(" ".join(str(o[k]) for k in ("wide_network", "provider", "provider_name", "wide_prefix")) for o in d["observations"] if o["address"] in ("198.19.1.1", "10.1.0.5"))')"
check_eq "show --json: the evidence's provider names" "[None, None, None, None, 'Some Carrier', '<b>Évil & \"Net\"</b>']" \
    "$(pctl show gina@example.com --json | jget '[n["provider_name"] for n in d["lock"]["evidence_networks"]]')"
out=$(pctl locks)
check "locks: the new networks follow the reason, named" contains "$out" \
    "(lock-new-networks-short=6); new networks: 10.1.0.0/16, 10.2.0.0/16, 10.3.0.0/16, 10.4.0.0/16, AS64500 Some Carrier, AS64502 <b>\xc3\x89vil & \"Net\"</b>"
out=$(pctl top)
check_eq "top: the busiest wide network, named" "1 8 8 1 0 - AS64500 Some Carrier: 8 frank@example.com" \
    "$(printf '%s\n' "$out" | grep frank@ | tr -s ' ' | sed 's/^ //')"
check_eq "top --json: busiest_wide_network" "AS64500 Some Carrier 8" \
    "$(pctl top --json | jget '" ".join(str(b[k]) for u in d["users"] if u["user"] == "frank@example.com" for b in [u["busiest_wide_network"]] for k in ("network", "provider_name", "addresses"))')"
# wait_for_line FILE LINE: the (detached) notification has arrived with LINE
wait_for_line() { for _ in $(seq 50); do grep -qxF -- "$2" "$1" 2>/dev/null && return 0; sleep 0.1; done; return 1; }
check "the lock notification: each evidence line with its provider, escaped" wait_for_line "$NOTIFIED" \
    '  AS64502@1700000060[198.19.1.1]  AS64502 <b>\xc3\x89vil & "Net"</b>'
check "... a prefix's line as before" wait_for_line "$NOTIFIED" '  10.1.0.0/16@1700000060[10.1.0.5]'

# henry: ten new /16s of the carrier within the hour lock him (the reason names it)
plogin henry@example.com 198.18.7.7 $((N - 2 * 86400)) >/dev/null
for i in $(seq 1 10); do plogin henry@example.com 100.$((69 + i)).$i.1 $((N + 60 * i)) >/dev/null; done
check "locks: the within-provider rule names the provider, the evidence its new /16s" contains "$(pctl locks)" \
    "10 new blocks of AS64500 Some Carrier within 3600s (lock-provider-new-prefixes-short=10); new networks: 100.70.0.0/16, 100.71.0.0/16," "100.79.0.0/16"
check_eq "show: the count behind the within-provider lock" "9 9" \
    "$(NOW=$((N + 900)) pctl show henry@example.com --json | jget '"%d %d" % (d["windows"]["short"]["provider_new_prefixes"], d["windows"]["long"]["provider_new_prefixes"])')"
pctl report --html "$AG_TMP/ctl-asn.html" >/dev/null 2>&1
html=$(cat "$AG_TMP/ctl-asn.html")
check "report: providers named in the evidence, the networks and the addresses" contains "$html" \
    "<b>AS64500 Some Carrier</b> " "<tr><td>AS64500 Some Carrier</td><td>100.70.0.0/16, 100.71.0.0/16, 100.72.0.0/16, 100.73.0.0/16 and 5 more</td>" \
    "<td>AS64501 Home ISP, Inc. (198.18.0.0/16)</td>" "AS64502 &lt;b&gt;Évil &amp; &quot;Net&quot;&lt;/b&gt;"
check_eq "report: the name never raw" 0 "$(grep -c '<b>Évil' "$AG_TMP/ctl-asn.html")"

# The same logins without a table: prefixes, the columns as before.
NC=$(new_control ctl-noasn)
for i in 0 1 2; do checkpw "$NC" frank@example.com secret 100.$((64 + i)).$i.9 AUTHGUARD_NOW=$((N + 300 * i)) >/dev/null; done
check "without asn-db: top as before (no provider column)" contains "$(AUTHGUARD_NOW=$((N + 900)) "$CTL" --control "$NC" top | head -2)" \
    "WIDE  NETS  ADDRS  NEW  FAILING  LOCK  USER"
check "without asn-db: show's wide network is the prefix" contains \
    "$(AUTHGUARD_NOW=$((N + 900)) "$CTL" --control "$NC" show frank@example.com)" "100.64.0.0/24  100.64.0.0/16  100.64.0.9"
unset NOW

# --- check-config: every key in effect, and what the hooks need ---
KC=$(new_control ctl-keys <<EOF
alert-only = yes
next-queue = /bin/true
rate-limit-action = reject
session-ttl = 2h
trust-auth-env = yes
EOF
)
out=$("$CTL" --control "$KC" check-config 2>/dev/null); code=$?
check_eq "check-config: every key in effect (exit 0)" 0 "$code"
check "check-config shows alert-only, next-queue, rate-limit-action, session-ttl, trust-auth-env" \
    contains "$out" "alert only         yes" "next queue         /bin/true" "rate limit action  reject" \
    "session ttl        2h" "trust auth env     yes"
check_eq "check-config --json shows them too" "True /bin/true reject 7200 True" \
    "$("$CTL" --control "$KC" --json check-config 2>/dev/null |
        jget '" ".join(str(d[k]) for k in ["alert_only", "next_queue", "rate_limit_action", "session_ttl", "trust_auth_env"])')"
keys=$(python3 - "$AG_ROOT/lib/config.cpp" <<'PY'
import re, sys
src = open(sys.argv[1]).read()
block = src[src.index("po::options_description known_keys()"):]
block = block[:block.index("return desc;")]
print("\n".join(re.findall(r'"([a-z0-9-]+)"', block)))
PY
)
json=$("$CTL" --control "$KC" --json check-config 2>/dev/null)
missing=
for k in $keys; do
    case $k in
    override) f=user_thresholds ;;
    fingerprint-secret) f=fingerprints ;;
    redis-password) f=redis_password_set ;;
    dovecot-policy-secret) f=dovecot_policy_secret_set ;;
    sentinel) f=sentinels ;;
    *) f=${k//-/_} ;;
    esac
    grep -q "\"$f\":" <<<"$json" || missing+=" $k"
done
check_eq "check-config --json: no key of known_keys() left out" "" "$missing"

# next-queue that cannot run
NQ=$(new_control ctl-nq <<<"next-queue = $AG_TMP/no-such-qmail-queue")
err=$("$CTL" --control "$NQ" check-config 2>&1 >/dev/null); code=$?
check_eq "check-config: a next-queue that does not exist is an error (exit 3)" 3 "$code"
check "... naming it" contains "$err" "error: next-queue $AG_TMP/no-such-qmail-queue: No such file or directory"
printf 'x' >"$AG_TMP/ctl-noexec"
chmod 644 "$AG_TMP/ctl-noexec"
NQ2=$(new_control ctl-nq2 <<<"next-queue = $AG_TMP/ctl-noexec")
check "check-config: a next-queue that is not executable is an error" contains \
    "$("$CTL" --control "$NQ2" check-config 2>&1)" "next-queue $AG_TMP/ctl-noexec: not executable"
NQ3=$(new_control ctl-nq3 <<<"dkim-next-queue = $AG_TMP/no-such-dkim-next")
err=$("$CTL" --control "$NQ3" check-config 2>&1 >/dev/null); code=$?
check_eq "check-config: a dkim-next-queue that does not exist is an error (it was not checked)" 3 "$code"
check "... naming it" contains "$err" "error: dkim-next-queue $AG_TMP/no-such-dkim-next: No such file or directory"

# a wrong redis-password: the store cannot be authenticated
start_redis ctl-auth --requirepass right-password-123
PW=$(new_control ctl-pw <<EOF
redis = unix:$AG_TMP/ctl-auth.sock
redis-password = wrong-password-456
EOF
)
err=$("$CTL" --control "$PW" check-config 2>&1 >/dev/null); code=$?
check_eq "check-config: a wrong redis-password is an error (exit 4; it used to pass)" 4 "$code"
check "... saying the store cannot be used" contains "$err" "error: the store cannot be used: redis unix:$AG_TMP/ctl-auth.sock"
sed -i 's/wrong-password-456/right-password-123/' "$PW/authguard"
check_eq "... the right one passes" 0 "$(rc "$CTL" --control "$PW" check-config)"

# the state directory must be writable by the user the hooks run as
SD=$(new_control ctl-sd </dev/null)
mkdir -m 755 "$AG_TMP/authguard-sd"
printf 'store = lmdb\nlmdb-path = %s\n' "$AG_TMP/authguard-sd" >"$SD/authguard"
err=$(AUTHGUARD_USER=nobody "$CTL" --control "$SD" check-config 2>&1 >/dev/null); code=$?
check_eq "check-config: a store directory the hooks' user cannot write is an error (exit 3)" 3 "$code"
check "... naming the directory and the user" contains "$err" "$AG_TMP/authguard-sd (the store) is not writable by nobody"
chown nobody "$AG_TMP/authguard-sd"
check_eq "... once it is theirs, no error" 0 "$(AUTHGUARD_USER=nobody rc "$CTL" --control "$SD" check-config)"
check "an unknown hooks' user (AUTHGUARD_USER) is a warning" contains \
    "$(AUTHGUARD_USER=no-such-user-x "$CTL" --control "$SD" check-config 2>&1)" \
    "warning: there is no user 'no-such-user-x' (AUTHGUARD_USER"
rm -rf "$AG_TMP/authguard-sd"

# a parse error: file:line, and what the hooks do meanwhile
printf 'redis = unix:%s\nwindow-short = banana\n' "$AG_REDIS_SOCK" >"$BAD/authguard"
err=$("$CTL" --control "$BAD" check-config 2>&1 >/dev/null)
check "check-config on a bad file says what the hooks run on meanwhile" contains "$err" \
    "authguardctl: $BAD/authguard:2: " "meanwhile the hooks run on the "

# --- a wrong control directory ---
err=$(env -u AUTHGUARD_CONTROL QMAILHOME="$AG_TMP/no-qmail" "$CTL" stats 2>&1); code=$?
check_eq "a control directory that does not exist: exit 3 (not 'cannot create the directory')" 3 "$code"
check "... naming the directory read, and how to give another" contains "$err" \
    "the control directory $AG_TMP/no-qmail/control (\$QMAILHOME/control) does not exist" "--control DIR or AUTHGUARD_CONTROL=DIR"
mkdir -p "$AG_TMP/ctl-empty"
err=$(AUTHGUARD_CONTROL=$AG_TMP/ctl-empty "$CTL" check-config 2>&1 >/dev/null)
check "a control directory without an authguard file: said so" contains "$err" \
    "the control directory $AG_TMP/ctl-empty (\$AUTHGUARD_CONTROL) has no authguard file"

# --- absolute paths, whatever --control was ---
check_eq "stats --json with a relative --control: lmdb_path is absolute" "$AG_TMP/authguard" \
    "$(cd "$AG_TMP" && "$CTL" --control control-ctl stats --json | jget 'd["lmdb_path"]')"
check_eq "check-config --json with a relative --control: control_dir is absolute" "$AG_TMP/control-ctl" \
    "$(cd "$AG_TMP" && "$CTL" --control ./control-ctl/ check-config --json 2>/dev/null | jget 'd["control_dir"]')"
