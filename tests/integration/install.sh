#!/bin/bash
# install.sh - installing authguard, as an admin does it (issue 12):
# (a) `make install` into an empty DESTDIR: stripped programs answering
#     --version, the authguard-spp-* links, the man pages, the example
#     control files (never overwriting an admin's), the state directory with
#     its owner; `make uninstall` then leaves the root empty.
# (b) `make deb`, lintian at error level, `dpkg -i` on this machine, an AUTH
#     through qpsmtpd with the INSTALLED authguard-checkpw (as smtp-e2e.sh
#     runs qpsmtpd), then `dpkg -r` and `dpkg --purge` remove every file.
#     Needs root; the package is never left installed (purged at exit), and
#     an authguard package installed before the test is left alone (skip).
source "${AG_ROOT:?run through tests/run-all}/tests/lib.sh" || exit 1
trap_cleanup

VERSION=$(cat "$AG_ROOT/VERSION")
HOOKS="authguard-checkpw authguard-queue authguard-spp authguard-spf authguard-dkim"
SPP_LINKS="authguard-spp-auth authguard-spp-mail authguard-spp-rcpt authguard-spp-data"
MANS="man5/authguard.5 man8/authguard-checkpw.8 man8/authguard-queue.8 man8/authguard-spp.8 man8/authguard-spf.8 man8/authguard-dkim.8 man8/authguard-policyd.8 man8/authguardctl.8"
CONTROLS="authguard authguard-allow smtpplugins"
EXAMPLES=$AG_ROOT/contrib/netqmail-1.06/control

mk() { make -s -C "$AG_ROOT" B="$AG_BUILD" "$@"; }
# stripped FILE: no symbol table and no debug information left
stripped() { ! readelf -S "$1" 2>/dev/null | grep -q -E '\.symtab|\.debug_info'; }
listing() { (cd "$1" && find . -mindepth 1 | sort | tr '\n' ' '); }

# ---- plain make installs nothing ---------------------------------------------
check "plain make never runs tools/install-deps (it apt-installed redis-server, qpsmtpd, chromium)" \
    bash -c "! make -n -C '$AG_ROOT' B='$AG_BUILD' all 2>&1 | grep -q install-deps"
# A missing -dev package (dpkg-query says so) in a fresh build directory:
# make names it and the apt-get command, fails, and runs no apt-get.
FAKE=$AG_TMP/fakebin
mkdir -p "$FAKE"
cat >"$FAKE/dpkg-query" <<'EOF'
#!/bin/sh
case "$*" in *liblmdb-dev*) exit 1 ;; esac
exec /usr/bin/dpkg-query "$@"
EOF
printf '#!/bin/sh\necho "apt-get $*" >>"%s"\nexit 1\n' "$AG_TMP/apt-get.calls" >"$FAKE/apt-get"
chmod 755 "$FAKE/dpkg-query" "$FAKE/apt-get"
env -u MAKEFLAGS -u MAKELEVEL PATH="$FAKE:$PATH" make -C "$AG_ROOT" B="$AG_TMP/fresh-build" all \
    >"$AG_TMP/make-missing.out" 2>&1
rc=$?
check "plain make with liblmdb-dev missing fails before compiling" \
    test "$rc" != 0 -a ! -e "$AG_TMP/fresh-build/obj"
check "plain make names the missing package and the apt-get command" \
    grep -q "apt-get install -y liblmdb-dev" "$AG_TMP/make-missing.out"
check "plain make with a package missing runs no apt-get" test ! -e "$AG_TMP/apt-get.calls"

# ---- contrib/netqmail-1.06's services ---------------------------------------
HOOKDIR=$(make -s -C "$AG_ROOT" --no-print-directory --eval 'print-hookdir: ; @echo $(HOOKDIR)' print-hookdir)
for svc in "$AG_ROOT"/contrib/netqmail-1.06/qmail-smtpd-*/; do
    name=$(basename "$svc")
    envdirs=$(grep -o 'envdir [^ ]*' "$svc/run" | awk '{print $2}')
    missing=
    for d in $envdirs; do (cd "$svc" && test -d "$d") || missing+="$d "; done
    check_eq "$name: the directory its run script's envdir reads exists (envdir fails without it)" "" "$missing"
    missing=
    for v in $(grep -o 'env/[A-Z_]*' "$svc/run" | sort -u); do [ -f "$svc/$v" ] || missing+="$v "; done
    check_eq "$name: env/ holds every file its run script names" "" "$missing"
    check "$name: log/run runs multilog" grep -q '^exec .*multilog ' "$svc/log/run"
    check "$name: run and log/run are executable" test -x "$svc/run" -a -x "$svc/log/run"
    check "$name: run names authguard-checkpw where make install puts it" \
        grep -q "$HOOKDIR/authguard-checkpw " "$svc/run"
done

# ---- (a) make install / make uninstall into a DESTDIR -----------------------
ROOT=$AG_TMP/install-root
mkdir -p "$ROOT"
[ "$(id -u)" = 0 ] && STATE_USER=nobody || STATE_USER=$(id -un)
if mk install DESTDIR="$ROOT" AUTHGUARD_USER="$STATE_USER" >"$AG_TMP/install.out" 2>&1; then
    ok "make install into an empty DESTDIR"
else
    not_ok "make install into an empty DESTDIR ($(tail -3 "$AG_TMP/install.out" | tr '\n' ' '))"
fi
Q=$ROOT/var/qmail
for p in $HOOKS; do
    check "make install: $p is installed stripped (11 MB unstripped)" stripped "$Q/bin/$p"
    check_eq "installed $p answers --version" "$p $VERSION" "$("$Q/bin/$p" --version 2>&1)"
done
check "make install: authguardctl is installed stripped" stripped "$ROOT/usr/local/sbin/authguardctl"
check_eq "installed authguard-policyd answers --version" "authguard-policyd $VERSION" \
    "$("$ROOT/usr/local/sbin/authguard-policyd" --version 2>&1)"
check_eq "installed authguardctl answers --version" "authguardctl $VERSION" \
    "$("$ROOT/usr/local/sbin/authguardctl" --version 2>&1)"
links=
for l in $SPP_LINKS; do links+="$(readlink "$Q/bin/$l") "; done
check_eq "make install: the authguard-spp-{auth,mail,rcpt,data} links" \
    "authguard-spp authguard-spp authguard-spp authguard-spp " "$links"
check_eq "authguard-spp answers --version through its authguard-spp-mail link" \
    "authguard-spp $VERSION" "$("$Q/bin/authguard-spp-mail" --version 2>&1)"
missing=
for m in $MANS; do [ -s "$ROOT/usr/local/share/man/$m" ] || missing+="$m "; done
check_eq "make install: the man pages (man5, man8)" "" "$missing"
differ=
for f in $CONTROLS; do cmp -s "$EXAMPLES/$f" "$Q/control/$f" || differ+="$f "; done
check_eq "make install: the example control files where there were none" "" "$differ"
if [ "$(id -u)" = 0 ]; then
    check_eq "make install: the state directory is the smtpd user's (AUTHGUARD_USER), mode 0750" \
        "nobody 750" "$(stat -c '%U %a' "$Q/authguard" 2>&1)"
    check_eq "make install: control/authguard is 0640, group of AUTHGUARD_USER (a secret may go in)" \
        "640 $(id -gn nobody)" "$(stat -c '%a %G' "$Q/control/authguard")"
else
    ok "make install: the state directory's owner # SKIP needs root (chown)"
fi
check_eq "--version on the build's authguard-checkpw (argv[1] is otherwise the checkpassword)" \
    "authguard-checkpw $VERSION" "$("$AG_BUILD/authguard-checkpw" --version 2>&1)"

mk uninstall DESTDIR="$ROOT" >"$AG_TMP/uninstall.out" 2>&1
check_eq "make uninstall after make install leaves the DESTDIR empty" "" "$(listing "$ROOT")"

# An admin's control files survive a second make install, and make uninstall.
mk install DESTDIR="$ROOT" AUTHGUARD_USER="$STATE_USER" >/dev/null 2>&1
echo "notify-mail = postmaster@example.com" >>"$Q/control/authguard"
echo "192.0.2.10" >"$Q/control/authguard-allow"
cp "$Q/control/authguard" "$AG_TMP/admin-authguard"
mk install DESTDIR="$ROOT" AUTHGUARD_USER="$STATE_USER" >"$AG_TMP/install2.out" 2>&1
check "make install again does not overwrite an admin's control/authguard" \
    cmp -s "$AG_TMP/admin-authguard" "$Q/control/authguard"
check_eq "make install again does not overwrite an admin's control/authguard-allow" \
    192.0.2.10 "$(cat "$Q/control/authguard-allow")"
check "make install says it kept the existing control file" \
    grep -q "kept $Q/control/authguard " "$AG_TMP/install2.out"
mk uninstall DESTDIR="$ROOT" >"$AG_TMP/uninstall2.out" 2>&1
check_eq "make uninstall keeps changed control files and removes all else" \
    "./var ./var/qmail ./var/qmail/control ./var/qmail/control/authguard ./var/qmail/control/authguard-allow " \
    "$(listing "$ROOT")"
check "make uninstall says which control file it kept" \
    grep -q "kept $Q/control/authguard:" "$AG_TMP/uninstall2.out"
rm -rf "${ROOT:?}"/*

# No such user: no state directory made with a wrong owner, and a note.
mk install DESTDIR="$ROOT" AUTHGUARD_USER=ag-no-such-user >"$AG_TMP/install3.out" 2>&1
check "make install with no AUTHGUARD_USER user creates no state directory" test ! -e "$Q/authguard"
check "make install then says who must own the state directory" \
    grep -q "no user ag-no-such-user.*qmail-smtpd runs as" <(tr '\n' ' ' <"$AG_TMP/install3.out")
mk uninstall DESTDIR="$ROOT" >/dev/null 2>&1
check_eq "make uninstall leaves the DESTDIR empty (no state directory)" "" "$(listing "$ROOT")"

# ---- (b) the Debian package -----------------------------------------------
if [ "$(id -u)" != 0 ]; then
    ok "the Debian package: make deb, dpkg -i, AUTH, dpkg -r # SKIP needs root (dpkg -i)"
    exit 0
fi
if dpkg-query -W -f='${Status}' authguard 2>/dev/null | grep -q 'install ok installed'; then
    ok "the Debian package # SKIP an authguard package is installed on this machine already; not replaced"
    exit 0
fi
for tool in dpkg-buildpackage dh lintian qpsmtpd-forkserver swaks unshare perl readelf; do
    command -v "$tool" >/dev/null || { not_ok "$tool is installed (tools/install-deps)"; exit 1; }
done

debian_before=$(cd "$AG_ROOT" && find debian | sort)
if mk deb >"$AG_TMP/deb.out" 2>&1; then
    ok "make deb builds the package"
else
    not_ok "make deb builds the package ($(tail -5 "$AG_TMP/deb.out" | tr '\n' ' '))"
    exit 1
fi
DEB=$(tail -1 "$AG_TMP/deb.out")
check_eq "make deb puts the .deb in the build directory" "$AG_BUILD/deb/authguard_${VERSION}_$(dpkg --print-architecture).deb" "$DEB"
check "lintian --fail-on error: no errors in the package" \
    lintian --fail-on error "$DEB"
check_eq "make deb leaves nothing behind in debian/ (debian/authguard, files, *.debhelper)" \
    "$debian_before" "$(cd "$AG_ROOT" && find debian | sort)"

# From here on the package is installed: it is purged at exit, whatever fails.
on_exit "dpkg --purge authguard >/dev/null 2>&1"
if dpkg -i "$DEB" >"$AG_TMP/dpkg-i.out" 2>&1; then
    ok "dpkg -i installs the package"
else
    not_ok "dpkg -i installs the package ($(tail -3 "$AG_TMP/dpkg-i.out" | tr '\n' ' '))"
    exit 1
fi
PKG_FILES="/usr/sbin/authguardctl /usr/sbin/authguard-policyd /usr/lib/authguard/authguard-checkpw /usr/lib/authguard/authguard-queue
/usr/lib/authguard/authguard-spp /usr/lib/authguard/authguard-spp-mail /usr/share/man/man8/authguardctl.8.gz
/usr/share/man/man5/authguard.5.gz /usr/share/doc/authguard/copyright /usr/share/doc/authguard/README.Debian
/usr/share/doc/authguard/examples/netqmail-1.06/control/authguard
/usr/share/doc/authguard/examples/netqmail-1.06/qmail-smtpd-587/run /etc/cron.daily/authguard"
missing=
for f in $PKG_FILES; do [ -e "$f" ] || missing+="$f "; done
check_eq "the package carries the programs, man pages, examples, copyright and the daily gc" "" "$missing"
check "the package carries a systemd timer for the daily gc" \
    test -e /lib/systemd/system/authguard-gc.timer -o -e /usr/lib/systemd/system/authguard-gc.timer
check_eq "installed /usr/sbin/authguardctl answers --version" "authguardctl $VERSION" "$(/usr/sbin/authguardctl --version 2>&1)"
check_eq "installed /usr/lib/authguard/authguard-checkpw answers --version" \
    "authguard-checkpw $VERSION" "$(/usr/lib/authguard/authguard-checkpw --version 2>&1)"
if [ -e /var/qmail/control/authguard ] || [ -e /var/qmail/authguard ]; then
    ok "the daily gc does nothing where authguard is not set up # SKIP this machine has /var/qmail/control/authguard"
else
    out=$(env -i PATH=/usr/bin:/bin /etc/cron.daily/authguard 2>&1)
    rc=$?
    check_eq "the daily gc does nothing where authguard is not set up (exit 0, no output, nothing made)" \
        "0  no" "$rc $out $([ -e /var/qmail/authguard ] && echo made || echo no)"
fi

# --- An AUTH through qpsmtpd with the installed program (as smtp-e2e.sh).
PUB=$(mktemp -d /tmp/authguard-install.XXXXXX)
chmod 755 "$PUB"
on_exit "rm -rf '$PUB'"
mkdir -m 1777 "$PUB/log" "$PUB/out"
mkdir -m 700 "$PUB/spool"
chown nobody "$PUB/spool"
RUN_AS=nobody
# qpsmtpd's auth_checkpassword puts "sudo -C4" in front of the checkprogram
# when not root and sudo exists; that would need a sudoers entry.
command -v sudo >/dev/null && RUN_AS=root
mkdir "$PUB/control"
install -d -o "$RUN_AS" -m 750 "$PUB/state"
cat >"$PUB/control/authguard" <<EOF
lmdb-path = $PUB/state
log-file = $PUB/log/authguard.log
EOF
chgrp "$(id -gn "$RUN_AS")" "$PUB/control/authguard"
chmod 640 "$PUB/control/authguard"
: >"$PUB/control/authguard-allow"
cat >"$PUB/checkpw" <<EOF
#!/bin/sh
AUTHGUARD_CONTROL='$PUB/control' AG_STANDIN_PASSWORD=secret \\
    exec /usr/lib/authguard/authguard-checkpw '$STANDIN' "\$@" 2>'$PUB/out/fd2.'\$\$
EOF
chmod 755 "$PUB/checkpw"

start_qpsmtpd "$PUB" "$PUB/checkpw" "$RUN_AS" 54 || exit 1
smtp_auth() { # SOURCE USER PASSWORD: the final reply code to AUTH PLAIN
    timeout 30 swaks --server 127.0.0.1 --port "$port" --local-interface "$1" \
        --helo client.test.example --auth PLAIN --auth-user "$2" --auth-password "$3" \
        --quit-after AUTH --timeout 20 >"$PUB/swaks.out" 2>&1
    awk '/^ -> AUTH/ {a = 1; next} /^ -> QUIT/ {a = 0}
        a && /^<[-*~]* +[0-9][0-9][0-9]/ {sub(/^<[-*~]* +/, ""); code = $1}
        END {print code}' "$PUB/swaks.out" | grep . ||
        echo "none($(grep -m1 '^\*\*\*' "$PUB/swaks.out"))"
}
check_eq "installed package: AUTH through qpsmtpd, right password: 235" 235 \
    "$(smtp_auth 127.1.0.1 alice@example.com secret)"
check_eq "installed package: AUTH through qpsmtpd, wrong password: 535" 535 \
    "$(smtp_auth 127.1.0.1 alice@example.com wrong)"
check "installed package: the installed authguard-checkpw logged the login" \
    grep -q -E '(^| )allow user=alice@example.com address=127\.1\.0\.1 ' "$PUB/log/authguard.log"
check "installed package: /usr/sbin/authguardctl shows the login in the embedded store" \
    grep -q '127.1.0.1' <(/usr/sbin/authguardctl --control "$PUB/control" --json show alice@example.com 2>&1)
check "installed package: the checkprogram wrote nothing to fd 2" test -z "$(cat "$PUB"/out/fd2.* 2>/dev/null)"

# --- Removing the package removes its files.
if dpkg -r authguard >"$AG_TMP/dpkg-r.out" 2>&1; then ok "dpkg -r removes the package"; else
    not_ok "dpkg -r removes the package ($(tail -3 "$AG_TMP/dpkg-r.out" | tr '\n' ' '))"
fi
left=
for f in $PKG_FILES /usr/lib/authguard; do [ "$f" = /etc/cron.daily/authguard ] || [ ! -e "$f" ] || left+="$f "; done
check_eq "dpkg -r leaves none of the package's programs, man pages, examples" "" "$left"
dpkg --purge authguard >/dev/null 2>&1
check "dpkg --purge removes the daily gc's cron file (a conffile)" test ! -e /etc/cron.daily/authguard
check_eq "dpkg --purge: the package is gone" "" \
    "$(dpkg-query -W -f='${Status}' authguard 2>/dev/null | grep 'installed')"
check "dpkg --purge removes the daily gc timer's enabling link" \
    test ! -L /etc/systemd/system/timers.target.wants/authguard-gc.timer
