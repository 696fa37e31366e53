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
# (the recorder writes NAME.tmp, then renames it: only whole files count)
done_files() { grep -l "$1" "$out"/$2.* 2>/dev/null | grep -v '\.tmp$'; }
for _ in $(seq 200); do
    [ -n "$(done_files "locked the account" mailer)" ] &&
        [ -n "$(done_files "locked the account" recorder)" ] && break
    sleep 0.1
done
rec=$(done_files "locked the account" recorder | head -1)
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
check "a notifier that cannot be started is logged at the lock (it was reported as started)" \
    grep -q 'note="cannot start notify-command /nonexistent/notifier' "$control2/authguard.log"
check "check-config warns of a notifier that cannot be started" \
    grep -q "warning: notify-command /nonexistent/notifier: No such file" \
    <<<"$("$AG_BUILD/authguardctl" --control "$control2" check-config 2>&1)"

# --- times for people, and a manual lock in its own words (issue 12) ---
# The hooks and authguardctl run with TZ=Asia/Tokyo: every time in the
# notification is UTC with the local time beside it, never unix seconds.
out3=$AG_TMP/notify-tz
mkdir -p "$out3"
control3=$(new_control notify-tz <<EOF2
notify-command = $out/recorder
EOF2
)
t3=1764791889 # 2025-12-03 19:58:09 UTC, 2025-12-04 04:58:09 JST
for i in 1 2 3 4 5 6; do
    rc=$(checkpw "$control3" tz@example.com secret "46.$((100 + i)).7.7" AUTHGUARD_NOW=$((t3 + i * 60)) \
        AG_NOTIFY_DIR=$out3 TZ=Asia/Tokyo)
done
check_eq "tz: the 6th new network locks" 1 "$rc"
for _ in $(seq 200); do
    grep -l "locked the account tz@" "$out3"/recorder.* 2>/dev/null | grep -qv '\.tmp$' && break
    sleep 0.1
done
rec=$(grep -l "locked the account tz@" "$out3"/recorder.* 2>/dev/null | grep -v '\.tmp$' | head -1)
check "notification time in unix seconds: the lock's time in UTC and local time (JST)" \
    grep -q "locked the account tz@example.com at 2025-12-03 20:04:09 UTC (2025-12-04 05:04:09 JST)\.$" "${rec:-/dev/null}"
check "notification time in unix seconds: each network's first-seen time in UTC and JST" \
    bash -c "grep -A1 -x '  46.101.0.0/16@$((t3 + 60))\[46.101.7.7\]' '${rec:-/dev/null}' | grep -qx '    first seen 2025-12-03 19:59:09 UTC (2025-12-04 04:59:09 JST)'"
alert=$(grep -l "authguard alert for the account tz@" "$out3"/recorder.* 2>/dev/null | grep -v '\.tmp$' | head -1)
check "notification time in unix seconds: the alert's time in UTC and JST" \
    grep -q "at 2025-12-03 20:03:09 UTC (2025-12-04 05:03:09 JST)\.$" "${alert:-/dev/null}"

# A manual lock (authguardctl lock) is an administrator's decision: no
# "password has probably leaked", no "manual" listed as a network.
out4=$AG_TMP/notify-manual
mkdir -p "$out4"
AG_NOTIFY_DIR=$out4 TZ=Asia/Tokyo AUTHGUARD_NOW=$t3 \
    "$AG_BUILD/authguardctl" --control "$control3" lock Frank@example.com --reason "phone stolen, ticket 4711" --for 2h >/dev/null
for _ in $(seq 200); do ls "$out4"/recorder.* 2>/dev/null | grep -qv '\.tmp$' && break; sleep 0.1; done
man_rec=$(ls "$out4"/recorder.* 2>/dev/null | grep -v '\.tmp$' | head -1)
check "manual lock notified" test -n "$man_rec"
check "manual lock notification said the password leaked (it must not)" \
    bash -c "! grep -qi 'leaked' '${man_rec:-/dev/null}'"
check "manual lock notification listed manual as a network (it must not)" \
    bash -c "! grep -q '^  manual\$' '${man_rec:-/dev/null}' && ! grep -q 'New networks' '${man_rec:-/dev/null}'"
check "manual lock notification says who locked it, by hand, and when" \
    grep -q "^The administrator .* locked the account frank@example.com by hand (manual lock, authguardctl lock) at 2025-12-03 19:58:09 UTC (2025-12-04 04:58:09 JST)\.$" "${man_rec:-/dev/null}"
check "manual lock notification carries the reason" grep -q "^Reason: phone stolen, ticket 4711$" "${man_rec:-/dev/null}"
check "manual lock notification says when the lock ends" \
    grep -q "^The lock ends at 2025-12-03 21:58:09 UTC (2025-12-04 06:58:09 JST)\.$" "${man_rec:-/dev/null}"
