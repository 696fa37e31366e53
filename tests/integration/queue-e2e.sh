# queue-e2e.sh - authguard-queue end to end behind a real SMTP server:
# Debian's qpsmtpd (qpsmtpd-forkserver) with auth/auth_checkpassword running
# authguard-checkpw in front of the vchkpw stand-in, and queue/qmail-queue
# running QMAILQUEUE=build/authguard-queue in front of the qmail-queue
# stand-in; swaks as the client, through a small tap that records what swaks
# sent (and can lock the account between AUTH and MAIL FROM).
# qpsmtpd exports no AUTH user to the queue program: the user must come from
# the session binding authguard-checkpw wrote, keyed by their common parent
# (qpsmtpd's connection process; its checkpassword runs under "sh -c").
source "$AG_ROOT/tests/lib.sh"
trap_cleanup

for p in qpsmtpd-forkserver swaks; do
    if ! command -v "$p" >/dev/null; then
        not_ok "queue-e2e: $p is not installed (tools/install-deps)"
        exit 0
    fi
done

W=$AG_TMP/queue-e2e
mkdir -p "$W/config" "$W/spool" "$W/msg"
chmod 700 "$W/spool"
on_exit "rm -rf '$W'"
CTL=$AG_BUILD/authguardctl
C=$(new_control queue-e2e <<EOF
next-queue = $AG_BUILD/qmail-queue-standin
EOF
)

# The checkpassword program qpsmtpd runs ("PATH /bin/true 3<&0" via sh -c).
cat > "$W/checkpw" <<EOF
#!/bin/sh
AUTHGUARD_CONTROL=$C
export AUTHGUARD_CONTROL
exec $AG_BUILD/authguard-checkpw $AG_BUILD/vchkpw-standin "\$@"
EOF
chmod +x "$W/checkpw"
cat > "$W/config/plugins" <<EOF
auth/auth_checkpassword checkpw $W/checkpw true /bin/true
rcpt_ok
queue/qmail-queue
EOF
echo /usr/share/qpsmtpd/plugins > "$W/config/plugin_dirs"
echo mx.test > "$W/config/me"
echo example.org > "$W/config/rcpthosts"
echo "$W/spool" > "$W/config/spool_dir"
echo 6 > "$W/config/loglevel"

# tap HOST PORT CAPTURE [COMMAND]: swaks --pipe target; relays to the server,
# appends what the client sent to CAPTURE, runs COMMAND before passing on
# the client's MAIL FROM.
cat > "$W/tap" <<'EOF'
#!/usr/bin/python3
import os, socket, sys, threading
host, port, capture = sys.argv[1], int(sys.argv[2]), sys.argv[3]
command = sys.argv[4] if len(sys.argv) > 4 else None
s = socket.create_connection((host, port), timeout=60)
def down():
    while True:
        b = s.recv(65536)
        if not b:
            break
        os.write(1, b)
    os.close(1)
threading.Thread(target=down, daemon=True).start()
with open(capture, "ab") as cap:
    for line in sys.stdin.buffer:
        if command and line[:10].upper() == b"MAIL FROM:":
            os.system(command)
        cap.write(line)
        cap.flush()
        s.sendall(line)
s.shutdown(socket.SHUT_WR)
EOF
chmod +x "$W/tap"

# Start qpsmtpd on a free port (retried: another test may take it first).
QP_PID= PORT=
for _ in 1 2 3 4 5; do
    PORT=$(free_port) || break
    env -i PATH=/usr/bin:/bin QPSMTPD_CONFIG="$W/config" QMAILQUEUE="$AG_BUILD/authguard-queue" \
        AUTHGUARD_CONTROL="$C" AG_QQ_DIR="$W/queue" \
        qpsmtpd-forkserver -l 127.0.0.1 -p "$PORT" -u "$(id -un)" </dev/null >"$W/qpsmtpd.log" 2>&1 &
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
    not_ok "queue-e2e: qpsmtpd-forkserver did not start: $(tail -3 "$W/qpsmtpd.log")"
    exit 0
fi
on_exit "kill $QP_PID; wait $QP_PID"
ok "qpsmtpd-forkserver listens on 127.0.0.1:$PORT, QMAILQUEUE=authguard-queue"

# send NAME USER DATA-FILE [COMMAND]: one swaks session through the tap,
# AUTH PLAIN as USER (none when USER is -); output in $W/NAME.swaks, what
# swaks sent in $W/NAME.sent.
send() {
    local name=$1 user=$2 data=$3 cmd=${4:-}
    local auth=(--auth PLAIN --auth-user "$user" --auth-password secret)
    [ "$user" = - ] && auth=() && user=anon@example.net
    : > "$W/$name.sent"
    timeout 60 swaks --pipe "$W/tap 127.0.0.1 $PORT $W/$name.sent${cmd:+ '$cmd'}" "${auth[@]}" \
        --from "$user" --to bob@example.org --data "@$data" --timeout 30 \
        >"$W/$name.swaks" 2>&1
}
# data_reply NAME: the server's answer to the end of DATA
data_reply() { grep -E '^<[-*]+ +[0-9]{3} ' "$W/$1.swaks" | tail -2 | head -1 | sed 's/^<[-*]* *//'; }
queued() { find "$W/queue" -maxdepth 1 -name '*.msg' 2>/dev/null | wc -l; }
# body_of FILE: the bytes after the first empty line (the header block is
# qpsmtpd's to rewrite: it adds Received: and Authentication-Results:)
body_of() { python3 -c 'import sys; d = open(sys.argv[1], "rb").read(); sys.stdout.buffer.write(d.split(b"\n\n", 1)[1])' "$1"; }
# sent_data CAPTURE: the DATA swaks sent (from the tap), unstuffed, LF endings
sent_data() {
    python3 -c '
import sys
d = open(sys.argv[1], "rb").read()
start = d.upper().index(b"\r\nDATA\r\n") + 8 if not d.upper().startswith(b"DATA\r\n") else 6
end = d.index(b"\r\n.\r\n", start - 2)
lines = d[start:end + 2].split(b"\r\n")[:-1]
out = b"".join((l[1:] if l.startswith(b".") else l) + b"\n" for l in lines)
sys.stdout.buffer.write(out)' "$1"
}
sent() {
    redis hgetall "t-queue-e2e:{$1}:rate" | paste - - | awk '$1 ~ /^s[0-9]+m$/ { n += $2 } END { print n + 0 }'
}

mkdir -p "$W/queue"
python3 - "$W/msg/mail" <<'EOF'
import sys
b = b"Subject: queue e2e\nFrom: alice@example.com\nTo: bob@example.org\n"
b += b"Content-Type: text/plain; charset=iso-8859-1\n\n"
b += b"plain line\n.leading dot\n..two dots\n.\n\ttab, trailing spaces   \n"
b += bytes(range(128, 256)) + b"\n" + b"w" * 990 + b"\n\nbare\rCR inside\nlast line"
open(sys.argv[1], "wb").write(b)
EOF

# --- a normal user: byte for byte, counted through the session binding
send normal alice@example.com "$W/msg/mail"
check "normal: AUTH accepted through authguard-checkpw" grep -q '^<-  235 ' "$W/normal.swaks"
check_eq "normal: DATA accepted (250)" 250 "$(data_reply normal | cut -c1-3)"
check_eq "normal: one message reached the next queue program" 1 "$(queued)"
got=$(find "$W/queue" -name '*.msg' | head -1)
sent_data "$W/normal.sent" > "$W/normal.data"
if [ -n "$got" ] && [ -s "$W/normal.data" ] && cmp -s <(body_of "$got") <(body_of "$W/normal.data"); then
    ok "normal: the body reached the next queue program byte for byte as swaks sent it ($(body_of "$got" | wc -c) bytes, 8-bit, dots, bare CR, 990-byte line)"
else
    not_ok "normal: body differs: $(cmp <(body_of "$got") <(body_of "$W/normal.data") 2>&1)"
fi
check "normal: the headers swaks sent are there too" grep -q '^Subject: queue e2e$' "$got"
printf 'Falice@example.com\0Tbob@example.org\0\0' > "$W/env-expected"
check "normal: envelope as qpsmtpd gave it" cmp -s "$W/env-expected" "${got%.msg}.env"
check_eq "normal: counted for alice (identity from the session binding)" 1 "$(sent alice@example.com)"
check "normal: logged as alice's message" grep -q "allow queue sender=alice@example.com recipients=1 " "$C/authguard.log"

# --- unauthenticated: queued, nobody's count
send anon - "$W/msg/mail"
check_eq "unauthenticated: DATA accepted (250), queued" "250 2" "$(data_reply anon | cut -c1-3) $(queued)"
check_eq "unauthenticated: still one message for alice" 1 "$(sent alice@example.com)"

# --- locked after AUTH, before MAIL FROM: DATA refused, nothing queued
lockcmd="AUTHGUARD_NOW= $CTL --control $C lock alice@example.com --reason e2e >/dev/null"
send locked alice@example.com "$W/msg/mail" "$lockcmd"
check "locked: AUTH accepted before the lock" grep -q '^<-  235 ' "$W/locked.swaks"
check "locked: the account is locked now" test "$("$CTL" --control "$C" --json locks | grep -c alice@example.com)" = 1
reply=$(data_reply locked)
check "locked: DATA refused with 4xx (qpsmtpd maps exit 31 to 451): $reply" test "${reply:0:1}" = 4
check_eq "locked: nothing queued" 2 "$(queued)"
check_eq "locked: the next queue program left no files" 4 "$(find "$W/queue" -mindepth 1 | wc -l)"
check "locked: logged as refuse-locked by authguard-queue" \
    grep -q "refuse-locked queue-early sender=alice@example.com" "$C/authguard.log"
# A big message (2 MB) makes qpsmtpd write into a closed pipe: still 4xx.
head -c 2000000 /dev/urandom | base64 > "$W/msg/body-big"
{ printf 'Subject: big\n\n'; cat "$W/msg/body-big"; } > "$W/msg/big"
"$CTL" --control "$C" unlock alice@example.com >/dev/null
send locked-big alice@example.com "$W/msg/big" "$lockcmd"
reply=$(data_reply locked-big)
check "locked: a 2.7 MB message refused with 4xx too: $reply" test "${reply:0:1}" = 4
check_eq "locked: ... nothing queued" 2 "$(queued)"

# --- a locked user cannot log in at all (authguard-checkpw's own refusal)
send relogin alice@example.com "$W/msg/mail"
check "locked: the next AUTH is refused (535)" grep -q '^<\*\* *535 ' "$W/relogin.swaks"
check_eq "locked: ... nothing queued" 2 "$(queued)"

check "qpsmtpd ran authguard-queue for every DATA" \
    test "$(grep -c 'Queuing to .*authguard-queue' "$W/qpsmtpd.log")" -ge 4
