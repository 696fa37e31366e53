#!/bin/bash
# lmdb.sh - the embedded LMDB store, the default without a redis key:
# authguard-checkpw locks a botnet with it; its directory sits beside the
# control directory; 40 concurrent logins lose no count; a directory the
# hook's user cannot write is refused with a clear log line and the login
# fails open (or tempfails), as it does when another writer holds the
# database past lmdb-lock-timeout-ms; files root creates keep the directory's owner;
# authguardctl export/import move every user between Redis and LMDB and
# back unchanged (and the verdicts with them); gc removes expired keys.
. "$AG_ROOT/tests/lib.sh"
trap_cleanup

# A directory the unprivileged user (nobody) can reach.
PUB=$(mktemp -d /tmp/authguard-lmdb.XXXXXX)
chmod 755 "$PUB"
on_exit "rm -rf '$PUB'"
CTL=$AG_BUILD/authguardctl
contains() { [[ "$1" == *"$2"* ]]; }

# host NAME [key = value lines on stdin]: PUB/NAME/control, no Redis, a
# world-writable log file; prints the control dir.
host() {
    local d=$PUB/$1/control
    mkdir -p "$d"
    { echo "log-file = $PUB/$1/authguard.log"; [ -t 0 ] || cat; } >"$d/authguard"
    chmod 644 "$d/authguard"
    : >"$d/authguard-allow"
    chmod 755 "$PUB/$1"
    touch "$PUB/$1/authguard.log"
    chmod 666 "$PUB/$1/authguard.log"
    echo "$d"
}

# as_nobody CONTROL USER IP [NAME=VALUE...]: checkpw as user nobody.
as_nobody() {
    local control=$1 user=$2 ip=$3
    shift 3
    env -i PATH=/usr/bin:/bin AUTHGUARD_CONTROL="$control" TCPREMOTEIP="$ip" TCPLOCALPORT=587 \
        AG_STANDIN_PASSWORD=secret "$@" \
        setpriv --reuid=65534 --regid=65534 --clear-groups \
        "$AG_BUILD/authguard-checkpw" "$AG_BUILD/vchkpw-standin" /bin/true \
        3< <(printf '%s\0secret\0Y123456\0' "$user") >/dev/null 2>&1
    echo $?
}

# --- the default store ----------------------------------------------------------
MX=$(host mx </dev/null)
check_eq "check-config: the store is LMDB beside the control directory" 1 \
    "$("$CTL" --control "$MX" check-config | grep -c "^store  *lmdb $PUB/mx/authguard ")"
rc=
for i in $(seq 6); do rc=$(checkpw "$MX" mallory secret "$((40 + i)).7.8.9"); done
check_eq "a botnet is locked at its 6th new network" 1 "$rc"
check "the database is in $PUB/mx/authguard" test -s "$PUB/mx/authguard/data.mdb"
check_eq "and refused afterwards" 1 "$(checkpw "$MX" mallory secret 47.7.8.9)"
check_eq "authguardctl locks shows it" 1 "$("$CTL" --control "$MX" locks | grep -c ' mallory  ')"
check_eq "stats: 1 lock" '"locks":1' "$("$CTL" --control "$MX" stats --json | grep -o '"locks":[0-9]*')"

# contrib's run scripts limit the address space (softlimit -m 64000000): the
# map is kept to a quarter of such a limit.
check_eq "under softlimit -m 64000000 (prlimit --as) a login is let in" 0 \
    "$(checkpw "$MX" limited secret 192.0.2.3 prlimit --as=64000000 --)"
check_eq "... and counted" '"count":1' "$("$CTL" --control "$MX" export limited | grep -o '"count":[0-9]*')"

# --- many processes at once -----------------------------------------------------
pids=()
for i in $(seq 40); do
    checkpw "$MX" busy secret 192.0.2.1 >"$PUB/busy.$i" &
    pids+=($!)
done
wait "${pids[@]}"
check_eq "40 concurrent logins all let in" 40 "$(cat "$PUB"/busy.* | grep -c '^0$')"
check_eq "... and all 40 counted" '"count":40' \
    "$("$CTL" --control "$MX" export busy | grep -o '"count":[0-9]*')"

# --- a directory the hook's user cannot write ------------------------------------
RO=$(host ro </dev/null)
mkdir -m 755 "$PUB/ro/authguard" # root's
t0=$(ms_now)
rc=$(as_nobody "$RO" carol 192.0.2.9)
ms=$(($(ms_now) - t0))
check_eq "unwritable store directory: the login fails open (exit 0)" 0 "$rc"
check "... at once (${ms} ms)" test "$ms" -lt 1000
line=$(grep 'user=carol' "$PUB/ro/authguard.log" | tail -1)
check_eq "... logged as store unavailable, fail-open" 1 "$(echo "$line" | grep -c '^@[0-9a-f]\{24\} allow .*reason="store unavailable, fail-open"')"
check_eq "... saying which directory, and which user cannot write it" 1 \
    "$(echo "$line" | grep -c "lmdb $PUB/ro/authguard: directory not writable by uid 65534 (nobody)")"
echo "on-store-failure = tempfail" >>"$RO/authguard"
check_eq "with on-store-failure = tempfail: 454 (exit 111)" 111 "$(as_nobody "$RO" carol 192.0.2.9)"
NOPE=$(host nope <<<"lmdb-path = $PUB/nope/missing/authguard")
check_eq "a store directory that cannot be created: fail-open" 0 "$(as_nobody "$NOPE" carol 192.0.2.9)"
check_eq "... saying so" 1 \
    "$(grep -c "lmdb $PUB/nope/missing/authguard: cannot create the directory as uid 65534" "$PUB/nope/authguard.log")"

# --- a writer that holds the database: bounded by command-timeout ------------------
HELD=$(host held <<<"lmdb-lock-timeout-ms = 300")
check_eq "held: a first login creates the database" 0 "$(checkpw "$HELD" erin secret 192.0.2.20)"
python3 -c 'import fcntl, sys, time
f = open(sys.argv[1], "r+")
fcntl.lockf(f, fcntl.LOCK_EX)
print("held", flush=True)
time.sleep(30)' "$PUB/held/authguard/writer.lock" >"$PUB/held.out" &
HOLDER=$!
on_exit "kill $HOLDER 2>/dev/null"
for _ in $(seq 100); do grep -q held "$PUB/held.out" 2>/dev/null && break; sleep 0.05; done
t0=$(ms_now)
rc=$(checkpw "$HELD" erin secret 192.0.2.20)
ms=$(($(ms_now) - t0))
check_eq "another writer holding the database: the login fails open (exit 0)" 0 "$rc"
check "... after lmdb-lock-timeout-ms (300 ms), not much later (${ms} ms)" test "$ms" -ge 300 -a "$ms" -lt 2000
check_eq "... logged as store unavailable, saying why" 1 \
    "$(grep 'user=erin' "$PUB/held/authguard.log" | tail -1 | grep -c 'store unavailable.*another writer has held the database for over 300 ms')"
echo "on-store-failure = tempfail" >>"$HELD/authguard"
check_eq "... with on-store-failure = tempfail: 454 (exit 111)" 111 "$(checkpw "$HELD" erin secret 192.0.2.20)"
kill "$HOLDER"
wait "$HOLDER" 2>/dev/null
check_eq "once the writer lets go, logins are counted again" '"count":2' \
    "$(checkpw "$HELD" erin secret 192.0.2.20 >/dev/null; "$CTL" --control "$HELD" export erin | grep -o '"count":[0-9]*')"

# --- a directory owned by the hook's user; root's tools keep it usable -------------
OWN=$(host own </dev/null)
mkdir -m 750 "$PUB/own/authguard"
chown nobody:nogroup "$PUB/own/authguard"
"$CTL" --control "$OWN" gc >/dev/null # root creates the files
check_eq "files root creates belong to the directory's owner" "nobody nobody" \
    "$(stat -c %U "$PUB/own/authguard/data.mdb") $(stat -c %U "$PUB/own/authguard/lock.mdb")"
check_eq "the hook then writes as nobody" "0 0" \
    "$(as_nobody "$OWN" dave 192.0.2.4) $(as_nobody "$OWN" dave 192.0.2.4)"
check_eq "... and counts" '"count":2' "$("$CTL" --control "$OWN" export dave | grep -o '"count":[0-9]*')"

# --- a full disk says so ------------------------------------------------------------
# LMDB reports a write that came short (the disk filled up during it) as EIO:
# the log said "Input/output error", sending the admin after a failing disk.
# On a tiny tmpfs: filled to the last byte (the write fails at once, ENOSPC),
# then with a few pages left (a write comes short).
FULL=$PUB/full
mkdir -p "$FULL"
if mount -t tmpfs -o size=2m,mode=755 authguard-test-full "$FULL" 2>/dev/null; then
    on_exit "umount -l '$FULL'"
    DISK=$(host disk <<<"lmdb-path = $FULL/authguard")
    mkdir -m 770 "$FULL/authguard"
    "$CTL" --control "$DISK" lock seed --reason test >/dev/null # the database exists, then the disk fills
    # full_disk_write FREE_PAGES: fills the disk up to FREE_PAGES pages, then
    # writes (manual locks) until one fails; prints what it said.
    full_disk_write() {
        rm -f "$FULL/fill"
        dd if=/dev/zero of="$FULL/fill" bs=4k status=none 2>/dev/null
        [ "$1" -gt 0 ] && truncate -s "-$(($1 * 4096))" "$FULL/fill"
        local i err
        for i in $(seq 400); do
            if ! err=$("$CTL" --control "$DISK" lock "full-$1-$i-$(printf '%0200d' 0)" --reason test 2>&1 >/dev/null); then
                echo "$err"
                return
            fi
        done
        echo "no write failed"
    }
    out=$(full_disk_write 0)
    check "full disk (LMDB write failing with ENOSPC): authguardctl says No space left on device" \
        contains "$out" "No space left on device (the file system holding $FULL/authguard is full"
    # A write that comes short (some pages fit) is LMDB's EIO: 1 and 8 pages
    # left hit it here; every failure must say the disk is full.
    outs=$(for pages in 1 2 8; do full_disk_write "$pages"; done)
    check_eq "full disk (LMDB's short write, EIO): No space left on device, never Input/output error" "3 0" \
        "$(grep -c 'No space left on device (the file system holding .* is full' <<<"$outs") $(grep -c 'Input/output error' <<<"$outs")"
    check "... the short write seen, with the bytes left" grep -q "is full: [0-9]* bytes free)" <<<"$outs"
    rm -f "$FULL/fill"
    dd if=/dev/zero of="$FULL/fill" bs=4k status=none 2>/dev/null
    for i in $(seq 100); do
        checkpw "$DISK" "login-$i" secret "192.0.2.$i" >/dev/null
        grep -q "user=login-$i .*store unavailable" "$PUB/disk/authguard.log" && break
    done
    check "full disk: the hook fails open and logs No space left on device" \
        grep -q "user=login-$i .*store unavailable, fail-open.*No space left on device" "$PUB/disk/authguard.log"
    check "... never Input/output error" test "$(grep -c 'Input/output error' "$PUB/disk/authguard.log")" = 0
    rm -f "$FULL/fill"
    umount -l "$FULL"
else
    echo "# skipped: the full-disk checks need root to mount a tmpfs"
fi

# --- export / import: Redis -> LMDB -> Redis ---------------------------------------
REDIS_C=$(new_control lmdb-from <<<"fingerprint-secret = 0123456789abcdef0123")
REDIS_C2=$(new_control lmdb-back </dev/null)
LM=$(host lm <<<"fingerprint-secret = 0123456789abcdef0123")
chmod 640 "$LM/authguard"
mkdir -m 770 "$PUB/lm/authguard" # authguardctl, run as root, does not create the store
for i in $(seq 6); do checkpw "$REDIS_C" victim secret "$((50 + i)).1.2.3" >/dev/null; done
checkpw "$REDIS_C" victim wrong 198.51.100.7 >/dev/null # a failure, with a fingerprint
for i in 1 2 3; do checkpw "$REDIS_C" carol secret 192.0.2.5 >/dev/null; done
weird=$(printf 'q"\xc3\xa9\xff\\x')
checkpw "$REDIS_C" "$weird" secret 192.0.2.6 >/dev/null
t=$(redis TIME | head -1)
redis HSET 't-lmdb-from:{carol}:rate' "s$((t / 300))m" 2 "s$((t / 300))r" 5 "l$((t / 3600))r" 5 >/dev/null
redis EXPIRE 't-lmdb-from:{carol}:rate' 90000 >/dev/null

"$CTL" --control "$REDIS_C" export >"$PUB/a.jsonl"
check_eq "export from Redis: one line per user" 3 "$(wc -l <"$PUB/a.jsonl")"
check_eq "... with the lock, the fingerprint and the rate buckets" "1 1 1" \
    "$(grep -c '"lock":{"since"' "$PUB/a.jsonl") $(grep -c '"fingerprint":' "$PUB/a.jsonl") $(grep -c '"rate":{"s' "$PUB/a.jsonl")"
check_eq "import into LMDB (the locking login was refused: not stored)" "imported 3 users (8 observations, 1 locks)" \
    "$("$CTL" --control "$LM" import "$PUB/a.jsonl")"
"$CTL" --control "$LM" export >"$PUB/b.jsonl"
"$CTL" --control "$REDIS_C2" import - <"$PUB/b.jsonl" >/dev/null
"$CTL" --control "$REDIS_C2" export >"$PUB/c.jsonl"
no_ttl() { sed -E 's/"(observations_ttl|ttl|rate_ttl)":[0-9]+/"\1":_/g' "$1"; }
check "Redis -> LMDB: every user's state unchanged" cmp -s <(no_ttl "$PUB/a.jsonl") <(no_ttl "$PUB/b.jsonl")
check "LMDB -> Redis: unchanged again" cmp -s <(no_ttl "$PUB/a.jsonl") <(no_ttl "$PUB/c.jsonl")
ttls() { grep -oE '"(observations_ttl|ttl|rate_ttl)":[0-9]+' "$1" | cut -d: -f2; }
drift=$(paste <(ttls "$PUB/a.jsonl") <(ttls "$PUB/c.jsonl") |
    awk '{ d = $1 - $2; if (d < 0) d = -d; if (d > m) m = d } END { print m + 0 }')
check "... keys keep their remaining lifetimes (drift ${drift} s)" test "$drift" -le 3
check_eq "the name with a quote and a non-UTF-8 byte survives" 1 \
    "$("$CTL" --control "$LM" export "$weird" | grep -c '"count":1')"
check_eq "on LMDB the imported lock is enforced" 1 "$(checkpw "$LM" victim secret 61.1.2.3)"
check_eq "... and the known network still let in" 0 "$(checkpw "$LM" carol secret 192.0.2.5)"
printf '{"user":"x","observations":[{"kind":"odd"}]}\n' >"$PUB/bad.jsonl"
"$CTL" --control "$LM" import "$PUB/bad.jsonl" 2>"$PUB/bad.err"
check_eq "a bad line: exit 2, naming the line" "2 1" "$? $(grep -c 'bad.jsonl:1:' "$PUB/bad.err")"

# --- gc ---------------------------------------------------------------------------
later=$(($(date +%s) + 31 * 86400))
check_eq "31 days later the observations are gone for readers" "" \
    "$(AUTHGUARD_NOW=$later "$CTL" --control "$LM" export carol 2>/dev/null)"
removed=$(AUTHGUARD_NOW=$later "$CTL" --control "$LM" gc --json | grep -o '"removed":[0-9]*' | cut -d: -f2)
check "gc removes the expired keys ($removed)" test "${removed:-0}" -ge 3
check_eq "the lock outlives them" 1 "$(AUTHGUARD_NOW=$later "$CTL" --control "$LM" locks | grep -c ' victim  ')"
