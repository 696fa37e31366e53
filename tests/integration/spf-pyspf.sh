#!/bin/bash
# spf-pyspf.sh - authguard's SPF layer (lib/spf) against pyspf, the RFC 7208
# reference implementation in Debian's python3-spf: a few hundred generated
# records, each checked for several client addresses by both
# (tests/spf/pyspf-compare, the layer through $AG_BUILD/spf-eval). One
# check: every disagreement is of a class doc/spf.md explains ("Against
# pyspf"), and at least 95% agree (the records are generated from a fixed
# seed, so the figure only moves when the generator or the layer changes).
# Each disagreement is printed as a comment.
source "$(dirname "$0")/../lib.sh"

if ! /usr/bin/python3 -c 'import spf' 2>/dev/null; then
    not_ok "spf-pyspf-agreement: python3-spf missing (tools/install-deps test)"
    exit 0
fi
if ! out=$(/usr/bin/python3 "$AG_ROOT/tests/spf/pyspf-compare" "$AG_BUILD/spf-eval" 2>"$AG_TMP/pyspf.err"); then
    not_ok "spf-pyspf-agreement: the comparison did not run: $(tail -1 "$AG_TMP/pyspf.err")"
    exit 0
fi
summary=$(echo "$out" | head -1)
echo "$summary"
echo "$out" | tail -n +2
agree=$(echo "$summary" | sed -n 's/^SPF vs pyspf: \([0-9]*\) of \([0-9]*\) agree$/\1/p')
total=$(echo "$summary" | sed -n 's/^SPF vs pyspf: \([0-9]*\) of \([0-9]*\) agree$/\2/p')
# Each disagreement ends in "[class NAME]": the comparer names the class
# only when a rerun shows the difference is that class's alone, and the
# class must be explained in doc/spf.md ("Against pyspf").
unexplained=0
while read -r class; do
    if [ "$class" = unexplained ] || ! grep -q -- "\`$class\`" "$AG_ROOT/doc/spf.md"; then
        unexplained=$((unexplained + 1))
    fi
done < <(echo "$out" | tail -n +2 | sed -n 's/.*\[class \([a-z0-9-]*\)\]$/\1/p')
disagreements=$(echo "$out" | tail -n +2 | grep -c '^# ' || true)
classified=$(echo "$out" | tail -n +2 | grep -c '\[class [a-z0-9-]*\]$' || true)
[ "$classified" = "$disagreements" ] || unexplained=$((unexplained + disagreements - classified))
if [ -z "$agree" ] || [ "${total:-0}" -lt 500 ]; then
    not_ok "spf-pyspf-agreement: no figure from the comparison"
elif [ $((agree * 100)) -lt $((total * 95)) ]; then
    not_ok "spf-pyspf-agreement: $agree of $total results agree with pyspf, 95% wanted"
elif [ "$unexplained" -gt 0 ]; then
    not_ok "spf-pyspf-agreement: $unexplained disagreements not explained in doc/spf.md"
else
    ok "spf-pyspf-agreement: $agree of $total results agree with pyspf, the rest explained in doc/spf.md"
fi
