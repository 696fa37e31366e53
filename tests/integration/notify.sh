# notify.sh - a lock (and an alert) starts the configured notify-command with
# the evidence on stdin, and mails the postmaster through mail-program;
# neither delays the login nor inherits the SMTP connection.
source "$AG_ROOT/tests/lib.sh"

out=$AG_TMP/notify
mkdir -p "$out"
cat > "$out/recorder" <<'SH'
#!/bin/sh
# records its arguments, stdin, and what fd 1/2 point at
n=$(date +%s%N)
so=$(readlink /proc/$$/fd/1)
{ echo "args: $*"; echo "stdout: $so"; cat; } > "$AG_NOTIFY_DIR/$(basename "$0").$n.tmp"
mv "$AG_NOTIFY_DIR/$(basename "$0").$n.tmp" "$AG_NOTIFY_DIR/$(basename "$0").$n"
SH
chmod +x "$out/recorder"
cp "$out/recorder" "$out/mailer"
control=$(new_control notify <<EOF2
notify-command = $out/recorder --from-authguard
notify-mail = postmaster@example.com
mail-program = $out/mailer
EOF2
)
export AG_NOTIFY_DIR=$out
t=1374486000
for i in 1 2 3 4 5 6; do
    rc=$(checkpw "$control" hello@example.com secret "46.$((100 + i)).66.80" AUTHGUARD_NOW=$((t + i * 60)) AG_NOTIFY_DIR=$out)
done
check_eq "the 6th new network locks" 1 "$rc"
# an alert (5 networks) comes before the lock: wait for the lock's own files
# (detached processes: up to 20 s on a machine busy with other suites)
for _ in $(seq 200); do
    grep -q "locked the account" "$out"/mailer.* 2>/dev/null &&
        grep -q "locked the account" "$out"/recorder.* 2>/dev/null && break
    sleep 0.1
done
rec=$(grep -l "locked the account" "$out"/recorder.* 2>/dev/null | head -1)
check "notify-command ran with the evidence on stdin" test -n "$rec"
check "notify-command got its arguments" grep -q "^args: --from-authguard" "${rec:-/dev/null}"
check "evidence names the networks" grep -q "46.105.0.0/16" "${rec:-/dev/null}"
check "notify-command's stdout is /dev/null, not the SMTP connection" grep -q "^stdout: /dev/null" "${rec:-/dev/null}"
mail=$(grep -l "Subject: authguard locked hello@example.com" "$out"/mailer.* 2>/dev/null | head -1)
check "postmaster mailed through mail-program" test -n "$mail"
check "mail-program got the recipient as argument" grep -q "^args: postmaster@example.com" "${mail:-/dev/null}"
check "only one lock notification" test "$(grep -l 'locked the account' "$out"/recorder.* | wc -l)" = 1
check "the alert at 5 networks was sent too, once" test "$(grep -l 'authguard alert for the account' "$out"/recorder.* | wc -l)" = 1

# A lock notification for a second lock-hit does not repeat.
rc=$(checkpw "$control" hello@example.com secret 46.200.1.1 AUTHGUARD_NOW=$((t + 600)) AG_NOTIFY_DIR=$out)
sleep 0.5
check_eq "locked user refused" 1 "$rc"
check "still one lock notification" test "$(grep -l 'locked the account' "$out"/recorder.* | wc -l)" = 1

# A notify-command that does not exist: the login is still answered, and logged.
control2=$(new_control notify-missing <<EOF2
notify-command = /nonexistent/notifier
EOF2
)
for i in 1 2 3 4 5 6; do
    rc=$(checkpw "$control2" bob@example.com secret "46.$((100 + i)).1.1" AUTHGUARD_NOW=$((t + i * 60)))
done
check_eq "lock still enforced when the notifier is missing" 1 "$rc"
