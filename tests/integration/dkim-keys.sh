#!/bin/bash
# dkim-keys.sh - `authguardctl dkim keygen` and `authguardctl dkim check`.
#
# keygen: rsa and ed25519 keys in control/domainkeys/DOMAIN/SELECTOR with
# safe modes (also under umask 000), the record in SELECTOR.pub, the
# printed DNS line split into strings of at most 255 characters, p= equal
# to what openssl derives from the key, no temporary file left, an
# existing key kept without --force and replaced with it, bad names
# refused. check: against a real DNS server, Debian's unbound on a private
# 127/8 address serving the printed records as local-data (no recursion),
# in a private mount namespace whose /etc/resolv.conf names it
# (tests/unbound.sh): a matching record ok (exit 0); another key, another
# type, a revoked key, an unpublished selector, a SERVFAIL each named and
# exit 1.
source "${AG_ROOT:?run through tests/run-all}/tests/lib.sh" || exit 1
source "$AG_ROOT/tests/unbound.sh" || exit 1

if [ -z "${AG_DKIM_NS:-}" ]; then
    if [ "$(id -u)" = 0 ] && unshare -m --propagation private true 2>/dev/null; then
        AG_DKIM_NS=1 exec unshare -m --propagation private bash "$0" "$@"
    fi
    ok "dkim keygen/check # SKIP needs root and unshare -m (private /etc/resolv.conf)"
    exit 0
fi
trap_cleanup
for tool in unbound perl openssl python3; do
    command -v "$tool" >/dev/null || { not_ok "$tool is installed (tools/install-deps test)"; exit 1; }
done

W=$AG_TMP/dkim-keys
mkdir -p "$W"
CTL=$AG_BUILD/authguardctl
CONTROL=$(new_control dkim-keys)
export AUTHGUARD_CONTROL=$CONTROL
DK=$CONTROL/domainkeys

# keygen ARGS...: runs it, sets OUT, ERR, RC.
keygen() {
    OUT=$("$CTL" dkim keygen "$@" 2>"$W/err")
    RC=$?
    ERR=$(cat "$W/err")
}
# The strings of a printed zone line, joined: the TXT record.
joined() { sed -e 's/^[^(]*( //' -e 's/ )$//' <<<"$1" | perl -ne 'print join("", /"([^"]*)"/g)'; }
# What openssl says p= must be: SPKI DER (rsa) or the raw 32 bytes (ed25519).
openssl_p() {
    if [ "$2" = ed25519 ]; then
        openssl pkey -in "$1" -pubout -outform DER | tail -c 32 | base64 -w0
    else
        openssl pkey -in "$1" -pubout -outform DER | base64 -w0
    fi
}

# ---- keygen -----------------------------------------------------------------
keygen match.test
RSA_LINE=$OUT
check_eq "keygen rsa: exit 0" 0 "$RC"
check "keygen rsa: prints 'default._domainkey.DOMAIN. IN TXT ( \"v=DKIM1; k=rsa; \" \"p=...\" )'" \
    grep -qE '^default\._domainkey\.match\.test\. IN TXT \( "v=DKIM1; k=rsa; " ("[A-Za-z0-9+/=]+" )+\)$' <<<"$OUT"
longest=$(grep -oE '"[^"]*"' <<<"$OUT" | awk '{ if (length($0) - 2 > m) m = length($0) - 2 } END { print m }')
check "keygen rsa: a 2048-bit key's p= is cut into TXT strings of at most 255 (RFC 1035 3.3.14; longest $longest)" \
    test "$longest" = 255
check_eq "keygen rsa: key file mode 0640" 640 "$(stat -c %a "$DK/match.test/default")"
check_eq "keygen rsa: domain directory mode 0750" 750 "$(stat -c %a "$DK/match.test")"
check "keygen rsa: the key is PEM PKCS#8 (BEGIN PRIVATE KEY)" \
    grep -qx -- '-----BEGIN PRIVATE KEY-----' "$DK/match.test/default"
check_eq "keygen rsa: an RSA key of 2048 bits" 2048 \
    "$(openssl pkey -in "$DK/match.test/default" -text -noout | sed -n 's/.*Private-Key: (\([0-9]*\) bit.*/\1/p')"
RSA_TXT=$(joined "$OUT")
check_eq "keygen rsa: default.pub holds the record printed" "$RSA_TXT" "$(cat "$DK/match.test/default.pub")"
check_eq "keygen rsa: p= is openssl's SubjectPublicKeyInfo of the key" \
    "$(openssl_p "$DK/match.test/default" rsa)" "${RSA_TXT#*p=}"

keygen match.test --type ed25519 --selector ed1
ED_LINE=$OUT
check_eq "keygen ed25519: exit 0" 0 "$RC"
check "keygen ed25519: prints the k=ed25519 line" \
    grep -qE '^ed1\._domainkey\.match\.test\. IN TXT \( "v=DKIM1; k=ed25519; " "p=[A-Za-z0-9+/]{43}=" \)$' <<<"$OUT"
ED_TXT=$(joined "$OUT")
check_eq "keygen ed25519: p= is the raw 32-byte public key (RFC 8463)" \
    "$(openssl_p "$DK/match.test/ed1" ed25519)" "${ED_TXT#*p=}"
check "keygen ed25519: the key is PKCS#8 (all libopendkim reads)" \
    grep -qx -- '-----BEGIN PRIVATE KEY-----' "$DK/match.test/ed1"
check_eq "keygen ed25519: mode 0640" 640 "$(stat -c %a "$DK/match.test/ed1")"
check_eq "keygen: no temporary file left beside the keys" "default default.pub ed1 ed1.pub" \
    "$(ls -A "$DK/match.test" | tr '\n' ' ' | sed 's/ $//')"

before=$(sha256sum <"$DK/match.test/default")
keygen match.test
check_eq "keygen over an existing key: exit 1" 1 "$RC"
check "keygen over an existing key: says it exists and --force replaces it" \
    grep -q "exists; --force" <<<"$ERR"
check_eq "keygen over an existing key: the key is unchanged" "$before" "$(sha256sum <"$DK/match.test/default")"
keygen match.test --selector spare
SPARE_TXT=$(joined "$OUT")
rm "$DK/match.test/spare" "$DK/match.test/spare.pub"

(umask 000; "$CTL" dkim keygen umask.test --type ed25519 >/dev/null 2>&1)
check_eq "keygen under umask 000: the key is still 0640" 640 "$(stat -c %a "$DK/umask.test/default")"
check_eq "keygen under umask 000: the directory is still 0750" 750 "$(stat -c %a "$DK/umask.test")"

keygen force.test --type ed25519
first=$(cat "$DK/force.test/default.pub")
keygen force.test --type ed25519 --force
check "keygen --force: replaces the key and its record" \
    test "$RC" = 0 -a "$first" != "$(cat "$DK/force.test/default.pub")"

keygen ../evil.test
check_eq "keygen with a domain holding '../': usage error (exit 2)" 2 "$RC"
keygen example.test --selector ../x
check_eq "keygen with a selector holding '/': usage error (exit 2)" 2 "$RC"
keygen example.test --type dsa
check_eq "keygen --type dsa: usage error (exit 2)" 2 "$RC"
keygen example.test --bits 512
check_eq "keygen --bits 512: usage error (exit 2)" 2 "$RC"
check "refused keygens wrote nothing" test ! -e "$DK/example.test"
AUTHGUARD_CONTROL=$W/no-such-control keygen missing.test
check_eq "keygen into a control directory that does not exist: exit 3 (it was 5)" 3 "$RC"
check "... saying which directory" grep -qF "control directory $W/no-such-control does not exist" <<<"$ERR"
check "... and creating nothing" test ! -e "$W/no-such-control"
NOAUTH=$W/control-without-authguard
mkdir -p "$NOAUTH"
AUTHGUARD_CONTROL=$NOAUTH keygen group.test --type ed25519
check "keygen without control/authguard: the key keeps the caller's group, and a note says so" \
    test "$RC" = 0 -a -n "$(grep 'does not exist, so the key gets your group' <<<"$ERR")"

OUT=$("$CTL" --json dkim keygen json.test --type ed25519)
check "keygen --json: one JSON document with the record" python3 -c '
import json, sys
d = json.loads(sys.argv[1])
assert d["type"] == "ed25519" and d["selector"] == "default" and d["txt"].startswith("v=DKIM1; k=ed25519; p=")
' "$OUT"

# Keys whose published records are wrong in one way each.
keygen other.test                 # published: another rsa key
keygen typemix.test               # published: an ed25519 record
keygen revoked.test               # published: p= empty
keygen unpublished.test           # nothing published
keygen servfail.test              # the zone's server fails

# ---- unbound serving the records --------------------------------------------
zone_strings() { sed -e 's/^[^(]*( //' -e 's/ )$//' <<<"$1"; }
on_exit unbound_stop
unbound_start "$W" 127.53 <<EOF || {
    local-zone: "test." static
    local-data: 'default._domainkey.match.test. TXT $(zone_strings "$RSA_LINE")'
    local-data: 'ed1._domainkey.match.test. TXT $(zone_strings "$ED_LINE")'
    local-data: 'default._domainkey.other.test. TXT "$(sed 's/p=.\{200\}/&" "/' <<<"$SPARE_TXT")"'
    local-data: 'default._domainkey.typemix.test. TXT "$ED_TXT"'
    local-data: 'default._domainkey.revoked.test. TXT "v=DKIM1; k=rsa; p="'
    local-data: 'unpublished.test. A 192.0.2.1'
    local-zone: "servfail.test." transparent
    domain-insecure: "servfail.test."
forward-zone:
    name: "servfail.test."
    forward-addr: 127.0.0.1@9
EOF
    not_ok "unbound starts on a 127/8 address ($(unbound_log_tail "$W"))"
    exit 1
}
resolv_conf_mount "$W/resolv.conf" "$UNBOUND_IP" timeout:1 attempts:1 || { not_ok "private /etc/resolv.conf"; exit 1; }

# ---- check ------------------------------------------------------------------
dkcheck() {
    OUT=$("$CTL" dkim check "$@" 2>"$W/err")
    RC=$?
    ERR=$(cat "$W/err")
}
dkcheck match.test
check_eq "check: both published keys (rsa, ed25519) match: exit 0" 0 "$RC"
check_eq "check: one 'ok' line per selector" \
    "default._domainkey.match.test: ok|ed1._domainkey.match.test: ok" "$(tr '\n' '|' <<<"$OUT" | sed 's/|$//')"
dkcheck match.test --selector ed1
check_eq "check --selector: only that key" "ed1._domainkey.match.test: ok" "$OUT"
dkcheck MATCH.test.
check_eq "check: the domain in capitals with a final dot is the same domain" 0 "$RC"

dkcheck other.test
check_eq "check: a record of another key: exit 1" 1 "$RC"
check "check: a record of another key: says p= is another RSA key" \
    grep -qx 'default._domainkey.other.test: differs: p= is another RSA key' <<<"$OUT"
dkcheck typemix.test
check "check: an ed25519 record for an rsa key: the key type differs (exit 1)" \
    bash -c '[ "$2" = 1 ] && grep -q "differs: key type: the record has k=ed25519, the key is rsa" <<<"$1"' _ "$OUT" "$RC"
dkcheck revoked.test
check "check: a revoked record (p= empty): said, exit 1" \
    bash -c '[ "$2" = 1 ] && grep -q "differs: the key is revoked" <<<"$1"' _ "$OUT" "$RC"
dkcheck unpublished.test
check "check: no TXT record: 'not published', exit 1" \
    bash -c '[ "$2" = 1 ] && [ "$1" = "default._domainkey.unpublished.test: not published" ]' _ "$OUT" "$RC"
dkcheck servfail.test
check "check: SERVFAIL: 'DNS error', exit 1" \
    bash -c '[ "$2" = 1 ] && grep -q "^default._domainkey.servfail.test: DNS error" <<<"$1"' _ "$OUT" "$RC"
dkcheck nokey.test
check "check: a domain without a key: exit 1 and says where it looked" \
    bash -c '[ "$2" = 1 ] && grep -q "no signing key for nokey.test" <<<"$1"' _ "$ERR" "$RC"
dkcheck match.test --selector nosuch
check_eq "check --selector of no key: exit 1" 1 "$RC"

chmod 644 "$DK/match.test/ed1"
dkcheck match.test
check "check: a key others can read is reported, exit 1" \
    bash -c '[ "$2" = 1 ] && grep -q "^[^ ]*: key error: .*readable by others" <<<"$1"' _ "$OUT" "$RC"
chmod 640 "$DK/match.test/ed1"

OUT=$("$CTL" --json dkim check match.test 2>/dev/null)
check "check --json: one document, a status per key" python3 -c '
import json, sys
d = json.loads(sys.argv[1])
assert d["domain"] == "match.test" and d["problems"] == []
assert sorted((k["selector"], k["type"], k["status"]) for k in d["keys"]) == [("default", "rsa", "ok"), ("ed1", "ed25519", "ok")]
' "$OUT"

# The keys authguard-dkim signs with: $DKIMSIGN is honoured by check too.
DKIMSIGN=$DK/%/ed1 "$CTL" dkim check match.test >"$W/out" 2>&1
check_eq "check under DKIMSIGN=.../%/ed1: that key only" "ed1._domainkey.match.test: ok" "$(cat "$W/out")"
