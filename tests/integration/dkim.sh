#!/bin/bash
# dkim.sh - authguard-dkim driven exactly as qmail-smtpd drives a QMAILQUEUE
# program (tests/standins/qmail-smtpd-queue-driver: the message on fd 0, the
# envelope on fd 1 only once fd 0 is closed), in front of the qmail-queue
# stand-in that keeps what it got (build/qmail-queue-standin, $AG_QQ_DIR),
# and end to end behind qpsmtpd + swaks. dkimpy (python3-dkim) is the other
# side both ways: it verifies what authguard-dkim signs and signs what
# authguard-dkim verifies. The verifying side asks a real DNS server:
# Debian's unbound on a private 127/8 address serving the _domainkey TXT
# records as local-data; the whole script runs in a private mount namespace
# where /etc/resolv.conf names it (for the "never answers" check, a UDP
# socket that reads and never replies).
#
# Checks:
#   a. signing (authenticated): one DKIM-Signature per key, the message
#      byte-exact behind it, the message's line ends kept, dkimpy verifies
#      every signature: rsa-2048, ed25519, a dual-signed domain; 0-byte,
#      1 KB, 1 MB and 50 MB bodies; at 50 MB peak RSS bounded and the file
#      handed on is the spool file itself (unlinked, not a copy)
#   b. the defined outcomes: a domain without a key, no From, two From, a
#      malformed header line (handed on unsigned, logged); CRLF, mixed line
#      ends and an 8-bit body (signed, verified); never lost
#   c. verifying (unauthenticated): pass, fail (tampered body), permerror
#      (unknown selector), none; a forged Authentication-Results with our
#      authserv-id removed, another host's kept; dkim-verify-policy
#      fail=reject -> 31 and nothing queued; DNS that never answers ->
#      temperror within dkim-dns-timeout
#   d. chained with authguard-queue in both orders: signed; a locked user
#      refused (31), nothing queued
#   e. end to end: qpsmtpd + swaks, signed outbound, pass / fail inbound
source "${AG_ROOT:?run through tests/run-all}/tests/lib.sh" || exit 1
source "$AG_ROOT/tests/unbound.sh" || exit 1

if [ -z "${AG_DKIM_NS:-}" ]; then
    if [ "$(id -u)" = 0 ] && unshare -m --propagation private true 2>/dev/null; then
        AG_DKIM_NS=1 exec unshare -m --propagation private bash "$0" "$@"
    fi
    ok "DKIM end to end # SKIP needs root and unshare -m (private /etc/resolv.conf)"
    exit 0
fi
trap_cleanup
for tool in unbound perl openssl; do
    command -v "$tool" >/dev/null || { not_ok "$tool is installed (tools/install-deps test)"; exit 1; }
done
/usr/bin/python3 -c 'import dkim, nacl' 2>/dev/null ||
    { not_ok "python3-dkim and python3-nacl are installed (tools/install-deps test)"; exit 1; }
T0=$(ms_now)

W=$AG_TMP/dkim
mkdir -p "$W/msg" "$W/spool" "$W/home"
on_exit "rm -rf '$W'"
DRIVER=$AG_ROOT/tests/standins/qmail-smtpd-queue-driver
DK=$AG_BUILD/authguard-dkim
GUARD=$AG_BUILD/authguard-queue
QQ=$AG_BUILD/qmail-queue-standin
CTL=$AG_BUILD/authguardctl
CHAIN="$AG_BUILD/authguard-checkpw $AG_BUILD/vchkpw-standin /bin/true"
AUTHSERV=mx.dkim.test
PY=/usr/bin/python3

# ---- the helper: dkimpy and byte comparisons --------------------------------
cat >"$W/dk.py" <<'EOF_PY'
"""dk.py - the test's other side: dkimpy, and byte-exact comparisons.
  added ORIG GOT         GOT = whole header fields + ORIG? prints the added
                         fields' names (one a line), then "eol lf|crlf|none"
  verify GOT KEYDIR      dkimpy verifies every DKIM-Signature of GOT, keys
                         read from KEYDIR/DOMAIN/SELECTOR.pub; prints
                         "pass|fail d=.. s=.. a=.." per signature
  sign IN OUT DOMAIN SELECTOR KEY [rsa|ed25519]   dkimpy signs IN
"""
import base64, re, sys, os
import dkim

def read(p):
    with open(p, "rb") as f:
        return f.read()

def fields(prefix):
    names, i = [], 0
    lines = re.split(b"(?<=\n)", prefix)
    for line in lines:
        if not line:
            continue
        if line[:1] in (b" ", b"\t"):
            if not names:
                return None
            continue
        m = re.match(rb"([\x21-\x39\x3b-\x7e]+):", line)
        if not m:
            return None
        names.append(m.group(1).decode())
    return names

def cmd_added(orig, got):
    o, g = read(orig), read(got)
    if not g.endswith(o):
        print("not-suffix")
        return 1
    prefix = g[: len(g) - len(o)]
    names = fields(prefix)
    if names is None or (prefix and not prefix.endswith(b"\n")):
        print("not-fields")
        return 1
    for n in names:
        print(n)
    crlf = prefix.count(b"\r\n")
    lf = prefix.count(b"\n")
    print("eol " + ("none" if lf == 0 else "crlf" if crlf == lf else "lf" if crlf == 0 else "mixed"))
    return 0

def dnsfunc_for(keydir):
    def dnsfunc(name, timeout=5):
        n = name.decode().rstrip(".")
        sel, _, dom = n.partition("._domainkey.")
        try:
            return read(os.path.join(keydir, dom, sel + ".pub")).strip()
        except OSError:
            return None
    return dnsfunc

def cmd_verify(got, keydir):
    msg = read(got)
    d = dkim.DKIM(msg)
    headers, _ = dkim.rfc822_parse(msg)
    n = sum(1 for k, _ in headers if k.lower() == b"dkim-signature")
    for i in range(n):
        d = dkim.DKIM(msg)
        try:
            res = d.verify(idx=i, dnsfunc=dnsfunc_for(keydir))
        except Exception as e:
            res = False
        tags = {}
        v = [v for k, v in headers if k.lower() == b"dkim-signature"][i]
        for t in re.sub(rb"\s", b"", v).split(b";"):
            k, _, val = t.partition(b"=")
            tags[k] = val
        print("%s d=%s s=%s a=%s" % ("pass" if res else "fail", tags.get(b"d", b"").decode(),
                                     tags.get(b"s", b"").decode(), tags.get(b"a", b"").decode()))
    return 0

def cmd_sign(src, out, domain, selector, key, kind="rsa"):
    msg = read(src)
    if kind == "ed25519":
        alg = b"ed25519-sha256"
        keydata = read(key).strip()  # base64 of the 32-byte seed (dkimpy's form)
    else:
        alg = b"rsa-sha256"
        keydata = read(key)
    sig = dkim.sign(msg, selector.encode(), domain.encode(), keydata,
                    canonicalize=(b"relaxed", b"relaxed"), signature_algorithm=alg,
                    include_headers=[b"from", b"to", b"subject", b"date", b"message-id"])
    # dkimpy ends its field with CRLF; the message has LF (as qmail hands it).
    if b"\r\n" not in msg:
        sig = sig.replace(b"\r\n", b"\n")
    with open(out, "wb") as f:
        f.write(sig + msg)
    return 0

cmd = sys.argv[1]
sys.exit({"added": cmd_added, "verify": cmd_verify, "sign": cmd_sign}[cmd](*sys.argv[2:]))
EOF_PY
dk() { "$PY" "$W/dk.py" "$@"; }

# ---- keys: authguardctl dkim keygen, IndiMail's layout ----------------------
C=$(new_control dkim <<EOF
dkim-next-queue = $QQ
dkim-authserv-id = $AUTHSERV
dkim-spool-dir = $W/spool
dkim-dns-timeout = 2
trust-auth-env = yes
max-messages-short = 100000
max-recipients-short = 100000
max-recipients-long = 100000
EOF
)
LOG=$C/authguard.log
KEYS=$C/domainkeys
keygen() { # DOMAIN SELECTOR TYPE
    "$CTL" --control "$C" dkim keygen "$1" --selector "$2" --type "$3" >"$W/keygen.out" 2>&1 && return 0
    # Fallback so that the other checks still run: openssl, and the record by hand.
    mkdir -p "$KEYS/$1"
    openssl genpkey -algorithm "$([ "$3" = rsa ] && echo RSA || echo ED25519)" \
        $([ "$3" = rsa ] && echo -pkeyopt rsa_keygen_bits:2048) \
        -out "$KEYS/$1/$2" 2>/dev/null
    chmod 600 "$KEYS/$1/$2"
    if [ "$3" = rsa ]; then
        echo "v=DKIM1; k=rsa; p=$(openssl pkey -in "$KEYS/$1/$2" -pubout -outform DER | base64 -w0)"
    else
        echo "v=DKIM1; k=ed25519; p=$(openssl pkey -in "$KEYS/$1/$2" -pubout -outform DER | tail -c 32 | base64 -w0)"
    fi >"$KEYS/$1/$2.pub"
    return 1
}
kg_ok=0
keygen rsa.test rsa2026 rsa || kg_ok=1
keygen ed.test ed2026 ed25519 || kg_ok=1
keygen dual.test r2026 rsa || kg_ok=1
keygen dual.test e2026 ed25519 || kg_ok=1
check_eq "authguardctl dkim keygen makes rsa and ed25519 keys with their .pub records ($(head -c 200 "$W/keygen.out"))" 0 "$kg_ok"
check "keygen: the private key is not readable by others (a leaked key signs anyone's mail)" \
    bash -c '[ -z "$(find "$1" -type f ! -name "*.pub" -perm /o+r)" ]' _ "$KEYS"

# The sender side of the verifying checks: dkimpy's keys (PKCS#1 RSA; an
# ed25519 seed) for sender.test, published by unbound.
openssl genrsa -traditional -out "$W/sender.rsa" 2048 2>/dev/null
SENDER_P=$(openssl rsa -in "$W/sender.rsa" -pubout -outform DER 2>/dev/null | base64 -w0)
openssl genpkey -algorithm ED25519 -outform DER 2>/dev/null | tail -c 32 | base64 -w0 >"$W/sender.ed"
SENDER_EDP=$(openssl pkey -inform DER -in <(printf '%s' "$(cat "$W/sender.ed")" | base64 -d |
    cat <(printf '\x30\x2e\x02\x01\x00\x30\x05\x06\x03\x2b\x65\x70\x04\x22\x04\x20') -) \
    -pubout -outform DER 2>/dev/null | tail -c 32 | base64 -w0)

# ---- unbound with the _domainkey records -------------------------------------
# txt NAME TEXT: a local-data line, the text cut into 255-byte strings.
txt() {
    local name=$1 text=$2 out=
    while [ -n "$text" ]; do out+=" \"${text:0:255}\""; text=${text:255}; done
    echo "    local-data: '$name. TXT$out'"
}
on_exit unbound_stop
{
    echo '    local-zone: "test." static'
    txt s1._domainkey.sender.test "v=DKIM1; k=rsa; p=$SENDER_P"
    txt ed1._domainkey.sender.test "v=DKIM1; k=ed25519; p=$SENDER_EDP"
    for d in rsa.test ed.test dual.test; do
        for pub in "$KEYS/$d"/*.pub; do
            txt "$(basename "$pub" .pub)._domainkey.$d" "$(cat "$pub")"
        done
    done
} >"$W/zones"
unbound_start "$W" 127.55 <"$W/zones" || {
    not_ok "unbound starts on a 127/8 address ($(unbound_log_tail "$W"))"
    exit 1
}
resolv_conf_mount "$W/resolv.conf" "$UNBOUND_IP" timeout:1 attempts:1 || { not_ok "private /etc/resolv.conf"; exit 1; }

# ---- driving ---------------------------------------------------------------
# drive CONTROL QDIR [driver options]: one SMTP session of the driver against
# $PROGRAM (default authguard-dkim), a clean environment plus ENVS. $OUT.
IP=192.0.2.10 ENVS=()
drive() {
    local control=$1 qdir=$2; shift 2
    rm -rf "$qdir"
    mkdir -p "$qdir"
    OUT=$(timeout 120 env -i PATH=/usr/bin:/bin AUTHGUARD_CONTROL="$control" AG_QQ_DIR="$qdir" \
        TCPREMOTEIP="$IP" TCPLOCALPORT=587 "${ENVS[@]}" \
        "$DRIVER" --cwd "$W/home" --from s@example.com --to r@example.org "$@" \
        "${PROGRAM:-$DK}" 2>>"$W/stderr")
}
field() { printf '%s\n' "$OUT" | sed -n "s/^$1 //p" | tail -1; }
queued() { find "$1" -maxdepth 1 -name '*.msg' 2>/dev/null | wc -l; }
got() { find "$1" -maxdepth 1 -name '*.msg' | head -1; }
# signed NAME ORIG QDIR NSIG: the checks on one signed message
signed() {
    local name=$1 orig=$2 q=$3 n=$4 g added
    g=$(got "$q")
    check_eq "$name: handed on (exit 0)" "0 1" "$(field exit) $(queued "$q")"
    [ -n "$g" ] || return
    added=$(dk added "$orig" "$g")
    check_eq "$name: one DKIM-Signature per key, the message byte-exact behind it" \
        "$n" "$(grep -c '^DKIM-Signature$' <<<"$added")"
    check_eq "$name: nothing else added" 0 "$(grep -v -c -e '^DKIM-Signature$' -e '^eol ' <<<"$added")"
    local want=lf
    grep -q $'\r$' <(head -1 "$orig") && want=crlf
    check_eq "$name: the added fields keep the message's line ends" "eol $want" "$(grep '^eol ' <<<"$added")"
    local v
    v=$(dk verify "$g" "$KEYS")
    check_eq "$name: dkimpy verifies every signature ($(tr '\n' ' ' <<<"$v"))" "$n" "$(grep -c '^pass ' <<<"$v")"
}
# unsigned NAME ORIG QDIR LOGTEXT: handed on as it came, the reason logged
unsigned() {
    local name=$1 orig=$2 q=$3 text=$4
    check_eq "$name: handed on (exit 0), never lost" "0 1" "$(field exit) $(queued "$q")"
    check "$name: byte-exact, nothing added" cmp -s "$orig" "$(got "$q")"
    check "$name: logged ('$text')" grep -qF "$text" "$LOG"
}

# ---- a. signing: keys x sizes ------------------------------------------------
M=$W/msg
mkmsg() { # FILE FROM BODY-BYTES
    "$PY" - "$@" <<'EOF_PY'
import sys, base64, os
path, frm, size = sys.argv[1], sys.argv[2], int(sys.argv[3])
h = (b"From: Alice <%s>\nTo: bob@example.org\nSubject: size %d\n"
     b"Date: Mon, 02 Nov 2026 10:00:00 +0000\nMessage-ID: <%d.%s>\n\n") % (frm.encode(), size, size, frm.encode())
with open(path, "wb") as f:
    f.write(h)
    line = base64.b64encode(os.urandom(57)) + b"\n"   # 77 bytes a line
    left = size
    while left > 0:
        chunk = (line * 13600)[:left]                  # about 1 MB at a time
        f.write(chunk)
        left -= len(chunk)
EOF_PY
}
ENVS=(SMTPAUTHUSER=alice@example.com)
for d in rsa.test ed.test dual.test; do
    n=1; [ $d = dual.test ] && n=2
    for size in 0 1024 1048576; do
        mkmsg "$M/$d-$size" "alice@$d" "$size"
        drive "$C" "$W/q-$d-$size" --message "$M/$d-$size"
        signed "sign $d, $size-byte body" "$M/$d-$size" "$W/q-$d-$size" $n
    done
done
check "signing is logged (user, domain, selector, algorithm)" \
    grep -q 'dkim sign user=alice@example.com domain=dual.test .*result=signed d=dual.test s=.*a=ed25519' "$LOG"

# 50 MB, dual-signed (both algorithms): authguard-dkim under /usr/bin/time
# (max RSS) as QMAILQUEUE, and the next program a wrapper that records what
# fd 0 is before it execs the stand-in.
cat >"$W/time-dkim" <<EOF
#!/bin/sh
exec /usr/bin/time -f %M -o "$W/maxrss" "$DK"
EOF
cat >"$W/fd0-standin" <<EOF
#!/bin/bash
readlink /proc/\$\$/fd/0 >"$W/fd0.link"
cat /proc/\$\$/fdinfo/0 >"$W/fd0.info"
stat -L -c '%h %s' /proc/\$\$/fd/0 >"$W/fd0.stat"
exec "$QQ"
EOF
chmod +x "$W/time-dkim" "$W/fd0-standin"
mkmsg "$M/big" alice@dual.test $((50 * 1024 * 1024))
t=$(ms_now)
ENVS=(SMTPAUTHUSER=alice@example.com DKIMQUEUE="$W/fd0-standin")
PROGRAM=$W/time-dkim drive "$C" "$W/q-big" --message "$M/big"
ENVS=(SMTPAUTHUSER=alice@example.com)
echo "# 50 MB dual-signed: $(($(ms_now) - t)) ms through authguard-dkim, max RSS $(cat "$W/maxrss" 2>/dev/null) KB"
signed "sign dual.test, 50 MB body" "$M/big" "$W/q-big" 2
rss=$(tail -1 "$W/maxrss" 2>/dev/null)
check "50 MB: peak RSS of authguard-dkim (and the stand-in it execs) under 30 MB (${rss:-?} KB)" \
    test "${rss:-999999}" -lt 30720
check "50 MB: the next program reads the spool file itself, unlinked, in dkim-spool-dir ($(cat "$W/fd0.link"))" \
    grep -q "^$W/spool/.*(deleted)$" "$W/fd0.link"
# Not a copy: fd 0 starts inside the file (the gap before the message),
# and the file holds exactly gap + message, no second message.
pos=$(awk '/^pos:/ {print $2}' "$W/fd0.info")
read -r links fsize <"$W/fd0.stat"
out_size=$(stat -c %s "$(got "$W/q-big")")
check "50 MB: the handed-on file is the spool file, positioned past its gap, not a copy (pos $pos, size $fsize, links $links)" \
    test "$links" = 0 -a "$pos" -gt 0 -a $((fsize - pos)) = "$out_size"
check "the spool directory is left empty" test -z "$(ls -A "$W/spool")"
rm -f "$M/big" "$W"/q-big/*.msg

# The session binding (authguard-checkpw in front, both children of one
# process, as of qmail-smtpd): the identity without any environment.
ENVS=()
drive "$C" "$W/q-session" --auth carol@example.com:secret --checkpw "$CHAIN" --message "$M/rsa.test-1024"
check_eq "session binding: AUTH accepted" 0 "$(field auth)"
signed "session binding (no SMTPAUTHUSER)" "$M/rsa.test-1024" "$W/q-session" 1
# RELAYCLIENT: a trusted client, signed too.
ENVS=(RELAYCLIENT=)
drive "$C" "$W/q-relay" --message "$M/ed.test-1024"
signed "RELAYCLIENT" "$M/ed.test-1024" "$W/q-relay" 1
# TCPREMOTEINFO alone is no proof (a client can set it): verified, not signed.
ENVS=(TCPREMOTEINFO=alice@example.com)
drive "$C" "$W/q-spoof" --message "$M/ed.test-1024"
check "TCPREMOTEINFO alone does not make a sender authenticated: verified, not signed" \
    bash -c 'head -1 "$1" | grep -q "^Authentication-Results: " && ! grep -q "^DKIM-Signature:" "$1"' _ "$(got "$W/q-spoof")"

# ---- b. the defined outcomes ---------------------------------------------------
ENVS=(SMTPAUTHUSER=alice@example.com)
printf 'From: a@nokey.test\nSubject: x\n\nbody\n' >"$M/nokey"
drive "$C" "$W/q-nokey" --message "$M/nokey"
unsigned "domain without a key" "$M/nokey" "$W/q-nokey" "no key for nokey.test: not signed"
printf 'To: b@example.org\nSubject: no from\n\nbody\n' >"$M/nofrom"
drive "$C" "$W/q-nofrom" --message "$M/nofrom"
unsigned "no From: field" "$M/nofrom" "$W/q-nofrom" "no From: field: not signed"
printf 'From: a@rsa.test\nFrom: b@ed.test\nSubject: two\n\nbody\n' >"$M/twofrom"
drive "$C" "$W/q-twofrom" --message "$M/twofrom"
unsigned "two From: fields" "$M/twofrom" "$W/q-twofrom" "not exactly one From: author: not signed"
printf 'From: a@rsa.test, b@rsa.test\nSubject: two\n\nbody\n' >"$M/twoauthors"
drive "$C" "$W/q-twoauthors" --message "$M/twoauthors"
unsigned "one From: with two mailboxes" "$M/twoauthors" "$W/q-twoauthors" "not exactly one From: author"
printf 'From: a@rsa.test\nthis line is no header field\nSubject: x\n\nbody\n' >"$M/malformed"
drive "$C" "$W/q-malformed" --message "$M/malformed"
unsigned "a malformed header line" "$M/malformed" "$W/q-malformed" "malformed header line: not signed"
: >"$M/empty"
drive "$C" "$W/q-empty" --message "$M/empty"
check_eq "an empty message: handed on (exit 0), empty" "0 1 0" \
    "$(field exit) $(queued "$W/q-empty") $(stat -c %s "$(got "$W/q-empty")" 2>/dev/null)"
printf 'From: a@rsa.test\r\nTo: b@example.org\r\nSubject: crlf\r\n\r\nline one\r\nline two\r\n' >"$M/crlf"
drive "$C" "$W/q-crlf" --message "$M/crlf"
signed "a CRLF message" "$M/crlf" "$W/q-crlf" 1
printf 'From: a@rsa.test\r\nSubject: mixed\n\r\nline one\nline two\r\n\n' >"$M/mixed"
drive "$C" "$W/q-mixed" --message "$M/mixed"
signed "mixed CRLF and bare LF" "$M/mixed" "$W/q-mixed" 1
"$PY" -c 'import sys; sys.stdout.buffer.write(b"From: a@ed.test\nSubject: 8bit \xe9t\xe9\nContent-Type: text/plain; charset=iso-8859-1\n\n" + bytes(range(128, 256)) + b"\n\xff\xfe l\xe0st  \t \n")' >"$M/8bit"
drive "$C" "$W/q-8bit" --message "$M/8bit"
signed "an 8-bit body and header" "$M/8bit" "$W/q-8bit" 1
printf 'From: a@rsa.test\nSubject: no body' >"$M/headeronly"
drive "$C" "$W/q-headeronly" --message "$M/headeronly"
check_eq "a header without an empty line or final newline: handed on" "0 1" "$(field exit) $(queued "$W/q-headeronly")"
check "a header without an empty line: the message follows the added field(s) byte-exact" \
    bash -c '"$0" "$1" added "$2" "$3" >/dev/null' "$PY" "$W/dk.py" "$M/headeronly" "$(got "$W/q-headeronly")"

# ---- c. verifying --------------------------------------------------------------
ENVS=()
printf 'From: Bob <bob@sender.test>\nTo: alice@example.org\nSubject: inbound\nDate: Mon, 02 Nov 2026 10:00:00 +0000\nMessage-ID: <1@sender.test>\n\nHello,\n  with  blanks \t\nand more.\n' >"$M/inbound"
dk sign "$M/inbound" "$M/in-pass" sender.test s1 "$W/sender.rsa"
dk sign "$M/inbound" "$M/in-ed" sender.test ed1 "$W/sender.ed" ed25519
sed 's/and more/and MORE/' "$M/in-pass" >"$M/in-fail"
dk sign "$M/inbound" "$M/in-nokey" sender.test nosuch "$W/sender.rsa"
# ar QDIR: the Authentication-Results fields at the top of what arrived, unfolded
ar() { "$PY" -c '
import sys, re
d = open(sys.argv[1], "rb").read().split(b"\n\n", 1)[0]
for f in re.split(rb"\n(?![ \t])", d):
    if f.lower().startswith(b"authentication-results:"):
        print(re.sub(rb"\s+", b" ", f).decode())' "$(got "$1")"; }
verified() { # NAME MSG QDIR RESULT-REGEX
    local name=$1 msg=$2 q=$3 want=$4 a
    drive "$C" "$q" --message "$msg"
    a=$(ar "$q")
    check_eq "$name: handed on (exit 0)" "0 1" "$(field exit) $(queued "$q")"
    check "$name: $want ($a)" grep -qE "^Authentication-Results: $AUTHSERV; dkim=$want" <<<"$a"
    check_eq "$name: the message byte-exact behind one Authentication-Results" \
        "Authentication-Results eol lf " "$(dk added "$msg" "$(got "$q")" | tr '\n' ' ')"
}
verified "dkimpy rsa signature" "$M/in-pass" "$W/q-in-pass" 'pass header.d=sender.test header.s=s1 header.a=rsa-sha256'
verified "dkimpy ed25519 signature" "$M/in-ed" "$W/q-in-ed" 'pass header.d=sender.test header.s=ed1 header.a=ed25519-sha256'
verified "tampered body" "$M/in-fail" "$W/q-in-fail" 'fail .*header.d=sender.test'
verified "unknown selector (NXDOMAIN)" "$M/in-nokey" "$W/q-in-nokey" 'permerror .*header.s=nosuch'
verified "no signature" "$M/inbound" "$W/q-in-none" 'none$'
check "verification is logged with its result" grep -q 'dkim verify user=- .*result=fail' "$LOG"

# A forged Authentication-Results with our authserv-id (folded) goes; another
# host's stays.
{
    printf 'Authentication-Results: %s;\n\tdkim=pass header.d=bank.example\n' "$AUTHSERV"
    printf 'Authentication-Results: other.example; spf=pass smtp.mailfrom=bank.example\n'
    printf 'authentication-results: %s (forged too); dkim=pass\n' "${AUTHSERV^^}"
    cat "$M/inbound"
} >"$M/forged"
drive "$C" "$W/q-forged" --message "$M/forged"
a=$(ar "$W/q-forged")
check_eq "forged Authentication-Results: handed on" "0 1" "$(field exit) $(queued "$W/q-forged")"
check_eq "forged Authentication-Results with our authserv-id removed (any case), ours added" \
    "Authentication-Results: $AUTHSERV; dkim=none" "$(grep -i "^Authentication-Results: $AUTHSERV" <<<"$a")"
check "forged Authentication-Results: another host's kept" \
    grep -q '^Authentication-Results: other.example; spf=pass' <<<"$a"
check "forged Authentication-Results: the rest of the message byte-exact" \
    cmp -s <(tail -n +5 "$M/forged") <(sed -n '/^Authentication-Results: other.example/,$p' "$(got "$W/q-forged")" | tail -n +2)

# dkim-verify-policy: fail=reject -> 31, nothing queued; temperror=tempfail
cp "$C/authguard" "$W/authguard.saved"
echo "dkim-verify-policy = fail=reject temperror=tempfail" >>"$C/authguard"
drive "$C" "$W/q-reject" --message "$M/in-fail"
check_eq "dkim-verify-policy fail=reject: exit 31 (554), nothing queued" "31 0" "$(field exit) $(queued "$W/q-reject")"
check "dkim-verify-policy: the refusal is logged" grep -q 'result=fail.* action=reject' "$LOG"
drive "$C" "$W/q-policy-pass" --message "$M/in-pass"
check_eq "dkim-verify-policy fail=reject: a passing message still goes through" "0 1" "$(field exit) $(queued "$W/q-policy-pass")"

# A DNS server that never answers: temperror within dkim-dns-timeout (2 s).
on_exit dns_sink_stop
dns_sink_start "$W" 127.56
resolv_conf_mount "$W/resolv-silent.conf" "$DNS_SINK_IP" timeout:5 attempts:3
cp "$W/authguard.saved" "$C/authguard"
drive "$C" "$W/q-silent" --message "$M/in-pass"
secs=$(field seconds)
check "DNS that never answers: dkim=temperror ($(ar "$W/q-silent"))" \
    grep -q "dkim=temperror" <<<"$(ar "$W/q-silent")"
check "DNS that never answers: answered within dkim-dns-timeout 2 s (+1 s) ($secs s)" \
    awk -v s="$secs" 'BEGIN { exit !(s < 3.0) }'
echo "dkim-verify-policy = temperror=tempfail" >>"$C/authguard"
drive "$C" "$W/q-silent-tf" --message "$M/in-pass"
check_eq "dkim-verify-policy temperror=tempfail: exit 71 (451), nothing queued" "71 0" "$(field exit) $(queued "$W/q-silent-tf")"
umount /etc/resolv.conf
cp "$W/authguard.saved" "$C/authguard"

# ---- d. chained with authguard-queue, both orders ----------------------------
chain_control() { # NAME NEXT-QUEUE DKIM-NEXT-QUEUE
    local c
    c=$(new_control "$1" <<EOF
next-queue = $2
dkim-next-queue = $3
dkim-authserv-id = $AUTHSERV
dkim-spool-dir = $W/spool
EOF
)
    cp -a "$KEYS" "$c/domainkeys"
    echo "$c"
}
CA=$(chain_control dkim-chain-a "$DK" "$QQ")
CB=$(chain_control dkim-chain-b "$QQ" "$QQ")
for order in a b; do
    # a: QMAILQUEUE=authguard-queue, next-queue=authguard-dkim;
    # b: QMAILQUEUE=authguard-dkim, DKIMQUEUE=authguard-queue (it wins
    #    over dkim-next-queue, as for qmail-dkim).
    if [ $order = a ]; then cc=$CA; prog=$GUARD; what="authguard-queue then authguard-dkim"; ENVS=()
    else cc=$CB; prog=$DK; what="authguard-dkim then authguard-queue"; ENVS=(DKIMQUEUE="$GUARD"); fi
    PROGRAM=$prog drive "$cc" "$W/q-chain-$order" --auth dave@example.com:secret --checkpw "$CHAIN" \
        --message "$M/dual.test-1024"
    signed "chain $what: authenticated (session binding)" "$M/dual.test-1024" "$W/q-chain-$order" 2
    check "chain $what: counted by authguard-queue" grep -q 'allow queue sender=dave@example.com' "$cc/authguard.log"
    PROGRAM=$prog drive "$cc" "$W/q-chain-$order-locked" --auth dave@example.com:secret --checkpw "$CHAIN" \
        --between "AUTHGUARD_CONTROL=$cc $CTL lock dave@example.com --reason dkim-test >/dev/null" \
        --message "$M/dual.test-1024"
    check_eq "chain $what: a user locked after AUTH is refused (31), nothing reaches the stand-in" \
        "31 0" "$(field exit) $(queued "$W/q-chain-$order-locked")"
    AUTHGUARD_CONTROL=$cc "$CTL" unlock dave@example.com >/dev/null
done

# ---- e. end to end: qpsmtpd + swaks --------------------------------------------
if ! command -v qpsmtpd-forkserver >/dev/null || ! command -v swaks >/dev/null; then
    not_ok "qpsmtpd and swaks are installed (tools/install-deps test)"
else
    E=$W/e2e
    mkdir -p "$E/config" "$E/spool" "$E/queue"
    chmod 700 "$E/spool"
    cat >"$E/checkpw" <<EOF
#!/bin/sh
AUTHGUARD_CONTROL=$C
export AUTHGUARD_CONTROL
exec $AG_BUILD/authguard-checkpw $AG_BUILD/vchkpw-standin "\$@"
EOF
    chmod +x "$E/checkpw"
    printf '%s\n' "auth/auth_checkpassword checkpw $E/checkpw true /bin/true" rcpt_ok queue/qmail-queue >"$E/config/plugins"
    echo /usr/share/qpsmtpd/plugins >"$E/config/plugin_dirs"
    echo mx.e2e.test >"$E/config/me"
    echo example.org >"$E/config/rcpthosts"
    echo "$E/spool" >"$E/config/spool_dir"
    echo 6 >"$E/config/loglevel"
    sed -i '/^trust-auth-env/d' "$C/authguard" # the session binding only
    QP_PID= PORT=
    for _ in 1 2 3 4 5; do
        PORT=$(free_port) || break
        env -i PATH=/usr/bin:/bin QPSMTPD_CONFIG="$E/config" QMAILQUEUE="$DK" \
            AUTHGUARD_CONTROL="$C" AG_QQ_DIR="$E/queue" \
            qpsmtpd-forkserver -l 127.0.0.1 -p "$PORT" -u "$(id -un)" </dev/null >"$E/qpsmtpd.log" 2>&1 &
        QP_PID=$!
        for _ in $(seq 100); do
            ss -Hltn "sport = :$PORT" 2>/dev/null | grep -q . && break
            kill -0 "$QP_PID" 2>/dev/null || break
            sleep 0.1
        done
        if kill -0 "$QP_PID" 2>/dev/null && ss -Hltn "sport = :$PORT" | grep -q .; then break; fi
        kill "$QP_PID" 2>/dev/null; wait "$QP_PID" 2>/dev/null; QP_PID=
    done
    if [ -z "$QP_PID" ]; then
        not_ok "qpsmtpd-forkserver starts ($(tail -3 "$E/qpsmtpd.log" | tr '\n' ' '))"
    else
        on_exit "kill $QP_PID; wait $QP_PID"
        send() { # NAME USER|- DATA-FILE
            local auth=(--auth PLAIN --auth-user "$2" --auth-password secret) from=$2
            [ "$2" = - ] && auth=() && from=bob@sender.test
            rm -f "$E"/queue/*
            timeout 60 swaks --server 127.0.0.1 --port "$PORT" "${auth[@]}" --from "$from" \
                --to someone@example.org --data "@$3" --timeout 30 >"$E/$1.swaks" 2>&1
        }
        reply() { grep -E '^<[-*]+ +[0-9]{3} ' "$E/$1.swaks" | tail -2 | head -1 | sed 's/^<[-*]* *//' | cut -c1-3; }
        send out alice@example.com "$M/dual.test-1024"
        g=$(got "$E/queue")
        check_eq "e2e: an authenticated message is accepted (250) and queued" "250 1" "$(reply out) $(queued "$E/queue")"
        v=$(dk verify "$g" "$KEYS" 2>&1)
        check_eq "e2e: it arrives dual-signed and dkimpy verifies both ($(tr '\n' ' ' <<<"$v"))" 2 "$(grep -c '^pass d=dual.test' <<<"$v")"
        send in - "$M/in-pass"
        check "e2e: an inbound message signed by dkimpy arrives with dkim=pass ($(ar "$E/queue" | head -1))" \
            grep -q "^Authentication-Results: $AUTHSERV; dkim=pass header.d=sender.test" <<<"$(ar "$E/queue")"
        send tampered - "$M/in-fail"
        check "e2e: a tampered one arrives with dkim=fail ($(ar "$E/queue" | head -1))" \
            grep -q "^Authentication-Results: $AUTHSERV; dkim=fail" <<<"$(ar "$E/queue")"
        check "e2e: qpsmtpd ran authguard-dkim for every DATA" \
            test "$(grep -c 'Queuing to .*authguard-dkim' "$E/qpsmtpd.log")" -ge 3
    fi
    cp "$W/authguard.saved" "$C/authguard"
fi

# ---- over every run ----------------------------------------------------------
check "nothing on stderr (qmail-smtpd's log; qpsmtpd's client)" test ! -s "$W/stderr"
check "no internal error logged" bash -c '! grep -E "dkim: (internal error|libopendkim)" "$1"' _ "$LOG"
echo "# dkim.sh: $(($(ms_now) - T0)) ms"
