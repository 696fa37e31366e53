#!/bin/bash
# bench/asn.sh - what counting providers (asn-db) costs (part of make bench).
#
#   1. building the table from the real ip-location-db CSVs (time, size)
#   2. the table alone (bench/asn-lookup): open + one lookup + close, as a
#      hook pays it once per login, and the lookup alone, as scan pays it;
#      authguard's own table beside a MaxMind DB of the same ranges
#   3. the added wall time per AUTH: authguard-checkpw in front of the
#      vchkpw stand-in, with and without asn-db (and with the MaxMind DB),
#      variants interleaved round by round (bench/auth-latency), on the
#      embedded LMDB store; the clients' addresses are in SoftBank's 126/8,
#      so every lookup finds a provider
#
# Prints a readable summary and keeps it in build/bench/asn.txt. Timings are
# reported, never judged. Environment: BENCH_RUNS (rounds of 3, default 2000).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD B=$ROOT/build
RUNS=${BENCH_RUNS:-2000}
mkdir -p "$B/bench"
exec > >(tee "$B/bench/asn.txt") 2>&1
TMP=$(mktemp -d /tmp/authguard-bench-asn.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
section() { printf '\n== %s\n' "$*"; }
show() { printf '$ %s\n' "$*"; "$@"; }

section "build"
make -s "build/authguard-checkpw" "build/authguardctl" "build/vchkpw-standin" "build/libauthguard.a"
CXX=${CXX:-g++}
g++ -std=c++20 -O2 -Wall -Wextra -Iinclude -o "$B/asn-lookup" bench/asn-lookup.cpp \
    "$B/libauthguard.a" -lmaxminddb -lz
$CXX -std=c++20 -O2 -Wall -Wextra -o "$B/auth-latency" bench/auth-latency.cpp
CSV=$(tools/fetch-asn-data)
echo "table: $CSV"

section "1. asn-db build from ip-location-db's asn-ipv4.csv and asn-ipv6.csv"
start=$(date +%s%N)
show "$B/authguardctl" asn-db build "$TMP/asn.db" "$CSV/asn-ipv4.csv" "$CSV/asn-ipv6.csv"
echo "wall: $(( ($(date +%s%N) - start) / 1000000 )) ms"
"$B/asn-lookup" --make-mmdb "$TMP/asn.mmdb" "$CSV/asn-ipv4.csv" "$CSV/asn-ipv6.csv" >/dev/null
ls -l "$TMP/asn.db" "$TMP/asn.mmdb" | awk '{ print $5, $NF }'

section "2. the table alone"
show "$B/asn-lookup" -n 5000 "$TMP/asn.db" "$TMP/asn.mmdb"

section "3. wall time per AUTH, $RUNS rounds, variants interleaved (LMDB store)"
control() { # NAME [asn-db path]
    mkdir -p "$TMP/$1/control"
    { echo "key-prefix = b:"; [ -n "${2:-}" ] && echo "asn-db = $2"; } > "$TMP/$1/control/authguard"
    echo "$TMP/$1/control"
}
PLAIN=$(control plain) OWN=$(control own "$TMP/asn.db") MMDB=$(control mmdb "$TMP/asn.mmdb")
STANDIN=$B/vchkpw-standin
show "$B/auth-latency" -n "$RUNS" -w 30 -u 500 -a 3 -f 126 \
    -c bare:prefixes -c prefixes:asn-db -c prefixes:asn-mmdb -c asn-db:asn-mmdb \
    --variant bare:0 "$STANDIN" /bin/true \
    --variant prefixes:0 AUTHGUARD_CONTROL="$PLAIN" "$B/authguard-checkpw" "$STANDIN" /bin/true \
    --variant asn-db:0 AUTHGUARD_CONTROL="$OWN" "$B/authguard-checkpw" "$STANDIN" /bin/true \
    --variant asn-mmdb:0 AUTHGUARD_CONTROL="$MMDB" "$B/authguard-checkpw" "$STANDIN" /bin/true
echo
echo "(summary kept in build/bench/asn.txt)"
