#!/bin/bash
# spf-rfc.sh - the RFC 7208 conformance suite (Debian's python3-spf) against
# authguard's SPF layer (lib/spf), each scenario's DNS served by a zone.
# One check: at least 190 of the 203 tests pass (libspf2 1.2.10 alone
# passes about 144); each failure is printed as a comment, and doc/spf.md
# names the reason of each one left.
source "$(dirname "$0")/../lib.sh"

suite=/usr/share/doc/python3-spf/rfc7208-tests.yml.gz
if [ ! -r "$suite" ]; then
    not_ok "spf-rfc7208-suite: $suite missing (install python3-spf: tools/install-deps test)"
    exit 0
fi
tsv=$AG_TMP/rfc7208-tests.tsv
if ! python3 "$AG_ROOT/tests/spf/rfc7208-to-tsv.py" "$suite" > "$tsv" 2> "$AG_TMP/spf-convert.err"; then
    not_ok "spf-rfc7208-suite: the suite cannot be converted: $(tail -1 "$AG_TMP/spf-convert.err")"
    exit 0
fi
out=$("$AG_BUILD/spf-rfc7208-suite" "$tsv")
summary=$(echo "$out" | head -1)
echo "$summary"
echo "$out" | tail -n +2 | sed 's/^/# /'
passed=$(echo "$summary" | sed -n 's/^SPF RFC 7208 suite: \([0-9]*\) of \([0-9]*\)$/\1/p')
total=$(echo "$summary" | sed -n 's/^SPF RFC 7208 suite: \([0-9]*\) of \([0-9]*\)$/\2/p')
if [ -n "$passed" ] && [ "$total" -ge 200 ] && [ "$passed" -ge 190 ]; then
    ok "spf-rfc7208-suite: $passed of $total RFC 7208 tests pass (lib/spf corrects libspf2)"
else
    not_ok "spf-rfc7208-suite: ${passed:-?} of ${total:-?} RFC 7208 tests pass, 190 wanted"
fi
