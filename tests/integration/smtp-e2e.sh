#!/bin/bash
# smtp-e2e.sh - authguard-checkpw end to end over SMTP: Debian's qpsmtpd
# (forkserver, running as nobody) with its auth_checkpassword plugin calling
# authguard-checkpw in front of the vchkpw stand-in, swaks as the client
# binding different 127.x.0.1 source addresses (distinct /16 networks), and
# real tcpserver handing TCPREMOTEIP/TCPLOCALPORT to it. All traffic stays on
# the loopback: qpsmtpd's reverse lookups go to a stand-in DNS server on a
# 127/8 address, through a resolv.conf that only qpsmtpd sees (private mount
# namespace).
#
# What qpsmtpd 0.94 gives the checkprogram (seen here, printed below as "#"):
# TCPREMOTEIP, TCPLOCALIP and TCPREMOTEHOST set by qpsmtpd-forkserver, but no
# TCPLOCALPORT or TCPREMOTEPORT (so authguard logs service=unknown); fd 3 is
# "user\0password\0Y123456\0", fd 1 is the client's socket, fd 2 qpsmtpd's
# log. Any non-zero exit is answered 535 (there is no 454 for 111), and a
# failed AUTH runs the checkprogram twice (its auth-plain hook, then the
# generic auth hook), so with qpsmtpd each failed login counts twice.
source "${AG_ROOT:?run through tests/run-all}/tests/lib.sh" || exit 1
trap_cleanup

if [ "$(id -u)" != 0 ]; then
    ok "SMTP end to end # SKIP needs root (qpsmtpd drops to nobody, DNS stand-in on port 53)"
    exit 0
fi
for tool in qpsmtpd-forkserver swaks tcpserver tcpclient unshare perl; do
    command -v "$tool" >/dev/null || { not_ok "$tool is installed (tools/install-deps)"; exit 1; }
done

# Everything qpsmtpd (uid nobody) must reach lives here; $AG_TMP is 0700.
PUB=$(mktemp -d /tmp/authguard-e2e.XXXXXX)
chmod 755 "$PUB"
on_exit "rm -rf '$PUB'"
mkdir -m 1777 "$PUB/out" "$PUB/log"
mkdir -m 700 "$PUB/spool"
chown nobody "$PUB/spool"
RUN_AS=nobody
# qpsmtpd's auth_checkpassword puts "sudo -C4" in front of the checkprogram
# when not root and sudo exists; that would need a sudoers entry.
command -v sudo >/dev/null && RUN_AS=root && echo "# sudo present: qpsmtpd runs as root"

AG_REDIS_DIR=$PUB start_redis redis || { not_ok "own redis-server starts"; exit 1; }
R() { redis-cli -s "$PUB/redis.sock" "$@"; }

mkdir "$PUB/control"
cat >"$PUB/control/authguard" <<EOF
redis = unix:$PUB/redis.sock
key-prefix = t-e2e:
log-file = $PUB/log/authguard.log
EOF
chgrp nogroup "$PUB/control/authguard"
chmod 640 "$PUB/control/authguard"
LOG=$PUB/log/authguard.log

# The checkprogram qpsmtpd runs ("$PUB/checkpw /bin/true" through sh -c, the
# password on fd 3): sets authguard's environment, notes what qpsmtpd gave.
cat >"$PUB/checkpw" <<EOF
#!/bin/sh
env | sort >'$PUB/out/env.'\$\$
[ -s '$PUB/now' ] && AUTHGUARD_NOW=\$(cat '$PUB/now') && export AUTHGUARD_NOW
AUTHGUARD_CONTROL='$PUB/control' AG_STANDIN_PASSWORD=secret \\
    exec '$CP' '$STANDIN' "\$@" 2>'$PUB/out/fd2.'\$\$
EOF
chmod 755 "$PUB/checkpw"

start_qpsmtpd "$PUB" "$PUB/checkpw" "$RUN_AS" 53 || exit 1
QP_LOG=$PUB/qpsmtpd.log
ok "qpsmtpd-forkserver listens on 127.0.0.1:$port as $RUN_AS"

# smtp_auth SOURCE USER PASSWORD [MECHANISM]: prints the final reply code to
# AUTH; each login is a minute after the previous one (AUTHGUARD_NOW).
T0=1700000000
n_auth=0
smtp_auth() {
    n_auth=$((n_auth + 1))
    echo $((T0 + n_auth * 60)) >"$PUB/now"
    timeout 30 swaks --server 127.0.0.1 --port "$port" --local-interface "$1" \
        --helo client.test.example --auth "${4:-PLAIN}" --auth-user "$2" --auth-password "$3" \
        --quit-after AUTH --timeout 20 >"$PUB/swaks.out" 2>&1
    # the last reply between AUTH and QUIT (AUTH LOGIN has 334 challenges first)
    awk '/^ -> AUTH/ {a = 1; next} /^ -> QUIT/ {a = 0}
        a && /^<[-*~]* +[0-9][0-9][0-9]/ {sub(/^<[-*~]* +/, ""); code = $1}
        END {print code}' "$PUB/swaks.out" | grep . ||
        echo "none($(grep -m1 '^\*\*\*' "$PUB/swaks.out"))"
}

check_eq "AUTH PLAIN, right password: 235" 235 "$(smtp_auth 127.1.0.1 alice@example.com secret)"
envfile=$(ls -t "$PUB"/out/env.* 2>/dev/null | head -1)
echo "# qpsmtpd gave the checkprogram: $(grep -h '^TCP' "$envfile" | tr '\n' ' ')"
check_eq "qpsmtpd passes TCPREMOTEIP: the swaks source address" TCPREMOTEIP=127.1.0.1 "$(grep '^TCPREMOTEIP=' "$envfile")"
check_eq "qpsmtpd passes no TCPLOCALPORT" "" "$(grep '^TCPLOCALPORT=' "$envfile")"
check_eq "the login is counted under the client's address" 1 \
    "$(R hget 't-e2e:{alice@example.com}' 's|127.1.0.1' | awk '{print $3}')"
check "logged as allow (service unknown: no TCPLOCALPORT)" \
    grep -q '^@[0-9a-f]\{24\} allow user=alice@example.com address=127.1.0.1 service=unknown outcome=success ' "$LOG"

check_eq "AUTH PLAIN, wrong password: 535" 535 "$(smtp_auth 127.1.0.1 alice@example.com wrong)"
fails=$(R hget 't-e2e:{alice@example.com}' 'f|127.1.0.1' | awk '{print $3}')
check "the failure is counted" test "${fails:-0}" -ge 1
echo "# one failed AUTH through qpsmtpd counted $fails failure(s)"

codes=
for net in 2 3 4 5; do codes+="$(smtp_auth 127.$net.0.1 alice@example.com secret) "; done
check_eq "right password from 4 more new networks: 235 each" "235 235 235 235 " "$codes"
check_eq "the 6th new network within the hour: 535 (locked)" 535 "$(smtp_auth 127.6.0.1 alice@example.com secret)"
check "the lock is logged" grep -q '^@[0-9a-f]\{24\} lock user=alice@example.com address=127.6.0.1 ' "$LOG"
check_eq "the lock is stored" 1 "$(R exists 't-e2e:{alice@example.com}:lock')"
check_eq "locked: right password from a known network: 535" 535 "$(smtp_auth 127.1.0.1 alice@example.com secret)"
check_eq "locked: AUTH LOGIN too: 535" 535 "$(smtp_auth 127.2.0.1 alice@example.com secret LOGIN)"
check_eq "another user from the same network: 235" 235 "$(smtp_auth 127.1.0.1 bob@example.com secret)"
check_eq "AUTH LOGIN, right password: 235" 235 "$(smtp_auth 127.1.0.1 bob@example.com secret LOGIN)"
check "the checkprogram never wrote to fd 2" test -z "$(cat "$PUB"/out/fd2.*)"
check "qpsmtpd logged the refusal as a failed check" grep -q 'auth_checkpassword: fail, auth failed: 256' "$QP_LOG"

# --- Real tcpserver: TCPREMOTEIP and TCPLOCALPORT come from it.
cat >"$PUB/tcp-driver" <<EOF
#!/bin/bash
env | grep '^TCP' | sort >'$PUB/out/tcp-env'
read -r user pass
printf '%s\0%s\0\0' "\$user" "\$pass" |
    env AUTHGUARD_CONTROL='$PUB/control' AG_STANDIN_PASSWORD=secret AUTHGUARD_NOW=$((T0 + 5000)) \\
        '$CP' '$STANDIN' /bin/echo authenticated 3<&0 0</dev/null 2>>'$PUB/out/tcp-fd2'
echo "rc=\$?"
EOF
chmod 755 "$PUB/tcp-driver"
tport=
for _ in 1 2 3; do
    p=$(free_port)
    tcpserver -R -H -l localhost 127.0.0.1 "$p" "$PUB/tcp-driver" </dev/null >/dev/null 2>"$PUB/tcpserver.err" &
    tcp_pid=$!
    for _ in $(seq 50); do
        ss -Hltn "sport = :$p" | grep -q . && break
        kill -0 $tcp_pid 2>/dev/null || break
        sleep 0.1
    done
    if ss -Hltn "sport = :$p" | grep -q .; then tport=$p; on_exit "kill_wait TERM $tcp_pid"; break; fi
    kill $tcp_pid 2>/dev/null
done
[ -n "$tport" ] || { not_ok "tcpserver starts"; exit 1; }
tcp_login() { # SOURCE USER PASSWORD: what the driver answered, on one line
    timeout 20 tcpclient -R -H -l localhost -i "$1" 127.0.0.1 "$tport" \
        sh -c 'echo "$0 $1" >&7; cat <&6' "$2" "$3" 2>&1 | tr '\n' ' '
}
check_eq "tcpserver: right password" "authenticated rc=0 " "$(tcp_login 127.9.0.1 carol@example.com secret)"
check_eq "tcpserver sets TCPREMOTEIP and TCPLOCALPORT" "TCPLOCALPORT=$tport TCPREMOTEIP=127.9.0.1" \
    "$(grep -E '^TCP(REMOTEIP|LOCALPORT)=' "$PUB/out/tcp-env" | tr '\n' ' ' | sed 's/ $//')"
check_eq "tcpserver: TCPREMOTEIP is what authguard counted" 1 \
    "$(R hget 't-e2e:{carol@example.com}' 's|127.9.0.1' | awk '{print $3}')"
check "tcpserver: TCPLOCALPORT gives the service" \
    grep -q "^@[0-9a-f]\{24\} allow user=carol@example.com address=127.9.0.1 service=port-$tport outcome=success " "$LOG"
check_eq "tcpserver: wrong password" "rc=3 " "$(tcp_login 127.9.0.1 carol@example.com nope)"
check_eq "tcpserver: the failure counted" 1 \
    "$(R hget 't-e2e:{carol@example.com}' 'f|127.9.0.1' | awk '{print $3}')"
check_eq "tcpserver: authguard wrote nothing to fd 2" "" "$(cat "$PUB/out/tcp-fd2")"
