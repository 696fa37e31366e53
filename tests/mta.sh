# tests/mta.sh - a private Dovecot and a private Postfix (Debian's packages)
# for the tests of authguard-policyd: each runs from its own config and
# state under a directory of the caller, listens on 127.0.0.1 only, on free
# ports, and never touches /etc/postfix, /etc/dovecot, /var/spool/postfix or
# the system's services. Postfix does SMTP AUTH through Dovecot's SASL
# socket; both ask the caller's policy server (Postfix: check_policy_service
# at RCPT and END-OF-MESSAGE; Dovecot: auth_policy_server_url). Client
# addresses come from loopback: IMAP `ID ("x-originating-ip" ...)` with
# login_trusted_networks, SMTP `XCLIENT ADDR=...` with
# smtpd_authorized_xclient_hosts. tests/mta-selftest.sh shows it working.
#
# Safe under `set -euo pipefail`; needs root (Dovecot and Postfix's master
# start as root and drop privileges), python3 and swaks. Call the start
# functions in the script's own shell (not in $(...) or a pipe): they set
# variables. Register the stop functions before the start ones (on_exit
# dovecot_stop; on_exit postfix_stop; or from the EXIT trap): each stop is a
# no-op when nothing runs and kills what a half-finished start left.
#
# One Dovecot and one Postfix at a time per shell (the variables name them).
# The directory given to a start function must be empty or new. Dovecot's
# auth process (user dovecot), its mail processes (nobody) and Postfix's
# smtpd (user postfix) open files in it, so every ancestor of it must be
# traversable by others: the start functions add o+x (traverse, not read)
# where it is missing (a mktemp -d directory has mode 700) and the stop
# functions take it away again once both servers are stopped.
#
# Functions (exit 0 on success unless said otherwise):
#
#   dovecot_start DIR POLICY_URL [API_HEADER]
#       Dovecot (dovecot -F -c DIR/dovecot.conf, as a child of this shell)
#       with IMAP and POP3 on free 127.0.0.1 ports, plaintext logins without
#       TLS, a passwd-file DIR/users (hello@example.com/secret and
#       user2@example.com/secret2; more with dovecot_add_user), and
#       auth_policy_server_url = POLICY_URL ("" = no policy server),
#       auth_policy_server_api_header = API_HEADER (e.g. "Authorization:
#       Basic dXNlcjpwYXNz"), auth_policy_hash_nonce = $DOVECOT_NONCE
#       (default "authguard-test-nonce"), report after auth, no reject when
#       the policy server fails, auth_failure_delay = 0. Postfix's SASL
#       socket is DIR/auth-postfix (owner postfix, mode 0660). Waits until
#       both ports answer. Tries other ports when one was taken (3 times).
#       Sets DOVECOT_DIR, DOVECOT_PID, DOVECOT_IMAP_PORT, DOVECOT_POP3_PORT,
#       DOVECOT_AUTH_SOCKET, DOVECOT_LOG (DIR/dovecot.log; its stderr is
#       DIR/dovecot.out). Returns 1 when it does not start
#       (mta_log_tail DIR says why).
#       More users: DOVECOT_USERS="USER PASS" lines, before the start.
#   dovecot_add_user USER PASS [USER PASS...]
#       Adds users to the running Dovecot's passwd-file (no restart).
#       Returns at the start of the next second (up to 1 s later): Dovecot
#       checks the file's mtime at most once a second, so a login earlier
#       in the same second would hide the new lines.
#   dovecot_stop
#       Stops it (TERM, waits up to 5 s, then KILL). Takes about 1 s: the
#       master sleeps one second for its children on the way out.
#   imap_login USER PASS ADDR [PORT]
#       One IMAP login (python3 imaplib) with client address ADDR: sends
#       ID ("x-originating-ip" ADDR) before LOGIN ("" = no ID, the real
#       loopback address). Prints "ok TEXT" or "no TEXT" (the server's
#       text); exit 0 when logged in, 1 when refused, 2 on a connection or
#       protocol error (also printed, as "error TEXT").
#   imap_logins [PORT]
#       Many IMAP logins in one python3 process (each python3 start costs
#       0.1-0.4 s here): one "USER PASS ADDR" a line on stdin (no spaces in
#       them; ADDR may be left out), one line "ok|no|error USER ADDR TEXT"
#       out per login, in order. Exit 0 when all logged in, else 1.
#   pop3_login USER PASS [PORT]
#       One POP3 login (USER/PASS) from loopback; POP3 has no ID command,
#       so the address Dovecot sees is 127.0.0.1. Output and exit as
#       imap_login.
#   postfix_start DIR POLICY [SASL_SOCKET]
#       Postfix (postfix -c DIR/etc start) with its main.cf and master.cf in
#       DIR/etc (not DIR itself: postfix-script's check-warn wants the
#       config directory's contents owned by root, the queue's are not), the
#       queue in DIR/queue and data_directory DIR/data; smtpd on a free port
#       (POSTFIX_PORT, logging as postfix/smtpd) and a second smtpd on
#       another (POSTFIX_SUBMISSION_PORT, logging as
#       postfix/submission/smtpd), both on 127.0.0.1, both with
#         smtpd_recipient_restrictions = check_policy_service POLICY,
#             permit_sasl_authenticated, reject
#         smtpd_end_of_data_restrictions = check_policy_service POLICY
#       POLICY is unix:/abs/path or inet:127.0.0.1:PORT ("" = none: then
#       permit_sasl_authenticated, reject). SASL through Dovecot on
#       SASL_SOCKET (default $DOVECOT_AUTH_SOCKET; "" = no AUTH). XCLIENT
#       allowed from 127.0.0.0/8. Every message is accepted into the queue
#       and then discarded (default_transport = discard): the log says
#       "QUEUEID: client=..., sasl_username=..." when a message got in.
#       Postfix logs to POSTFIX_LOG = DIR/postfix.log (maillog_file through
#       postlogd, no syslog). Lines of main.cf in $POSTFIX_MAIN_EXTRA are
#       appended (they win). Tries other ports when one was taken (3 times).
#       Sets POSTFIX_DIR, POSTFIX_PORT, POSTFIX_SUBMISSION_PORT,
#       POSTFIX_LOG. Returns 1 when it does not start (its messages:
#       DIR/postfix.out and DIR/postfix.log). Makes the queue directories
#       itself (as post-install create-missing would) and skips
#       postfix-script's checks (queue/quick-start): 0.1 s instead of 1-3 s.
#   postfix_stop
#       What postfix stop does (TERM to the master, which stops its
#       children), but waits only as long as needed (KILL after 5 s).
#   smtp_send USER PASS ADDR [FROM [TO]]
#       One message through swaks to $SMTP_PORT (default $POSTFIX_PORT):
#       XCLIENT ADDR=ADDR first ("" = none), then EHLO again, AUTH PLAIN
#       USER/PASS ("" USER = no AUTH), MAIL FROM (default USER, or
#       sender@example.com), RCPT TO (default other@example.com), DATA.
#       Prints the server's last reply that matters (an error, else the
#       reply to the end of DATA); the whole transcript is in
#       $POSTFIX_DIR/swaks.out. Exit code is swaks' (0 sent; 23 MAIL
#       refused, 24 RCPT refused, 25 DATA refused, 28 AUTH failed, ...).
#   postfix_queued
#       Prints how many messages reached the queue: the count of lines
#       "postfix/cleanup[...]: QUEUEID: message-id=" in POSTFIX_LOG. Postfix
#       writes them asynchronously (postlogd): wait for a line, don't
#       assume it is there when swaks returns.
#   mta_log_tail DIR
#       The last lines of the logs in DIR, on one line (why it did not start).
#   mta_free_ports N
#       Prints N distinct free TCP ports of 127.0.0.1, one a line.

# shellcheck disable=SC2034 # the exported variables are for the caller

MTA_OPENED=()

# mta_free_ports N: N ports the kernel gave to sockets bound at the same
# time (so distinct), closed again.
mta_free_ports() {
    python3 -c '
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
for s in socks:
    print(s.getsockname()[1])' "$1"
}

# mta_listening PORT: true when something listens on TCP port PORT.
# (ss, not a connection: a probe would show up in the servers' logs.)
mta_listening() {
    ss -Hltn "sport = :$1" 2>/dev/null | grep -q .
}

# mta_open_path DIR: o+x on DIR and each ancestor lacking it, remembered in
# MTA_OPENED so that mta_close_path takes it away again.
mta_open_path() {
    local d
    d=$(cd "$1" && pwd -P) || return 1
    while [ "$d" != / ]; do
        if [ -z "$(find "$d" -maxdepth 0 -perm -o=x)" ]; then
            chmod o+x "$d" || return 1
            MTA_OPENED+=("$d")
        fi
        d=$(dirname "$d")
    done
}

# mta_close_path: undoes mta_open_path once neither server runs.
mta_close_path() {
    local d
    [ -z "${DOVECOT_PID:-}" ] && [ -z "${POSTFIX_DIR:-}" ] || return 0
    for d in "${MTA_OPENED[@]}"; do chmod o-x "$d" 2>/dev/null || true; done
    MTA_OPENED=()
}

mta_log_tail() {
    tail -n 4 "$1"/dovecot.out "$1"/dovecot.log "$1"/postfix.out "$1"/postfix.log 2>/dev/null |
        grep -v '^==>' | grep . | tr '\n' ' '
}

# mta_alive PID: the process runs (exists and is no zombie: the daemonized
# Postfix master is a child of PID 1, which may reap it only later).
mta_alive() {
    local st
    st=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null) || return 1
    [ -n "$st" ] && [ "${st%% *}" != Z ]
}

# mta_kill_wait PID: TERM, waits up to 5 s, then KILL; reaps a child.
# Always true.
mta_kill_wait() {
    local _
    [ -n "${1:-}" ] || return 0
    kill -TERM "$1" 2>/dev/null || return 0
    for _ in $(seq 50); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
    return 0
}

# ---- Dovecot ------------------------------------------------------------

# mta_add_user USER PASS: one line in the passwd-file, and the home
# directory (the mail processes run as nobody).
mta_add_user() {
    local user=$1 pass=$2 home=$DOVECOT_DIR/home/$1
    # passwd-file fields: user:password:uid:gid:(gecos):home:(shell):extra
    printf '%s:{PLAIN}%s:65534:65534::%s::\n' "$user" "$pass" "$home" >>"$DOVECOT_DIR/users"
    mkdir -p "$home"
    chown 65534:65534 "$home"
}

dovecot_add_user() {
    local now
    now=$(date +%s)
    while [ $# -ge 2 ]; do
        mta_add_user "$1" "$2"
        shift 2
    done
    # Dovecot looks at the file's mtime at most once a second (per auth
    # lookup, keyed on the second): a login earlier in this second would
    # hide the new lines until the next one. Wait for it.
    while [ "$(date +%s)" = "$now" ]; do sleep 0.05; done
}

dovecot_start() {
    local dir=$1 url=$2 header=${3:-} imap pop3 _ try
    if [ -n "${DOVECOT_PID:-}" ] && mta_alive "$DOVECOT_PID"; then
        echo "dovecot_start: one runs already (PID $DOVECOT_PID); dovecot_stop first" >&2
        return 1
    fi
    DOVECOT_DIR=$dir DOVECOT_PID='' DOVECOT_IMAP_PORT='' DOVECOT_POP3_PORT=''
    DOVECOT_AUTH_SOCKET=$dir/auth-postfix DOVECOT_LOG=$dir/dovecot.log
    mkdir -p "$dir/home" "$dir/run" "$dir/state" || return 1
    # Absolute: the paths go into dovecot.conf.
    dir=$(cd "$dir" && pwd -P) || return 1
    DOVECOT_DIR=$dir DOVECOT_AUTH_SOCKET=$dir/auth-postfix DOVECOT_LOG=$dir/dovecot.log
    mta_open_path "$dir" || return 1
    # The auth process (user dovecot) reads the users file.
    : >"$dir/users"
    chmod 644 "$dir/users"
    mta_add_user hello@example.com secret
    mta_add_user user2@example.com secret2
    local line
    while read -r line; do
        [ -n "$line" ] && mta_add_user "${line%% *}" "${line#* }"
    done <<<"${DOVECOT_USERS:-}"
    for try in 1 2 3; do
        { read -r imap; read -r pop3; } < <(mta_free_ports 2)
        cat >"$dir/dovecot.conf" <<EOF
# Written by tests/mta.sh: a private Dovecot for the tests, loopback only.
instance_name = authguard-test-$$
base_dir = $dir/run
state_dir = $dir/state
log_path = $dir/dovecot.log
auth_verbose = yes
protocols = imap pop3
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
# A refused login answers at once (the default waits 2 s).
auth_failure_delay = 0
login_trusted_networks = 127.0.0.0/8
mail_location = maildir:~/Maildir
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u $dir/users
}
userdb {
  driver = passwd-file
  args = username_format=%u $dir/users
}
auth_policy_server_url = $url
auth_policy_server_api_header = $header
auth_policy_hash_nonce = ${DOVECOT_NONCE:-authguard-test-nonce}
auth_policy_report_after_auth = yes
auth_policy_reject_on_fail = no
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = $imap
  }
  inet_listener imaps {
    port = 0
  }
}
service pop3-login {
  inet_listener pop3 {
    address = 127.0.0.1
    port = $pop3
  }
  inet_listener pop3s {
    port = 0
  }
}
# No auth penalty (a growing delay, up to 15 s, after failures from one
# address): the tests fail many logins on purpose. The penalty is applied
# to the address from ID x-originating-ip, trusted network or not.
service anvil {
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
service auth {
  # Postfix's smtpd (user postfix, not chrooted) connects here for SASL.
  unix_listener $dir/auth-postfix {
    mode = 0660
    user = postfix
    group = postfix
  }
}
EOF
        dovecot -F -c "$dir/dovecot.conf" </dev/null >>"$dir/dovecot.out" 2>&1 &
        DOVECOT_PID=$!
        for _ in $(seq 100); do
            kill -0 "$DOVECOT_PID" 2>/dev/null || break
            mta_listening "$imap" && mta_listening "$pop3" && [ -S "$dir/auth-postfix" ] && {
                DOVECOT_IMAP_PORT=$imap DOVECOT_POP3_PORT=$pop3
                export DOVECOT_IMAP_PORT DOVECOT_POP3_PORT DOVECOT_AUTH_SOCKET DOVECOT_LOG
                return 0
            }
            sleep 0.05
        done
        mta_kill_wait "$DOVECOT_PID"
        DOVECOT_PID=
        # Only a port taken in between is worth another try.
        grep -q 'Address already in use' "$dir/dovecot.out" "$dir/dovecot.log" 2>/dev/null || break
    done
    mta_close_path
    return 1
}

dovecot_stop() {
    mta_kill_wait "${DOVECOT_PID:-}"
    DOVECOT_PID=
    mta_close_path
}

imap_login() {
    python3 - "$1" "$2" "$3" "${4:-$DOVECOT_IMAP_PORT}" <<'EOF_PY'
import imaplib, sys
user, password, addr, port = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
def text(data):
    return " ".join(d.decode("utf-8", "replace") if isinstance(d, bytes) else str(d) for d in data)
try:
    c = imaplib.IMAP4("127.0.0.1", port, timeout=10)
    if addr:
        imaplib.Commands.setdefault("ID", ("NONAUTH", "AUTH", "SELECTED"))
        c._simple_command("ID", '("x-originating-ip" "%s")' % addr)
    try:
        typ, data = c.login(user, password)
    except imaplib.IMAP4.abort as e:
        print("error", e); sys.exit(2)
    except imaplib.IMAP4.error as e:
        print("no", e); sys.exit(1)
    print("ok", text(data))
    try:
        c.logout()
    except Exception:
        pass
    sys.exit(0)
except (OSError, imaplib.IMAP4.error) as e:
    print("error", e); sys.exit(2)
EOF_PY
}

imap_logins() {
    # The script on fd 0, the caller's stdin (the list) on fd 3.
    python3 - "${1:-$DOVECOT_IMAP_PORT}" 3<&0 <<'EOF_PY'
import imaplib, os, sys
port = int(sys.argv[1])
imaplib.Commands.setdefault("ID", ("NONAUTH", "AUTH", "SELECTED"))
failed = 0
for line in os.fdopen(3):
    if not line.strip():
        continue
    user, password, addr = (line.rstrip("\n").split(" ") + ["", "", ""])[:3]
    try:
        c = imaplib.IMAP4("127.0.0.1", port, timeout=10)
        if addr:
            c._simple_command("ID", '("x-originating-ip" "%s")' % addr)
        try:
            typ, data = c.login(user, password)
            print("ok", user, addr, data[0].decode("utf-8", "replace"))
            try:
                c.logout()
            except Exception:
                pass
        except imaplib.IMAP4.abort as e:
            print("error", user, addr, e); failed += 1
        except imaplib.IMAP4.error as e:
            print("no", user, addr, e); failed += 1
    except (OSError, imaplib.IMAP4.error) as e:
        print("error", user, addr, e); failed += 1
    sys.stdout.flush()
sys.exit(1 if failed else 0)
EOF_PY
}

pop3_login() {
    python3 - "$1" "$2" "${3:-$DOVECOT_POP3_PORT}" <<'EOF_PY'
import poplib, sys
user, password, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
try:
    c = poplib.POP3("127.0.0.1", port, timeout=10)
    c.user(user)
    try:
        r = c.pass_(password)
    except poplib.error_proto as e:
        print("no", e.args[0].decode("utf-8", "replace") if isinstance(e.args[0], bytes) else e)
        sys.exit(1)
    print("ok", r.decode("utf-8", "replace"))
    try:
        c.quit()
    except Exception:
        pass
    sys.exit(0)
except (OSError, poplib.error_proto) as e:
    print("error", e); sys.exit(2)
EOF_PY
}

# ---- Postfix ------------------------------------------------------------

postfix_start() {
    local dir=$1 policy=$2 sasl=${3-${DOVECOT_AUTH_SOCKET:-}} smtp sub try _ restrictions eod
    if [ -n "${POSTFIX_DIR:-}" ]; then
        echo "postfix_start: one runs already ($POSTFIX_DIR); postfix_stop first" >&2
        return 1
    fi
    POSTFIX_DIR='' POSTFIX_PORT='' POSTFIX_SUBMISSION_PORT='' POSTFIX_LOG=$dir/postfix.log
    # post-install create-missing (run by postfix start) makes the queue's
    # subdirectories with their owners, but not the queue directory itself.
    mkdir -p "$dir/etc" "$dir/queue" || return 1
    # Absolute: the paths go into main.cf.
    dir=$(cd "$dir" && pwd -P) || return 1
    POSTFIX_LOG=$dir/postfix.log
    mta_open_path "$dir" || return 1
    if [ -n "$policy" ]; then
        restrictions="check_policy_service $policy, permit_sasl_authenticated, reject"
        eod="check_policy_service $policy"
    else
        restrictions="permit_sasl_authenticated, reject"
        eod=""
    fi
    for try in 1 2 3; do
        { read -r smtp; read -r sub; } < <(mta_free_ports 2)
        cat >"$dir/etc/main.cf" <<EOF
# Written by tests/mta.sh: a private Postfix for the tests, loopback only.
compatibility_level = 3.6
queue_directory = $dir/queue
data_directory = $dir/data
mail_owner = postfix
setgid_group = postdrop
myhostname = mta.test
mydomain = test
myorigin = mta.test
mydestination =
relay_domains =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
alias_maps =
alias_database =
biff = no
smtputf8_enable = no
# No DNS: the client name is "unknown", nothing leaves the machine.
smtpd_peername_lookup = no
smtp_dns_support_level = disabled
# Every message is accepted, queued, then dropped.
default_transport = discard:test
relay_transport = discard:test
local_transport = discard:test
virtual_transport = discard:test
maillog_file = $dir/postfix.log
maillog_file_prefixes = $dir
smtpd_authorized_xclient_hosts = 127.0.0.0/8
smtpd_sasl_auth_enable = $([ -n "$sasl" ] && echo yes || echo no)
smtpd_sasl_type = dovecot
smtpd_sasl_path = ${sasl:-unused}
smtpd_relay_restrictions =
smtpd_recipient_restrictions = $restrictions
smtpd_end_of_data_restrictions = $eod
${POSTFIX_MAIN_EXTRA:-}
EOF
        # chroot n everywhere: the SASL and policy sockets live in DIR.
        cat >"$dir/etc/master.cf" <<EOF
# Written by tests/mta.sh.
127.0.0.1:$smtp inet n - n - - smtpd
127.0.0.1:$sub inet n - n - - smtpd -o syslog_name=postfix/submission
cleanup   unix  n       -       n       -       0       cleanup
qmgr      unix  n       -       n       300     1       qmgr
rewrite   unix  -       -       n       -       -       trivial-rewrite
bounce    unix  -       -       n       -       0       bounce
defer     unix  -       -       n       -       0       bounce
trace     unix  -       -       n       -       0       bounce
verify    unix  -       -       n       -       1       verify
flush     unix  n       -       n       1000?   0       flush
proxymap  unix  -       -       n       -       -       proxymap
proxywrite unix -       -       n       -       1       proxymap
showq     unix  n       -       n       -       -       showq
error     unix  -       -       n       -       -       error
retry     unix  -       -       n       -       -       error
discard   unix  -       -       n       -       -       discard
anvil     unix  -       -       n       -       1       anvil
scache    unix  -       -       n       -       1       scache
postlog   unix-dgram n  -       n       -       1       postlogd
EOF
        # Postfix waits (up to 2 s, in 300 ms steps) until main.cf is at
        # least a second old, in case it is still being written: date both.
        touch -d '-10 seconds' "$dir/etc/main.cf" "$dir/etc/master.cf"
        # The queue's directories, with the owners and modes that
        # post-install create-missing gives them (postfix-files), and
        # quick-start: postfix start then skips postfix-script's check-fatal
        # and check-warn (a dozen postconf runs and finds: 0.5-3 s here).
        install -d -o postfix -g root -m 700 "$dir/data" "$dir"/queue/{active,bounce,corrupt} \
            "$dir"/queue/{defer,deferred,flush,hold,incoming,private,saved,trace}
        install -d -o postfix -g postdrop -m 730 "$dir/queue/maildrop"
        install -d -o postfix -g postdrop -m 710 "$dir/queue/public"
        install -d -o root -g root -m 755 "$dir/queue/pid"
        touch "$dir/queue/quick-start"
        POSTFIX_DIR=$dir
        if postfix -c "$dir/etc" start >>"$dir/postfix.out" 2>&1; then
            for _ in $(seq 100); do
                mta_listening "$smtp" && mta_listening "$sub" && {
                    POSTFIX_PORT=$smtp POSTFIX_SUBMISSION_PORT=$sub
                    export POSTFIX_PORT POSTFIX_SUBMISSION_PORT POSTFIX_LOG
                    return 0
                }
                sleep 0.05
            done
        fi
        postfix_stop_master "$dir"
        grep -q 'in use' "$dir/postfix.out" "$dir/postfix.log" 2>/dev/null || break
    done
    POSTFIX_DIR=
    mta_close_path
    return 1
}

# postfix_stop_master DIR: stops the master of DIR's queue, if it runs. As
# `postfix stop` does (TERM to the master, which TERMs its process group),
# but polled every 50 ms: postfix-script sleeps a whole second.
postfix_stop_master() {
    local dir=$1 pid _
    pid=$(sed -n '1s/ //gp' "$dir/queue/pid/master.pid" 2>/dev/null) || pid=
    [ -n "$pid" ] && mta_alive "$pid" || return 0
    # Only a Postfix master (not a recycled PID).
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q 'master' || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 100); do mta_alive "$pid" || return 0; sleep 0.05; done
    kill -KILL -- "-$pid" 2>/dev/null || true
    return 0
}

postfix_stop() {
    [ -n "${POSTFIX_DIR:-}" ] && postfix_stop_master "$POSTFIX_DIR"
    POSTFIX_DIR=
    mta_close_path
}

smtp_send() {
    local user=$1 pass=$2 addr=$3 from=${4:-} to=${5:-other@example.com} rc out
    out=${POSTFIX_DIR:-/tmp}/swaks.out
    local args=(--server 127.0.0.1 --port "${SMTP_PORT:-$POSTFIX_PORT}" --helo client.test
        --to "$to" --timeout 20)
    [ -n "$from" ] || from=${user:-sender@example.com}
    args+=(--from "$from")
    [ -n "$addr" ] && args+=(--xclient-addr "$addr")
    [ -n "$user" ] && args+=(--auth PLAIN --auth-user "$user" --auth-password "$pass")
    rc=0
    swaks "${args[@]}" </dev/null >"$out" 2>&1 || rc=$?
    # The first error reply, else the reply to the end of DATA.
    if grep -q '^<\*\*' "$out"; then
        grep -m1 '^<\*\*' "$out" | sed 's/^<\*\* *//'
    else
        grep '^<- ' "$out" | grep -v ' 221 ' | tail -1 | sed 's/^<- *//'
    fi
    return $rc
}

# postfix_queued: how many messages reached the queue (cleanup logged a
# message-id for them).
postfix_queued() {
    grep -c 'postfix/cleanup\[[0-9]*\]: [0-9A-F]*: message-id=' "$POSTFIX_LOG" 2>/dev/null || true
}
