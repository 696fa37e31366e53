# logs.sh - authguardctl scan, report and follow on generated mail logs
# (tests/standins/maillog-gen: the seed's incident inside normal traffic,
# with the seed's own lines) in every format: syslog, RFC 3339, multilog,
# gzip-compressed rotations. Scan finds the hijacked account and nobody
# else, its counts equal the shell pipelines' and the generator's truth,
# bad input is skipped and counted; report renders in headless Chromium;
# follow survives rotation, truncation and restarts without counting an
# event twice or missing one.
source "$AG_ROOT/tests/lib.sh"

CTL=$AG_BUILD/authguardctl
GEN=$AG_ROOT/tests/standins/maillog-gen
W=$AG_TMP/logs
mkdir -p "$W"
export TZ=Asia/Tokyo # the generated server's clock, as the seed's
C=$(new_control logs)

scan() { "$CTL" --control "$C" scan --year 2013 "$@"; }
# jq-like: python over the JSON lines of a scan on stdin
users_json() { python3 -c '
import json, sys
users = {}
for line in sys.stdin:
    d = json.loads(line)
    users[d["user"]] = d
json.dump(users, open(sys.argv[1], "w"))' "$1"; }
# contains_all TEXT PART...: every PART occurs in TEXT
contains_all() {
    local text=$1 part; shift
    for part in "$@"; do [[ "$text" == *"$part"* ]] || return 1; done
}
# pyq FILE EXPR: evaluates EXPR with u = the users of FILE (from users_json)
pyq() { python3 -c 'import json, sys; u = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"; }
# store_vs_scan CONTROL USERS [messages]: where the store's counts (export)
# differ from scan's (USERS from users_json), as a Python list: logins and
# failures (unless the store dropped some of the user's observations,
# max-entries), and with "messages" the messages and recipients (the sum of
# every bucket: for a control whose windows are longer than the log).
store_vs_scan() {
    "$CTL" --control "$1" export > "$W/export.jsonl"
    python3 - "$2" "$W/export.jsonl" "${3:-}" <<'PY'
import json, sys
scan = json.load(open(sys.argv[1]))
stored = {d["user"]: d for d in map(json.loads, open(sys.argv[2]))}
bad = []
for name, want in scan.items():
    d = stored.get(name, {"observations": [], "dropped": 0, "rate": {}})
    got = {"logins": sum(o["count"] for o in d["observations"] if o["kind"] == "success"),
           "failures": sum(o["count"] for o in d["observations"] if o["kind"] == "failure"),
           "messages": sum(n for b, n in d["rate"].items() if b[0] == "s" and b[-1] == "m"),
           "recipients": sum(n for b, n in d["rate"].items() if b[0] == "s" and b[-1] == "r")}
    keys = [] if d["dropped"] else ["logins", "failures"]
    if sys.argv[3] == "messages":
        keys += ["messages", "recipients"]
    bad += [(name, k, got[k], want[k]) for k in keys if got[k] != want[k]]
print(bad)
PY
}

"$GEN" --users 150 --days 4 --truth "$W/truth.json" > "$W/maillog"
"$GEN" --users 150 --days 4 --format multilog > "$W/current"
"$GEN" --users 150 --days 4 --format rfc3339 > "$W/maillog.rfc3339"
"$GEN" --users 150 --days 4 --authguard-lines > "$W/maillog.twice"

# --- the seed's own lines ---
seed_lines=(
    "Jul 22 18:52:46 mailserver vpopmail[17115]: vchkpw-submission: (PLAIN) login success hello@example.com:83.242.101.27"
    "Jul 22 18:52:57 mailserver qmail: 1374486777.611077 info msg 90219: bytes 1364 from <hello@example.com> qp 17121 uid 103"
    "Jul 22 18:52:57 mailserver qmail: 1374486777.638528 starting delivery 77421: msg 90219 to remote ~@~"
    "Jul 24 07:11:42 mailserver vpopmail[32749]: vchkpw-submission: password fail hello@example.com:91.225.163.32"
)
missing=0
for l in "${seed_lines[@]}"; do grep -qxF "$l" "$W/maillog" || missing=$((missing + 1)); done
check_eq "the generated log holds the seed's lines verbatim" 0 "$missing"
printf '%s\n' "${seed_lines[@]}" > "$W/seed.log"
out=$(scan --json "$W/seed.log" 2>/dev/null)
check_eq "the seed's lines: one login, one failure, one message, one recipient" \
    "1 1 1 1 83.242.101.27" \
    "$(echo "$out" | python3 -c 'import json,sys; d=json.loads(sys.stdin.read()); print(d["logins"], d["failures"], d["messages"], d["recipients"], "83.242.101.27")')"
check_eq "the seed's first line is 2013-07-22 18:52:46 JST" "2013-07-22T09:52:46Z" \
    "$(echo "$out" | python3 -c 'import json,sys; print(json.loads(sys.stdin.read())["first_seen_utc"])')"

# --- the incident inside normal traffic ---
scan --json "$W/maillog" > "$W/scan.json" 2> "$W/scan.err"
check_eq "scan exits 0" 0 $?
users_json "$W/syslog.users" < "$W/scan.json"
check_eq "every user of the log is reported" 151 "$(pyq "$W/syslog.users" 'len(u)')"
check_eq "the hijacked account is locked" "lock" "$(pyq "$W/syslog.users" 'u["hello@example.com"]["verdict"]')"
check_eq "nobody else is flagged (phones, offices, webmail, POP3 clients)" "[]" \
    "$(pyq "$W/syslog.users" 'sorted(n for n, d in u.items() if d["verdict"] != "allow" and n != "hello@example.com")')"
# The botnet starts at 18:52:46 JST (1374486766); 6 new networks within an hour lock it.
check "locked within the incident's first hour" \
    test "$(pyq "$W/syslog.users" '1374486766 <= u["hello@example.com"]["locked_at"] < 1374486766 + 3600')" = True
check "most bot logins would have been refused" \
    test "$(pyq "$W/syslog.users" 'u["hello@example.com"]["logins_refused"] > 850')" = True
check "the summary line counts lines read, used, ignored, skipped" \
    grep -qE '^authguardctl: scan: 1 input, [0-9]+ lines: [0-9]+ used \([0-9]+ logins, [0-9]+ qmail-send\), [0-9]+ ignored, 0 skipped' "$W/scan.err"
check "JSON has the fields the issue names" test "$(pyq "$W/syslog.users" \
    'all(k in d for d in u.values() for k in ("user", "success_addresses", "success_networks", "max_addresses_24h", "failures", "messages", "recipients", "verdict", "locked_at"))')" = True

# --- exact: the counts equal the shell's, and the generator's truth ---
grep 'login success' "$W/maillog" | awk '{ print $10 }' | sort -u |
    awk -F: '{ c[$1]++ } END { for (u in c) print u, c[u] }' | sort > "$W/shell.addresses"
python3 -c 'import json,sys; u=json.load(open(sys.argv[1])); [print(n, d["success_addresses"]) for n, d in sorted(u.items()) if d["success_addresses"]]' \
    "$W/syslog.users" | sort > "$W/scan.addresses"
check "distinct successful addresses per user = grep | awk | sort -u | wc (all users)" \
    cmp -s "$W/shell.addresses" "$W/scan.addresses"
check_eq "the hijacked account's addresses, as the seed counted them" \
    "$(grep vchkpw-submission "$W/maillog" | grep hello@example.com | grep succ | awk '{ print $10 }' |
        awk -F: '{ print $2 }' | sort | uniq -c | sort | wc -l)" \
    "$(pyq "$W/syslog.users" 'u["hello@example.com"]["success_addresses"]')"
grep -E 'password fail|user not found' "$W/maillog" | awk '{ print $NF }' |
    awk -F: '{ c[$1]++ } END { for (u in c) print u, c[u] }' | sort > "$W/shell.failures"
python3 -c 'import json,sys; u=json.load(open(sys.argv[1])); [print(n, d["failures"]) for n, d in sorted(u.items()) if d["failures"]]' \
    "$W/syslog.users" | sort > "$W/scan.failures"
check "failures per user = grep | awk | wc" cmp -s "$W/shell.failures" "$W/scan.failures"
grep -E 'password fail|user not found' "$W/maillog" | awk '{ print $NF }' | sort -u |
    awk -F: '{ c[$1]++ } END { for (u in c) print u, c[u] }' | sort > "$W/shell.faddr"
python3 -c 'import json,sys; u=json.load(open(sys.argv[1])); [print(n, d["failing_addresses"]) for n, d in sorted(u.items()) if d["failing_addresses"]]' \
    "$W/syslog.users" | sort > "$W/scan.faddr"
check "failing addresses per user = grep | awk | sort -u | wc" cmp -s "$W/shell.faddr" "$W/scan.faddr"
check_eq "logins, addresses, failures, messages, recipients = the generator's truth (every user)" "[]" \
    "$(python3 -c '
import json, sys
truth = json.load(open(sys.argv[1])); u = json.load(open(sys.argv[2]))
keys = [("logins", "logins"), ("addresses", "success_addresses"), ("failures", "failures"),
        ("messages", "messages"), ("recipients", "recipients")]
print([(n, k) for n, t in truth.items() for k, s in keys if u[n][s] != t[k]][:5])' "$W/truth.json" "$W/syslog.users")"
# the sliding windows, recomputed by brute force for the hijacked account
check_eq "max addresses in any hour and day (brute force)" \
    "$(grep 'login success hello@example.com:' "$W/maillog" | python3 -c '
import sys, time, calendar
events = []
for line in sys.stdin:
    f = line.split()
    t = calendar.timegm(time.strptime("2013 " + " ".join(f[:3]), "%Y %b %d %H:%M:%S")) - 9 * 3600
    events.append((t, f[9].split(":", 1)[1]))
def most(span):
    best = 0
    for t, _ in events:
        best = max(best, len({a for s, a in events if t - span <= s <= t}))
    return best
print(most(3600), most(86400))')" \
    "$(pyq "$W/syslog.users" '"%d %d" % (u["hello@example.com"]["max_addresses_1h"], u["hello@example.com"]["max_addresses_24h"])')"

# --- every format gives the same ---
same_counts() { # FILE.users: the same per-user counts as the syslog scan
    python3 -c '
import json, sys
a = json.load(open(sys.argv[1])); b = json.load(open(sys.argv[2]))
keys = ["logins", "success_addresses", "success_networks", "failures", "messages", "recipients",
        "max_addresses_1h", "max_addresses_24h", "verdict", "locked_at"]
diff = [(n, k) for n in a for k in keys if n not in b or a[n][k] != b[n][k]]
sys.exit(1 if diff or len(a) != len(b) else 0)' "$W/syslog.users" "$1"
}
scan --json "$W/current" 2>/dev/null | users_json "$W/multilog.users"
check "multilog @TAI64N: the same per-user results" same_counts "$W/multilog.users"
scan --json "$W/maillog.rfc3339" 2>/dev/null | users_json "$W/rfc3339.users"
check "RFC 3339 syslog: the same per-user results" same_counts "$W/rfc3339.users"
# multilog's rotations (@<TAI64N>.s, named by when each was closed) and its
# current, given newest first: read in the order they were written.
mkdir -p "$W/ml"
n=$(wc -l < "$W/current")
head -n $((n / 3)) "$W/current" > "$W/ml/@400000005200000000000000.s"
sed -n "$((n / 3 + 1)),$((2 * n / 3))p" "$W/current" > "$W/ml/@400000005200000100000000.s"
tail -n +$((2 * n / 3 + 1)) "$W/current" > "$W/ml/current"
scan --json "$W/ml/current" "$W/ml/@400000005200000100000000.s" "$W/ml/@400000005200000000000000.s" \
    2>/dev/null | users_json "$W/ml.users"
check "multilog rotations, given newest first: the same per-user results" same_counts "$W/ml.users"
# A message counts for its sender only after a successful login of theirs:
# not while every login of the sender failed, nor for a name vpopmail did
# not know (as follow counts).
cat > "$W/msgfail.log" <<'LOG'
Jul 22 10:00:00 mx vpopmail[1]: vchkpw-smtp: password fail eve@example.com:192.0.2.1
Jul 22 10:05:00 mx qmail: 1374487500.000001 info msg 500: bytes 900 from <eve@example.com> qp 77 uid 89
Jul 22 10:05:00 mx qmail: 1374487500.000002 starting delivery 9: msg 500 to remote v@example.net
Jul 22 10:05:30 mx vpopmail[1]: vchkpw-smtp: vpopmail user not found mallory@example.com:192.0.2.2
Jul 22 10:05:40 mx qmail: 1374487540.000001 info msg 502: bytes 900 from <mallory@example.com> qp 79 uid 89
Jul 22 10:06:00 mx vpopmail[1]: vchkpw-smtp: login success eve@example.com:192.0.2.1
Jul 22 10:07:00 mx qmail: 1374487620.000001 info msg 501: bytes 900 from <eve@example.com> qp 78 uid 89
Jul 22 10:07:00 mx qmail: 1374487620.000002 starting delivery 10: msg 501 to remote v@example.net
LOG
scan --json "$W/msgfail.log" 2> "$W/msgfail.err" | users_json "$W/msgfail.users"
check_eq "messages of senders who had not logged in (an older vpopmail's success line): not theirs" \
    "1 1 1 0" "$(pyq "$W/msgfail.users" '" ".join(str(x) for x in (u["eve@example.com"]["logins"],
        u["eve@example.com"]["messages"], u["eve@example.com"]["recipients"],
        u["mallory@example.com"]["messages"]))')"
check "... and counted as from senders without a login" grep -q '2 messages from senders without a login' "$W/msgfail.err"
mkdir -p "$W/rot"
n=$(wc -l < "$W/maillog")
head -n $((n / 3)) "$W/maillog" | gzip > "$W/rot/maillog.2.gz"
sed -n "$((n / 3 + 1)),$((2 * n / 3))p" "$W/maillog" | gzip > "$W/rot/maillog.1.gz"
tail -n +$((2 * n / 3 + 1)) "$W/maillog" > "$W/rot/maillog"
touch -d '2013-07-25 12:00' "$W/rot/maillog" "$W/rot/maillog.1.gz" "$W/rot/maillog.2.gz"
"$CTL" --control "$C" scan --json "$W/rot/maillog" "$W/rot/maillog.1.gz" "$W/rot/maillog.2.gz" 2>/dev/null |
    users_json "$W/rot.users"
check "gzip rotations, given newest first, the year told by the files' time: the same" same_counts "$W/rot.users"
cat "$W/rot/maillog.2.gz" "$W/rot/maillog.1.gz" | "$CTL" --control "$C" scan --json --year 2013 - 2>/dev/null |
    users_json "$W/concat.users"
check "concatenated gzip members on standard input" \
    test "$(pyq "$W/concat.users" 'u["hello@example.com"]["locked_at"]')" = "$(pyq "$W/syslog.users" 'u["hello@example.com"]["locked_at"]')"
scan --json "$W/maillog.twice" 2> "$W/twice.err" | users_json "$W/twice.users"
check "vchkpw and authguard logging one login: counted once" same_counts "$W/twice.users"
check "... and the duplicates are in the summary" grep -qE '[0-9]+ duplicate logins' "$W/twice.err"
# A duplicate line of an earlier login, after another address's login, does
# not stand for the user's next login from its address.
cat > "$W/interleaved.log" <<'LOG'
Jul 22 18:52:46 mx vpopmail[100]: vchkpw-submission: password fail kim@example.com:192.0.2.1
Jul 22 18:52:47 mx vpopmail[101]: vchkpw-submission: (PLAIN) login success kim@example.com:198.51.100.2
Jul 22 18:52:48 mx authguard[102]: allow user=kim@example.com address=192.0.2.1 service=submission outcome=bad-password time=1374486766
Jul 22 18:53:10 mx vpopmail[103]: vchkpw-submission: (PLAIN) login success kim@example.com:192.0.2.1
LOG
check_eq "a duplicate between two logins: each login stays at its own address" "2 2 1 2 1" \
    "$(scan --json "$W/interleaved.log" 2>/dev/null | python3 -c 'import json, sys
d = json.loads(sys.stdin.readline())
print(d["success_addresses"], d["success_networks"], d["failing_addresses"], d["logins"], d["failures"])')"
scan --json --replay-all "$W/maillog" 2>/dev/null > "$W/all.json"
check "replaying every login gives exactly the same output" cmp -s "$W/scan.json" "$W/all.json"
# The same with strict thresholds and short windows: many users go to the
# detector, lock or alert, and lose observations to max-entries.
SC=$(new_control strict <<'STRICT'
lock-new-networks-short = 2
lock-new-networks-long = 3
alert-new-networks-long = 2
alert-addresses-long = 3
max-entries = 16
known-period = 2d
window-short = 30m
window-long = 12h
STRICT
)
"$CTL" --control "$SC" scan --year 2013 --json "$W/maillog" "$W/maillog" 2>/dev/null > "$W/strict.json"
"$CTL" --control "$SC" scan --year 2013 --json --replay-all "$W/maillog" "$W/maillog" 2>/dev/null > "$W/strict-all.json"
check_eq "strict thresholds: replaying every login gives exactly the same output" "yes $(wc -l < "$W/scan.json")" \
    "$(cmp -s "$W/strict.json" "$W/strict-all.json" && echo yes || echo no) $(wc -l < "$W/strict.json")"
check "strict thresholds: some users locked" grep -q '"verdict": *"lock"' "$W/strict.json"

# --- options ---
out=$(scan --json --user Hello@Example.com "$W/maillog" 2>/dev/null)
check_eq "--user (normalised): one user" "1 hello@example.com" \
    "$(echo "$out" | wc -l) $(echo "$out" | python3 -c 'import json,sys; print(json.loads(sys.stdin.read())["user"])')"
scan --user nobody@example.com "$W/maillog" >/dev/null 2>&1
check_eq "--user without logins: exit 1" 1 $?
out=$(scan --json --since "2013-07-23 00:00:00" --until 2013-07-24 --user hello@example.com "$W/maillog" 2>/dev/null)
check "--since/--until: only that day's logins" test "$(echo "$out" | python3 -c '
import json,sys; d=json.loads(sys.stdin.read())
print(1374505200 <= d["first_seen"] and d["last_seen"] < 1374591600)')" = True
# --user and --since/--until leave the rest exactly as it was: the same
# lines as a whole scan's for that user, and as a scan of that day's lines.
scan --json "$W/maillog" 2>/dev/null | grep '"user": *"hello@example.com"' > "$W/hello-all.json"
scan --json --user hello@example.com "$W/maillog" 2>/dev/null > "$W/hello-only.json"
check "--user: the user's line as in a scan of everyone" cmp -s "$W/hello-all.json" "$W/hello-only.json"
grep '^Jul 23 ' "$W/maillog" > "$W/jul23.log"
scan --json "$W/jul23.log" 2>/dev/null > "$W/jul23-sliced.json"
scan --json --since 2013-07-23 --until 2013-07-24 "$W/maillog" 2>/dev/null > "$W/jul23-range.json"
check_eq "--since/--until: the same as a scan of that day's lines" \
    "yes $(wc -l < "$W/jul23-sliced.json")" \
    "$(cmp -s "$W/jul23-sliced.json" "$W/jul23-range.json" && echo yes || echo no) $(wc -l < "$W/jul23-range.json")"
check_eq "--since: a bad time is a usage error" 2 "$(scan --since yesterday "$W/maillog" >/dev/null 2>&1; echo $?)"
check_eq "--until not after --since: a usage error" 2 \
    "$(scan --since 2013-07-23 --until 2013-07-21 "$W/maillog" >/dev/null 2>&1; echo $?)"
# --user: the other senders' messages count as lines of other users, not
# as messages "from senders without a login" (which they may have had)
summary=$(scan --user hello@example.com "$W/maillog" 2>&1 >/dev/null)
check "--user: the others' messages are lines of other users, not of senders without a login" \
    test "$(echo "$summary" | grep -c 'of other users')/$(echo "$summary" | grep -c 'without a login')" = 1/0
check_eq "no file: a usage error" 2 "$(scan >/dev/null 2>&1; echo $?)"
scan "$W/no-such-file" "$W/seed.log" > "$W/out" 2> "$W/err"
check_eq "an unreadable file: exit 5, the others scanned" "5 1" "$? $(grep -c hello "$W/out")"
out=$(scan "$W/maillog" 2>/dev/null)
check "the table: the locked account first" test "$(echo "$out" | sed -n 2p | awk '{ print $1, $NF }')" = "lock hello@example.com"

# --- bad input is skipped and counted, never a crash ---
{
    head -n 2000 "$W/maillog"
    head -c 200000 /dev/urandom
    echo
    printf 'Jul 22 18:52:46 mailserver vpopmail[1]: vchkpw-submission: (PLAIN) login success %s:192.0.2.1\n' \
        "$(printf 'x%.0s' $(seq 1048576))"
    printf 'Jul 22 18:52:46 mailserver vpopmail[1]: vchkpw-submission: (PLAIN) login success \xff\xfe@example.com:192.0.2.7\n'
    printf 'Jul 22 18:52:46 mailserver vpopmail[1]: vchkpw-submission: (PLAIN) login success who@example.com:999.1.2.3\n'
    printf 'Jul 22 18:52:46 mailserver vpopmail[1]: vchkpw-submission: (PLAIN) login succ\n'
    printf 'this is not a log line\n\0\0\0binary\x01\x02\n'
    tail -n +2001 "$W/maillog"
    printf 'Jul 25 00:00:00 mailserver vpopmail[1]: vchkpw-submission: (PLAIN) login success cut@example.com:192.0.2.9'
} > "$W/bad.log"
scan --json "$W/bad.log" > "$W/bad.json" 2> "$W/bad.err"
check_eq "bad input: exit 0" 0 $?
users_json "$W/bad.users" < "$W/bad.json"
check "bad input: the good lines' results are unchanged" same_counts "$W/bad.users"
summary=$(cat "$W/bad.err")
check "bad input: skipped lines counted by reason" contains_all "$summary" "too-long" "invalid-utf8" \
    "bad-address" "unknown-format" "unterminated"
check "bad input: the line cut off at the end is not counted" \
    test "$(pyq "$W/bad.users" '"cut@example.com" in u')" = False

# gzip cut short, or followed by junk
gzip -c "$W/maillog" | head -c 300000 > "$W/cut.gz"
scan "$W/cut.gz" > /dev/null 2> "$W/cut.err"
check_eq "gzip cut short: exit 5, said so, the lines before it used" "5 1 1" \
    "$? $(grep -c 'cut.gz: gzip data cut short' "$W/cut.err") $(grep -cE 'lines: [1-9][0-9]* used' "$W/cut.err")"
{ gzip -c "$W/seed.log"; head -c 100 /dev/urandom; } > "$W/junk.gz"
check_eq "gzip followed by junk: the member is read, the junk ignored" "0 1" \
    "$(scan --json "$W/junk.gz" > "$W/junk.json" 2>/dev/null; echo $?) $(grep -c hello "$W/junk.json")"

# a file that grows and is truncated while it is read
: > "$W/moving.log"
( for i in $(seq 40); do cat "$W/seed.log" >> "$W/moving.log"; head -c 50000 "$W/maillog" >> "$W/moving.log"
      [ $((i % 10)) = 0 ] && : > "$W/moving.log"; done ) &
mover=$!
rcs=""
for i in 1 2 3 4 5; do scan "$W/moving.log" >/dev/null 2>&1; rcs="$rcs$?"; done
wait $mover
check_eq "a file growing and truncated while read: never a crash" "00000" "$rcs"

# --- two threads (--threads 2: one reads and parses, one counts) give
# what one gives, to the byte: the table, --json and the summary, on every
# kind of input above, whichever thread parses ---
"$GEN" --users 200 --days 2 --pop3-share 0 --phone-share 0.7 --phone-new-address \
    --webmail-share 0.6 --webmail-daily --failure-share 0.08 --bruteforce 3000 \
    --recipients 50 --inbound-per-user 1 > "$W/shaped.log"
n=$(wc -l < "$W/maillog")
mkdir -p "$W/plain"
head -n $((n / 2)) "$W/maillog" > "$W/plain/maillog.1"
tail -n +$((n / 2 + 1)) "$W/maillog" > "$W/plain/maillog"
touch -d '2013-07-25 12:00' "$W/plain/maillog" "$W/plain/maillog.1"
threads_differ=()
# same_with_threads NAME SCAN-ARGS...: NAME is listed when any way differs
same_with_threads() {
    local name=$1 side t json
    shift
    for json in "" --json; do
        "$CTL" --control "$C" scan $json --threads 1 "$@" > "$W/t1.out" 2> "$W/t1.err" < "${STDIN:-/dev/null}"
        echo "exit $?" >> "$W/t1.err"
        for side in balanced reader counter; do
            AUTHGUARD_TEST_SCAN_PARSE=$side "$CTL" --control "$C" scan $json --threads 2 "$@" \
                > "$W/t2.out" 2> "$W/t2.err" < "${STDIN:-/dev/null}"
            echo "exit $?" >> "$W/t2.err"
            cmp -s "$W/t1.out" "$W/t2.out" && cmp -s "$W/t1.err" "$W/t2.err" ||
                threads_differ+=("$name${json:+ $json} ($side)")
        done
    done
}
same_with_threads "syslog" --year 2013 "$W/maillog"
same_with_threads "multilog" "$W/current"
same_with_threads "RFC 3339" "$W/maillog.rfc3339"
same_with_threads "each login logged twice" --year 2013 "$W/maillog.twice"
same_with_threads "gzip rotations" "$W/rot/maillog" "$W/rot/maillog.1.gz" "$W/rot/maillog.2.gz"
same_with_threads "plain rotations (the year chain across files)" "$W/plain/maillog" "$W/plain/maillog.1"
same_with_threads "webmail, phones and a brute-force run" --year 2013 "$W/shaped.log"
same_with_threads "bad input" --year 2013 "$W/bad.log"
same_with_threads "an unreadable file among others" --year 2013 "$W/no-such-file" "$W/seed.log"
same_with_threads "gzip cut short" --year 2013 "$W/cut.gz"
same_with_threads "--user, --since, --until" --year 2013 --user hello@example.com \
    --since 2013-07-23 --until 2013-07-24 "$W/maillog"
STDIN=$W/maillog same_with_threads "standard input" --year 2013 -
check_eq "--threads 2 = --threads 1, to the byte, on every input (balanced, reader, counter)" \
    "" "${threads_differ[*]}"
# Names whose hashes collide (forced by a test hook: four hash values for
# all names) are told apart by their text: the same table and --json.
collisions_differ=()
for args in "--year 2013 $W/shaped.log" "--year 2013 $W/maillog" \
    "--year 2013 --user hello@example.com $W/maillog"; do
    for json in "" --json; do
        # shellcheck disable=SC2086 # the words of $args are meant
        "$CTL" --control "$C" scan $json $args > "$W/h1.out" 2>&1
        # shellcheck disable=SC2086
        AUTHGUARD_TEST_SCAN_COLLIDING_NAMES=1 "$CTL" --control "$C" scan $json $args \
            > "$W/h2.out" 2>&1
        cmp -s "$W/h1.out" "$W/h2.out" || collisions_differ+=("$args${json:+ $json}")
    done
done
check_eq "names with colliding hashes: the same output" "" "${collisions_differ[*]}"
check_eq "--threads 0: a usage error" 2 "$(scan --threads 0 "$W/seed.log" >/dev/null 2>&1; echo $?)"
# No second thread to be had (pthread_create refuses, as under a process
# limit): the scan runs in one, with the same output.
cat > "$W/nothread.c" <<'EOF'
#include <errno.h>
#include <pthread.h>
int pthread_create(pthread_t *t, const pthread_attr_t *a, void *(*f)(void *), void *arg) {
    (void)t, (void)a, (void)f, (void)arg;
    return EAGAIN;
}
EOF
gcc -shared -fPIC -o "$W/nothread.so" "$W/nothread.c"
scan --threads 1 "$W/maillog" > "$W/t1.out" 2> "$W/t1.err"
# (an ASan build wants its runtime first in the list: told not to check)
LD_PRELOAD=$W/nothread.so ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0 \
    scan --threads 2 "$W/maillog" > "$W/t2.out" 2> "$W/t2.err"
check_eq "no thread to be had: one thread, the same output (exit, table, summary)" "0 same" \
    "$? $(cmp -s "$W/t1.out" "$W/t2.out" && cmp -s "$W/t1.err" "$W/t2.err" && echo same)"

# --- report: one self-contained HTML file, rendered by headless Chromium ---
render() { # HTML PNG: a screenshot 1200x2000
    local profile
    profile=$(mktemp -d "$AG_TMP/chromium.XXXXXX")
    timeout 60 chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
        --disable-background-networking --disable-component-update --disable-sync \
        --user-data-dir="$profile" --screenshot="$2" --window-size=1200,2000 "file://$1" >/dev/null 2>&1
}
png_size() { python3 -c '
import struct, sys
data = open(sys.argv[1], "rb").read(24)
print("%dx%d" % struct.unpack(">II", data[16:24]) if data[:8] == b"\x89PNG\r\n\x1a\n" else "not a PNG")' "$1"; }
# svg_ok HTML: every inline <svg> is well-formed XML; prints how many
svg_ok() { python3 -c '
import re, sys, xml.etree.ElementTree as ET
text = open(sys.argv[1], encoding="utf-8").read()
svgs = re.findall(r"<svg\b.*?</svg>", text, re.S)
for s in svgs:
    ET.fromstring(s)
print(len(svgs))' "$1"; }

"$CTL" --control "$C" report --html "$W/report.html" --scan --year 2013 "$W/maillog" > "$W/report.out" 2>/dev/null
check_eq "report --scan: exit 0, the flagged account" "wrote $W/report.html: 1 account hello@example.com" \
    "$(cat "$W/report.out")"
check_eq "report: every inline SVG is well-formed XML (two charts)" 2 "$(svg_ok "$W/report.html" 2>&1)"
check "report: self-contained (no script, no external link, stylesheet or image)" \
    test "$(grep -ciE '<script|<link|<img|src=|url\(|https?://[a-z]' "$W/report.html" | tr -d ' ')" = \
    "$(grep -ciE 'xmlns="http://www.w3.org/2000/svg"' "$W/report.html")"
check "report: the lock, its reason, the figures and the networks" contains_all "$(cat "$W/report.html")" \
    'locked 2013-07-22' 'lock-new-networks-short' 'successful logins' 'messages sent' '83.242.0.0/16' \
    'class="lock"' '83.242.101.27'
if command -v chromium >/dev/null; then
    render "$W/report.html" "$W/report.png"
    check_eq "report: headless Chromium renders it to a 1200x2000 PNG" "1200x2000" "$(png_size "$W/report.png")"
    check "report: the rendering is not blank" test "$(stat -c %s "$W/report.png")" -gt 30000
else
    not_ok "report: chromium is not installed (tools/install-deps installs it)"
fi
"$CTL" --control "$C" report --html "$W/all.html" --scan --all --year 2013 "$W/maillog" >/dev/null 2>&1
check_eq "report --all: every account, two charts each" 302 "$(svg_ok "$W/all.html" 2>&1)"
check_eq "report --scan -: a usage error (the files are read twice)" 2 \
    "$("$CTL" --control "$C" report --html "$W/x.html" --scan - < "$W/seed.log" >/dev/null 2>&1; echo $?)"
check_eq "report without --html: a usage error" 2 \
    "$("$CTL" --control "$C" report --scan "$W/seed.log" >/dev/null 2>&1; echo $?)"
printf 'Jul 22 18:52:46 mx vpopmail[1]: vchkpw-smtp: (PLAIN) login success <b>&"x\xff@example.com:192.0.2.1\n' > "$W/hostile.log"
for i in 1 2 3 4 5 6 7; do
    printf 'Jul 22 18:5%d:46 mx vpopmail[1]: vchkpw-smtp: (PLAIN) login success <b>&"x@example.com:%d.1.2.3\n' "$i" $((20 + i))
done >> "$W/hostile.log"
"$CTL" --control "$C" report --html "$W/hostile.html" --scan --year 2013 "$W/hostile.log" >/dev/null 2>&1
check "report: hostile user names stay text (escaped, the SVG still parses)" \
    test "$(svg_ok "$W/hostile.html" 2>&1)" = 2 -a "$(grep -cF '<b>&"x' "$W/hostile.html")" = 0 \
    -a "$(grep -cF '&lt;b&gt;&amp;&quot;x@example.com' "$W/hostile.html")" -gt 0

# --- providers (asn-db): scan counts them exactly as the detector does ---
# One provider per even /8 (the odd ones are left to their /16s), the
# carriers' /16s split between eight providers each (so that a /16 holds
# more providers than /16s: the quiet-user shortcut must bound the
# detector's provider counts, not the prefixes'), and a carrier.
{
    echo "start,end,asn,organisation"
    for i in $(seq 0 2 222); do echo "$i.0.0.0,$i.255.255.255,$((64600 + i)),Provider $i"; done
    n=0
    for b in 1.66 1.75 106.128 106.133 126.193 126.245 133.106 133.107; do
        for k in 0 1 2 3 4 5 6 7; do
            echo "$b.$((k * 32)).0,$b.$((k * 32 + 31)).255,$((65000 + n)),Split $b/$k"
            n=$((n + 1))
        done
    done
    echo "100.64.0.0,100.79.255.255,64500,Some Carrier"
} > "$W/asn.csv"
"$CTL" asn-db build "$W/asn.db" "$W/asn.csv" >/dev/null
check_eq "asn-db build from CSV lines" 0 $?
AC=$(new_control logs-asn <<<"asn-db = $W/asn.db")
"$CTL" --control "$AC" scan --year 2013 --json "$W/maillog" 2>/dev/null > "$W/asn.json"
"$CTL" --control "$AC" scan --year 2013 --json --replay-all "$W/maillog" 2>/dev/null > "$W/asn-all.json"
check "asn-db: replaying every login gives exactly the same output" cmp -s "$W/asn.json" "$W/asn-all.json"
# The live detector (follow, through Guard::check) flags exactly the users
# scan flags, and locks them at the same moments (the year of a live
# syslog line is this year's: compared within the year).
"$CTL" --control "$AC" follow --once --from-start --state "$W/asn-follow.state" "$W/maillog" > "$W/asn-follow.out" 2>&1
check_eq "asn-db: scan flags and locks whom the live detector does, when it does" "[] []" \
    "$(python3 - "$W/asn.json" "$W/asn-follow.out" <<'PY'
import json, re, sys, time
scan = {d["user"]: d for d in map(json.loads, open(sys.argv[1]))}
flagged = {n for n, d in scan.items() if d["verdict"] != "allow" or d["alerts"]}
locked = {n: d["locked_at_utc"][4:] for n, d in scan.items() if d["locked_at"]}
live, live_locked = set(), {}
for line in open(sys.argv[2]):
    m = re.match(r"(lock|alert|tempfail|refuse-locked) user=(\S+) .*? time=(\d+)", line)
    if m:
        live.add(m.group(2))
        if m.group(1) == "lock":
            live_locked.setdefault(m.group(2), time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(m.group(3))))[4:])
print(sorted(flagged ^ live)[:5], sorted(set(locked.items()) ^ set(live_locked.items()))[:5])
PY
)"
check "asn-db: some users flagged (the split /16s)" test "$(grep -c '"verdict":"alert"' "$W/asn.json")" -gt 3
# A user whose logins come from the carrier: scan and report name it.
{
    echo "Jul 20 08:00:00 mx vpopmail[1]: vchkpw-submission: (PLAIN) login success ivan@example.com:18.18.3.3"
    for i in 1 2 3 4 5 6 7 8; do
        printf 'Jul 22 10:%02d:00 mx vpopmail[1]: vchkpw-submission: (PLAIN) login success ivan@example.com:100.%d.%d.7\n' \
            $((i * 5)) $((64 + i)) "$i"
    done
    for a in 5.1.0.5 7.2.0.5 9.3.0.5 11.4.0.5 13.5.0.5 100.64.9.9; do
        echo "Jul 22 11:00:00 mx vpopmail[1]: vchkpw-submission: (PLAIN) login success ivan@example.com:$a"
    done
} > "$W/carrier.log"
out=$("$CTL" --control "$AC" scan --year 2013 "$W/carrier.log" 2>/dev/null)
check "scan: the busiest wide network, named" contains_all "$out" "BUSIEST WIDE NETWORK" \
    "AS64500 Some Carrier: 9  ivan@example.com"
check_eq "scan --json: providers counted as wide networks, the busiest named" "7 AS64500 Some Carrier 9" \
    "$("$CTL" --control "$AC" scan --year 2013 --json "$W/carrier.log" 2>/dev/null | python3 -c 'import json, sys
d = json.loads(sys.stdin.readline()); b = d["busiest_wide_network"]
print(d["success_wide_networks"], b["network"], b["provider_name"], b["addresses"])')"
check "without asn-db: no provider column" test "$(scan "$W/carrier.log" 2>/dev/null | grep -c BUSIEST)" = 0
"$CTL" --control "$AC" report --html "$W/carrier.html" --scan --year 2013 "$W/carrier.log" >/dev/null 2>&1
check "report --scan: the carrier named in the evidence, networks and addresses" \
    contains_all "$(cat "$W/carrier.html")" "<b>AS64500 Some Carrier</b>" \
    "<tr><td>AS64500 Some Carrier</td><td>100.64.0.0/16, 100.65.0.0/16, 100.66.0.0/16, 100.67.0.0/16 and 5 more</td>" \
    "<td>AS64500 Some Carrier (100.65.0.0/16)</td>" "<td>AS64618 Provider 18 (18.18.0.0/16)</td>" \
    "wide networks (providers, else /16)"

# --- follow: live logs into the store, as authguard-checkpw would ---
trap_cleanup
FC=$(new_control follow)
follow() { "$CTL" --control "$FC" follow "$@"; }
out=$(follow --once --from-start --state "$W/follow-once.state" "$W/maillog" 2>&1)
check "follow --from-start --once: the hijacked account is locked" \
    contains_all "$out" "lock user=hello@example.com" "stopped after"
# the refused logins after the lock: at most one line a minute, the rest counted
refused=$(echo "$out" | python3 -c 'import re, sys
shown = [l for l in sys.stdin if l.startswith("refuse-locked user=hello@example.com ")]
times = [int(re.search(r" time=(\d+)", l).group(1)) for l in shown]
left = sum(int(m.group(1)) for l in shown for m in [re.search(r" left_out=(\d+)", l)] if m)
gaps = [b - a for a, b in zip(times, times[1:])]
print(len(shown) > 0, left > 0, all(g >= 60 for g in gaps))')
check_eq "follow: a locked account's refusals shown at most once a minute, the rest counted" "True True True" "$refused"
locks=$("$CTL" --control "$FC" locks --json)
check_eq "follow: nobody else is locked" "['hello@example.com']" \
    "$(echo "$locks" | python3 -c 'import json,sys; print([l["user"] for l in json.loads(sys.stdin.read())["locks"]])')"
# the year of a live syslog line is this year's; the moment is scan's
check_eq "follow: locked at the moment scan said" \
    "$(pyq "$W/syslog.users" 'u["hello@example.com"]["locked_at_utc"][4:]')" \
    "$(echo "$locks" | python3 -c 'import json,sys; print(json.loads(sys.stdin.read())["locks"][0]["lock"]["since_utc"][4:])')"
"$CTL" --control "$FC" report --html "$W/store.html" > "$W/store.out" 2>&1
check_eq "report from the store: the locked account" "wrote $W/store.html: 1 account hello@example.com" "$(cat "$W/store.out")"
check_eq "report from the store: two well-formed charts" 2 "$(svg_ok "$W/store.html" 2>&1)"
if command -v chromium >/dev/null; then
    render "$W/store.html" "$W/store.png"
    check_eq "report from the store: rendered" "1200x2000" "$(png_size "$W/store.png")"
fi

# Rotation, late writes to the rotated file, truncation, a line written in
# two parts, restarts in between (one across a rotation): every login
# reaches the store exactly once.
D=$W/live
mkdir -p "$D"
"$GEN" --no-incident --users 20 --days 2 --seed 7 > "$W/live.all"
total=$(wc -l < "$W/live.all")
piece() { # N: the Nth of 8 pieces of live.all
    local n=$1 per=$(( (total + 7) / 8 ))
    sed -n "$(( (n - 1) * per + 1 )),$(( n * per ))p" "$W/live.all"
}
LC=$(new_control live)
S=$W/live.state
start_follower() {
    "$CTL" --control "$LC" follow --state "$S" --interval 30 "$D/maillog" >> "$W/live.out" 2>&1 &
    FOLLOWER=$!
    on_exit "kill $FOLLOWER"
}
stop_follower() { kill -TERM "$FOLLOWER"; wait "$FOLLOWER"; }
# caught_up: the state has the live file's inode at its size
caught_up() {
    local _ ino size
    for _ in $(seq 300); do
        ino=$(stat -c %i "$D/maillog"); size=$(stat -c %s "$D/maillog")
        grep -q "^v2 [0-9]* $ino $size [0-9]* [0-9a-f]* [0-9]* [0-9]* $D/maillog\$" "$S" 2>/dev/null && return 0
        sleep 0.05
    done
    return 1
}
: > "$D/maillog"
start_follower
sleep 0.3
piece 1 >> "$D/maillog"
check "follow: caught up with new lines" caught_up
# rotation by rename; syslog writes a little more to the old file first
mv "$D/maillog" "$D/maillog.1"
piece 2 >> "$D/maillog.1"
piece 3 > "$D/maillog"
check "follow: caught up after a rotation (and the late lines of the old file)" caught_up
# stopped; more lines; rotated while stopped; more late lines; restarted
stop_follower
piece 4 >> "$D/maillog"
mv "$D/maillog.1" "$D/maillog.2"
mv "$D/maillog" "$D/maillog.1"
piece 5 >> "$D/maillog.1"
: > "$D/maillog"
start_follower
piece 6 >> "$D/maillog"
check "follow: caught up after a restart across a rotation" caught_up
# copytruncate; a line written in two parts
cp "$D/maillog" "$D/maillog.0"
: > "$D/maillog"
sleep 0.3
p7=$(piece 7)
printf '%s\n' "$p7" | head -n -1 >> "$D/maillog"
last=$(printf '%s\n' "$p7" | tail -n 1)
printf '%s' "${last:0:40}" >> "$D/maillog"
sleep 0.3
printf '%s\n' "${last:40}" >> "$D/maillog"
check "follow: caught up after truncation and a line in two writes" caught_up
stop_follower
start_follower
piece 8 >> "$D/maillog"
check "follow: caught up after a plain restart" caught_up
stop_follower
check "follow: said what happened" contains_all "$(cat "$W/live.out")" "was rotated: following the new file" \
    "was rotated while stopped" "was truncated: from its start"
# every login exactly once: the store's counts = scan's of the whole log
scan --json "$W/live.all" 2>/dev/null | users_json "$W/live.users"
check_eq "follow: every login reached the store exactly once (no event counted twice, none skipped)" "[]" \
    "$(store_vs_scan "$LC" "$W/live.users")"

# The store away and back: lines are held, not lost or doubled.
start_redis follow-down
RC=$(new_control down <<EOF2
redis = unix:$AG_TMP/follow-down.sock
EOF2
)
: > "$D/down.log"
"$CTL" --control "$RC" follow --state "$W/down.state" --interval 30 "$D/down.log" > "$W/down.out" 2>&1 &
FOLLOWER=$!
on_exit "kill $FOLLOWER"
sleep 0.3
piece 1 >> "$D/down.log"
sleep 1
redis-cli -s "$AG_TMP/follow-down.sock" shutdown save >/dev/null 2>&1
wait "$REDIS_PID" 2>/dev/null
piece 2 >> "$D/down.log"
sleep 1
start_redis follow-down
for _ in $(seq 200); do
    grep -q "^v2 [0-9]* $(stat -c %i "$D/down.log") $(stat -c %s "$D/down.log") " "$W/down.state" && break
    sleep 0.05
done
kill -TERM "$FOLLOWER"; wait "$FOLLOWER"
check "follow: said the store was away" grep -q "store unavailable; trying again" "$W/down.out"
{ piece 1; piece 2; } > "$W/down.all"
scan --json "$W/down.all" 2>/dev/null | users_json "$W/down.users"
check_eq "follow: with the store down for a while, every login stored once" "[]" \
    "$(store_vs_scan "$RC" "$W/down.users")"
check_eq "follow: - is a usage error" 2 "$("$CTL" --control "$LC" follow - >/dev/null 2>&1; echo $?)"

# A store that stops answering (SIGSTOP) while it has the follower's
# commands: they run when it goes on, after the follower gave them up as
# timed out. Asked before trying again, the marks tell which ran.
start_redis follow-stop
PC=$(new_control stop <<<"redis = unix:$AG_TMP/follow-stop.sock")
: > "$D/stop.log"
"$CTL" --control "$PC" follow --state "$W/stop.state" --interval 30 "$D/stop.log" > "$W/stop.out" 2>&1 &
FOLLOWER=$!
on_exit "kill $FOLLOWER"
sleep 0.3
for n in 1 2 3 4; do
    kill -STOP "$REDIS_PID"
    piece "$n" >> "$D/stop.log"
    sleep 0.4
    kill -CONT "$REDIS_PID"
    sleep 1
done
kill -TERM "$FOLLOWER"; wait "$FOLLOWER"
{ piece 1; piece 2; piece 3; piece 4; } > "$W/stop.all"
scan --json "$W/stop.all" 2>/dev/null | users_json "$W/stop.users"
check "follow: the stopped store's commands ran after they timed out" grep -q "events the store had)" "$W/stop.out"
check_eq "follow: with the store stopped and going on, every login stored once" "[]" \
    "$(store_vs_scan "$PC" "$W/stop.users")"

# kill -9 at random moments while catching up, again and again, each time
# restarted: every login, message and recipient still reaches the store
# exactly once (the marks, tools/authguardctl/follow.hpp), and the lock
# comes at the moment scan says. Windows longer than the log keep every
# message bucket, so the store's counts are the log's totals. (In a window
# that long every phone's /24s would be "new within the hour": the
# within-provider rule is left out, so that only the seed's victim locks.)
long_windows='window-short = 3000d
window-long = 3500d
known-period = 3600d
lock-provider-new-prefixes-short = 100000'
for store in lmdb redis; do
    if [ "$store" = lmdb ]; then
        KC=$(printf 'store = lmdb\nlmdb-path = %s\n%s\n' "$W/kill.lmdb" "$long_windows" | new_control kill-lmdb)
        mkdir -p "$W/kill.lmdb" # as make install makes it: authguardctl as root makes none
        mkdir -p "$W/kill.lmdb" # authguardctl, run as root, does not create the store
    else
        KC=$(new_control kill-redis <<<"$long_windows")
    fi
    KS=$W/kill-$store.state
    first=
    for round in 1 2 3 4 5 6; do
        "$CTL" --control "$KC" follow --from-start --state "$KS" --interval 30 "$W/maillog" \
            > "$W/kill-$store.out" 2>&1 &
        FOLLOWER=$!
        sleep "0.$((RANDOM % 5 + 2))"
        kill -9 "$FOLLOWER"
        wait "$FOLLOWER" 2>/dev/null
        [ -n "$first" ] || first=$(cut -d' ' -f4 "$KS")
    done
    "$CTL" --control "$KC" follow --once --state "$KS" "$W/maillog" > "$W/kill-$store.out" 2>&1
    check "follow ($store): the first kill -9 came while catching up" test "$first" -lt "$(stat -c %s "$W/maillog")"
    "$CTL" --control "$KC" scan --year 2013 --json "$W/maillog" 2>/dev/null | users_json "$W/kill.users"
    check_eq "follow ($store), killed with -9 six times: every login, message and recipient stored exactly once" \
        "[]" "$(store_vs_scan "$KC" "$W/kill.users" messages)"
    check_eq "follow ($store), killed with -9 six times: locked at the moment scan said" \
        "$(pyq "$W/kill.users" 'u["hello@example.com"]["locked_at_utc"][4:]')" \
        "$("$CTL" --control "$KC" locks --json | python3 -c 'import json,sys; print(json.loads(sys.stdin.read())["locks"][0]["lock"]["since_utc"][4:])')"
done

# The state file from the control file (follow-state), --state before it;
# one follower per state file.
SC=$(new_control follow-state <<<"follow-state = $W/from-control.state")
check "check-config shows follow-state" contains_all "$("$CTL" --control "$SC" check-config)" \
    "follow state" "$W/from-control.state"
"$CTL" --control "$SC" follow --once "$W/seed.log" > /dev/null 2>&1
check "follow keeps its state where follow-state says" grep -q " $W/seed.log\$" "$W/from-control.state"
"$CTL" --control "$SC" follow --once --state "$W/given.state" "$W/live.all" > /dev/null 2>&1
check "follow --state overrides follow-state" \
    test "$(grep -c live.all "$W/given.state")" = 1 -a "$(grep -c live.all "$W/from-control.state")" = 0
BC=$(new_control bad-state <<<"follow-state = follow.state")
out=$("$CTL" --control "$BC" check-config 2>&1)
check_eq "follow-state must be an absolute path: file:line, exit 3" "3 $BC/authguard:4: 'follow-state' wants" \
    "$("$CTL" --control "$BC" check-config >/dev/null 2>&1; echo $?) $(echo "$out" | grep -o "$BC/authguard:4: 'follow-state' wants")"
"$CTL" --control "$SC" follow --interval 30 "$W/seed.log" > /dev/null 2>&1 &
FOLLOWER=$!
on_exit "kill $FOLLOWER"
sleep 0.3
out=$("$CTL" --control "$SC" follow --once "$W/seed.log" 2>&1)
kill -TERM "$FOLLOWER"; wait "$FOLLOWER"
check "a second follower on the same state file is refused" \
    contains_all "$out" "another authguardctl follow uses the state file $W/from-control.state"

# qmail-send's messages into the sending limits: those of a user who
# logged in (to send: not POP3) count, each recipient's first delivery too
# (not a deferred one's retry), at the log's time; over a limit the
# verdict is printed; inbound mail from an address nobody logged in as does
# not count; --no-messages counts none.
{
    echo "Jul 22 10:00:00 mx vpopmail[100]: vchkpw-submission: (PLAIN) login success sender@example.com:192.0.2.10"
    echo "Jul 22 10:00:01 mx vpopmail[101]: vchkpw-pop3: (PLAIN) login success reader@example.com:192.0.2.20"
    d=0
    for m in 1 2 3 4; do
        echo "Jul 22 10:0$m:00 mx qmail: 1784682000.00000$m info msg 50$m: bytes 900 from <sender@example.com> qp 1 uid 89"
        for r in a b c; do
            d=$((d + 1))
            echo "Jul 22 10:0$m:00 mx qmail: 1784682000.10000$m starting delivery $d: msg 50$m to remote $r@example.net"
        done
    done
    echo "Jul 22 10:04:02 mx qmail: 1784682242.000000 delivery 12: deferral: Connection_refused/"
    echo "Jul 22 10:20:00 mx qmail: 1784683200.000000 starting delivery 13: msg 504 to remote c@example.net"
    echo "Jul 22 10:20:01 mx qmail: 1784683201.000000 delivery 13: success: 250_ok/"
    echo "Jul 22 10:20:01 mx qmail: 1784683201.000001 end msg 504"
    echo "Jul 22 10:30:00 mx qmail: 1784683800.000000 info msg 600: bytes 900 from <victim@example.com> qp 2 uid 89"
    echo "Jul 22 10:30:00 mx qmail: 1784683800.000001 starting delivery 20: msg 600 to local example.com-victim@example.com"
    echo "Jul 22 10:31:00 mx qmail: 1784683860.000000 info msg 700: bytes 900 from <reader@example.com> qp 3 uid 89"
    echo "Jul 22 10:31:00 mx qmail: 1784683860.000001 starting delivery 21: msg 700 to remote x@example.net"
} > "$W/messages.log"
MC=$(new_control messages <<<"max-messages-short = 2")
out=$("$CTL" --control "$MC" follow --once --from-start --state "$W/messages.state" "$W/messages.log" 2>&1)
check "follow: a sending limit's verdict is printed" \
    contains_all "$out" "tempfail sender=sender@example.com" "reason=\"3 over max-messages-short=2\"" \
    "stopped after 2 logins, 4 messages, 12 recipients"
counts() { # CONTROL USER: the user's messages and recipients in the store
    "$CTL" --control "$1" export "$2" 2>/dev/null | python3 -c 'import json, sys
r = json.loads(sys.stdin.read() or "{\"rate\": {}}")["rate"]
print(sum(n for b, n in r.items() if b[-1] == "m"), sum(n for b, n in r.items() if b[0] == "s" and b[-1] == "r"))'
}
check_eq "follow: the messages and recipients are in the sending counts" "4 12" "$(counts "$MC" sender@example.com)"
check_eq "follow: not a POP3 reader's, nor a forged local sender's" "0 0 0 0" \
    "$(counts "$MC" reader@example.com) $(counts "$MC" victim@example.com)"
NC=$(new_control no-messages <<<"max-messages-short = 2")
out=$("$CTL" --control "$NC" follow --once --from-start --no-messages --state "$W/no-messages.state" "$W/messages.log" 2>&1)
check_eq "follow --no-messages: no message counted" "0 0 no" \
    "$(counts "$NC" sender@example.com) $([[ "$out" == *sender=* ]] && echo yes || echo no)"

# contrib/authguard-follow/run starts follow as a daemontools service would
Q=$W/qmailhome
mkdir -p "$Q/bin"
ln -sf "$CTL" "$Q/bin/authguardctl"
ln -sfn "$(new_control runscript)" "$Q/control"
: > "$W/svc.log"
(cd "$AG_ROOT/contrib/authguard-follow" && QMAILHOME=$Q AUTHGUARD_FOLLOW_LOGS=$W/svc.log exec ./run) \
    > "$W/svc.out" 2>&1 &
SVC=$!
on_exit "kill $SVC"
sleep 0.5
cat "$W/seed.log" >> "$W/svc.log"
for _ in $(seq 100); do [ -s "$Q/authguard-follow.state" ] && grep -q " $(stat -c %s "$W/svc.log") " "$Q/authguard-follow.state" && break; sleep 0.05; done
kill -TERM "$SVC"; wait "$SVC"
check "contrib/authguard-follow/run: follows, keeps its state beside the control directory, stops on TERM" \
    contains_all "$(cat "$W/svc.out")" "following $W/svc.log from byte 0" "stopped after 2 logins"

# --- Postfix's SASL lines (issue 16), in syslog and RFC 3339 stamps ---
# Postfix logs a login once per message ("QUEUEID: client=..., sasl_username=U"):
# scan counts one login per smtpd session (its pid, and the client's port
# when smtpd_client_port_logging = yes), as the grep | sort -u pipeline
# below; a failure counts when the warning names the user (Postfix of late
# 2023 on), else it is ignored.
cat > "$W/postfix.log" <<'LOG'
Jul 22 10:00:01 mx postfix/submission/smtpd[100]: 4XyZ1234abc: client=unknown[192.0.2.10], sasl_method=PLAIN, sasl_username=pf@example.com
Jul 22 10:00:05 mx postfix/submission/smtpd[100]: 4XyZ1234abd: client=unknown[192.0.2.10], sasl_method=PLAIN, sasl_username=pf@example.com, sasl_sender=pf@example.com
Jul 22 10:00:09 mx postfix/submission/smtpd[100]: 3F1A2B4C5D: client=unknown[192.0.2.10], sasl_method=PLAIN, sasl_username=pf@example.com
Jul 22 10:01:00 mx postfix/smtpd[200]: 4XyZ1234abe: client=host.example[198.51.100.7]:40000, sasl_method=LOGIN, sasl_username=pf@example.com
Jul 22 10:01:02 mx postfix/smtpd[200]: 4XyZ1234abf: client=host.example[198.51.100.7]:40000, sasl_method=LOGIN, sasl_username=pf@example.com
Jul 22 10:03:00 mx postfix/smtpd[200]: 4XyZ1234abg: client=host.example[198.51.100.7]:40001, sasl_method=LOGIN, sasl_username=pf@example.com
Jul 22 10:04:00 mx postfix/smtps/smtpd[300]: 4XyZ1234abh: client=unknown[2001:db8::5], sasl_method=PLAIN, sasl_username=pf@example.com
Jul 22 10:05:00 mx postfix/smtpd[300]: 4XyZ1234abi: client=mx.example[198.51.100.9]
Jul 22 10:06:00 mx postfix/submission/smtpd[400]: warning: unknown[203.0.113.9]: SASL LOGIN authentication failed: UGFzc3dvcmQ6, sasl_username=pf@example.com
Jul 22 10:06:05 mx postfix/submission/smtpd[400]: warning: unknown[203.0.113.10]:5555: SASL PLAIN authentication failed: (reason unavailable), sasl_username=pf@example.com
Jul 22 10:06:09 mx postfix/submission/smtpd[400]: warning: unknown[203.0.113.11]: SASL LOGIN authentication failed: UGFzc3dvcmQ6
Jul 22 10:06:10 mx postfix/submission/smtpd[400]: warning: unknown[203.0.113.12]: SASL LOGIN authentication failed: x, sasl_username=(unavailable)
LOG
pf_counts() { python3 -c 'import json, sys
d = [json.loads(l) for l in sys.stdin if "pf@example.com" in l][0]
print(d["logins"], d["success_addresses"], d["failures"], d["failing_addresses"], d["first_seen_utc"])'; }
pf_sessions=$(grep -v 'warning:' "$W/postfix.log" | grep 'sasl_username=' |
    sed -E 's/.*smtpd\[([0-9]+)\]: [^ ]+ client=([^,]*),.*/\1 \2/' | sort -u | wc -l)
pf_failures=$(grep 'authentication failed: .*, sasl_username=' "$W/postfix.log" | grep -vc '=(unavailable)$')
check_eq "postfix (syslog): one login per smtpd session (pid, port), failures that name the user" \
    "$pf_sessions 3 $pf_failures 2 2013-07-22T01:00:01Z" "$(scan --json "$W/postfix.log" 2>/dev/null | pf_counts)"
check_eq "... which is 4 sessions of 6 message lines, 2 of 4 failures" "4 2" "$pf_sessions $pf_failures"
sed -E 's/^Jul 22 ([0-9:]+) /2013-07-22T\1.123456+09:00 /' "$W/postfix.log" > "$W/postfix.rfc3339"
check_eq "postfix (RFC 3339): the same counts" "$(scan --json "$W/postfix.log" 2>/dev/null | pf_counts)" \
    "$(scan --json "$W/postfix.rfc3339" 2>/dev/null | pf_counts)"
check "postfix: the services, from syslog_name" contains_all \
    "$(scan --json "$W/postfix.log" 2>/dev/null | grep pf@example.com)" submission smtps smtp
# follow: a botnet's Postfix logins (two messages a session, from 12
# networks, in both stamps) lock the account, each session counted once
PFC=$(new_control postfix-follow)
now=$(date +%s)
for i in $(seq 12); do
    t=$((now - 900 + i * 30))
    for m in 1 2; do
        if ((i % 2)); then stamp=$(date -d "@$((t + m))" '+%b %e %H:%M:%S'); else stamp=$(date -u -d "@$((t + m))" '+%Y-%m-%dT%H:%M:%S.000000+00:00'); fi
        echo "$stamp mx postfix/submission/smtpd[$((5000 + i))]: 4Bot${i}x$m: client=unknown[$((40 + i)).23.1.$i]:$((30000 + i)), sasl_method=LOGIN, sasl_username=bot@example.com"
    done
done > "$W/postfix-bot.log"
out=$("$CTL" --control "$PFC" follow --once --from-start --state "$W/postfix-bot.state" "$W/postfix-bot.log" 2>&1)
check "follow: Postfix's logins lock the hijacked account" contains_all "$out" "lock user=bot@example.com"
check_eq "follow: locked in the store" "['bot@example.com']" \
    "$("$CTL" --control "$PFC" locks --json | python3 -c 'import json,sys; print([l["user"] for l in json.loads(sys.stdin.read())["locks"]])')"
"$CTL" --control "$PFC" scan --json "$W/postfix-bot.log" 2>/dev/null | users_json "$W/postfix-bot.users"
check_eq "follow: each Postfix session's login stored once, as scan counts (24 lines, 12 logins)" "[] 12" \
    "$(store_vs_scan "$PFC" "$W/postfix-bot.users") $(pyq "$W/postfix-bot.users" 'u["bot@example.com"]["logins"]')"

# --- the log-file copy: stamped as multilog stamps (tai64n), read by scan ---
# (issue 12: the copy had no time stamp, and scan skipped every line of it)
TC=$(new_control stamped)
t0=$(date +%s)
for i in $(seq 6); do checkpw "$TC" stamped@example.com secret "$((60 + i)).1.2.3" >/dev/null; done
t1=$(date +%s)
check "log-file without time stamps: every line now begins with a tai64n stamp, as multilog's" \
    test -s "$TC/authguard.log" -a "$(grep -c -v -E '^@[0-9a-f]{24} ' "$TC/authguard.log")" = 0
# a line written before the stamps (its time is its time= field)
echo "allow user=old@example.com address=192.0.2.77 service=submission outcome=success time=1374486777 nets_short=1" \
    >> "$TC/authguard.log"
"$CTL" --control "$TC" scan --json "$TC/authguard.log" > "$W/stamped.json" 2> "$W/stamped.err"
users_json "$W/stamped.users" < "$W/stamped.json"
check_eq "scan reads the log-file: the locked account, and a line from before the stamps" "lock 1374486777" \
    "$(pyq "$W/stamped.users" 'u["stamped@example.com"]["verdict"] + " " + str(u["old@example.com"]["first_seen"])')"
check "scan: a stamped line's time is its stamp" \
    test "$(pyq "$W/stamped.users" "$t0 <= u['stamped@example.com']['first_seen'] <= $t1")" = True
if command -v tai64nlocal >/dev/null; then
    check "tai64nlocal reads the log-file" test "$(tai64nlocal < "$TC/authguard.log" |
        grep -c -E '^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:.]+ lock user=stamped@example.com ')" = 1
fi

# --- a reader that closes the pipe ends the command, quietly ---
# (issue 12: `follow ... | head` ended with "cannot write the output: Broken pipe")
"$CTL" --control "$C" scan --year 2013 --json "$W/maillog" 2> "$W/pipe-scan.err" | head -1 > /dev/null
rc=${PIPESTATUS[0]}
check_eq "scan | head -1 (Broken pipe): exit 0, no write error" "0 0" \
    "$rc $(grep -c -i -e 'cannot write' -e 'broken pipe' "$W/pipe-scan.err")"
"$CTL" --control "$C" scan --year 2013 --json "$W/maillog" 2> "$W/pipe-scan.err" | true
rc=${PIPESTATUS[0]}
check_eq "scan | true (Broken pipe): exit 0, no write error" "0 0" \
    "$rc $(grep -c -i -e 'cannot write' -e 'broken pipe' "$W/pipe-scan.err")"
"$CTL" --control "$FC" export 2> "$W/pipe-export.err" | head -c 10 > /dev/null
rc=${PIPESTATUS[0]}
check_eq "export | head -c 10 (Broken pipe): exit 0, stderr empty" "0 " "$rc $(cat "$W/pipe-export.err")"
PIPE_C=$(new_control pipe)
timeout 30 "$CTL" --control "$PIPE_C" follow --from-start --state "$W/pipe.state" "$W/maillog" \
    2> "$W/pipe-follow.err" | head -1 > "$W/pipe-follow.out"
rc=${PIPESTATUS[0]}
check_eq "follow | head -1 (Broken pipe): follow ends, exit 0, stderr empty" "0 " "$rc $(cat "$W/pipe-follow.err")"
check "... its position saved" test -s "$W/pipe.state"
: > "$W/quiet.log"
timeout 30 "$CTL" --control "$PIPE_C" follow --state "$W/quiet.state" "$W/quiet.log" \
    2> "$W/pipe-follow.err" | head -1 > /dev/null
rc=${PIPESTATUS[0]}
check_eq "follow of a quiet file | head -1: ends too, exit 0, stderr empty" "0 " "$rc $(cat "$W/pipe-follow.err")"

# --- copytruncate between two looks: every line counted exactly once ---
# (issue 12: the lines written since follow's last look, 250 ms, and the
# copytruncate were never read: 41 of 127,836 logins missed.) Bursts of
# lines, each followed at once by a copy and a truncation (logrotate's
# copytruncate: maillog.1 after shifting the old one to maillog.2, .0,
# -YYYYMMDD, a name unlike the log's, a copy keeping the mtime), one of them
# while follow is stopped.
CT=$W/ct
mkdir -p "$CT"
"$GEN" --no-incident --users 20 --days 1 --seed 11 > "$W/ct.all"
CC=$(new_control copytruncate)
S=$W/ct.state
ct_start() {
    "$CTL" --control "$CC" follow --state "$S" "$CT/maillog" >> "$W/ct.out" 2>&1 &
    FOLLOWER=$!
    on_exit "kill $FOLLOWER"
}
ct_lines() { # FROM TO: lines FROM..TO of ct.all appended one write each, as syslog does
    local line
    sed -n "$1,$2p" "$W/ct.all" | while IFS= read -r line; do printf '%s\n' "$line" >> "$CT/maillog"; done
}
: > "$CT/maillog"
ct_start
sleep 0.5
copies=(maillog.1 maillog.1 maillog.0 maillog-20130722 stopped copied-by-hand maillog.1 keep-mtime)
total=$(wc -l < "$W/ct.all")
per=$(( total / (${#copies[@]} + 1) ))
at=1
for copy in "${copies[@]}"; do
    ct_lines "$at" $((at + per / 2 - 1))
    sleep 0.3 # follow has read these, and waits for its next look
    [ "$copy" = stopped ] && { kill -TERM "$FOLLOWER"; wait "$FOLLOWER"; copy=maillog.1; stopped=1; } || stopped=
    ct_lines $((at + per / 2)) $((at + per - 1))
    case $copy in
    maillog.1) [ -e "$CT/maillog.1" ] && mv "$CT/maillog.1" "$CT/maillog.2"; cp "$CT/maillog" "$CT/maillog.1" ;;
    keep-mtime) cp -p "$CT/maillog" "$CT/$copy" ;;
    *) cp "$CT/maillog" "$CT/$copy" ;;
    esac
    truncate -s 0 "$CT/maillog"
    [ -n "$stopped" ] && ct_start
    at=$((at + per))
done
ct_lines "$at" "$total"
for _ in $(seq 300); do
    grep -q "^v2 [0-9]* $(stat -c %i "$CT/maillog") $(stat -c %s "$CT/maillog") " "$S" 2>/dev/null && break
    sleep 0.05
done
kill -TERM "$FOLLOWER"; wait "$FOLLOWER"
scan --json "$W/ct.all" 2>/dev/null | users_json "$W/ct.users"
check_eq "follow, copytruncate between two looks: every login counted exactly once (none missed, none twice)" "[]" \
    "$(store_vs_scan "$CC" "$W/ct.users")"
check_eq "... the rest read from each copy (7 live, 1 while stopped)" "7 1" \
    "$(grep -c 'was truncated: the rest of its copy' "$W/ct.out") $(grep -c 'was truncated while stopped: the rest of its copy' "$W/ct.out")"
check "... by any name: .1, .0, -YYYYMMDD, another" contains_all "$(cat "$W/ct.out")" "copy $CT/maillog.1 " \
    "copy $CT/maillog.0 " "copy $CT/maillog-20130722 " "copy $CT/copied-by-hand " "copy $CT/keep-mtime "
# No copy (truncated, not rotated): a warning naming where the loss begins.
mkdir -p "$W/nocopy"
printf '%s\n' "$(sed -n 1,20p "$W/ct.all")" > "$W/nocopy/maillog"
"$CTL" --control "$CC" follow --state "$W/nocopy.state" "$W/nocopy/maillog" > "$W/nocopy.out" 2>&1 &
FOLLOWER=$!
on_exit "kill $FOLLOWER"
size=$(stat -c %s "$W/nocopy/maillog")
# (waits on what follow has written, not on sleeps: a loaded machine may
# take seconds to start it, or to have it look again)
for _ in $(seq 300); do
    grep -q "^v2 [0-9]* $(stat -c %i "$W/nocopy/maillog") $size " "$W/nocopy.state" 2>/dev/null && break
    sleep 0.05
done
sed -n 21,30p "$W/ct.all" >> "$W/nocopy/maillog"
truncate -s 0 "$W/nocopy/maillog"
for _ in $(seq 300); do
    grep -q "was truncated" "$W/nocopy.out" && break
    sleep 0.05
done
kill -TERM "$FOLLOWER"; wait "$FOLLOWER"
check "follow, truncated with no copy: says so, and from which byte lines may be lost" \
    grep -q "was truncated and no copy of it was found beside it .*after byte $size and before the truncation is lost" "$W/nocopy.out"
