#!/bin/bash
# Smoke check of the PiClock polkit files against the real polkitd.
#
#   polkit/check.sh        # as root; Debian 12 packages: polkitd dbus
#                          # libglib2.0-bin (gdbus) util-linux (setpriv) passwd
#
# Installs org.piclock.Clock1.policy and 50-piclock.rules where polkitd reads
# them, starts a private system-style dbus-daemon and polkitd on it, and asks
# polkit about three subjects:
#   root                                 -> authorized
#   a throw-away user in group piclock   -> authorized, no challenge (rules)
#   nobody (65534, no groups)            -> not authorized, challenge
# for both actions, and checks that the rules grant nothing else to the
# piclock group. Then it checks the org.freedesktop.policykit.owner
# annotation: the service user piclock (created for the test when absent)
# may ask about other users' processes, as the daemon does for its callers,
# while another unprivileged user may not. Each check is made twice: with pkcheck (exit status 0
# authorized, 1 not authorized, 2 a challenge) and with a direct
# CheckAuthorization call through gdbus, which prints polkit's
# (is_authorized, is_challenge, details) answer.
#
# On exit (also on failure) it stops what it started and removes what it
# created: the installed files, the bus, polkitd, the test user, and the group
# piclock if it did not exist before. It backs nothing up: run it on a test
# machine only.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(dirname "$here")

actions_dir=/usr/share/polkit-1/actions
rules_dir=/etc/polkit-1/rules.d
policy_dst=$actions_dir/org.piclock.Clock1.policy
rules_dst=$rules_dir/50-piclock.rules
test_user=piclocktest
group=piclock
actions=(org.piclock.clock1.control org.piclock.clock1.configure)
# An action of polkit itself (auth_admin for everyone who is not active):
# the piclock rules must not grant it.
other_action=org.freedesktop.policykit.exec

if [ "$(id -u)" -ne 0 ]; then
    echo "polkit/check.sh must run as root" >&2
    exit 2
fi
if id "$test_user" >/dev/null 2>&1; then
    echo "user $test_user exists already (left over?); remove it first: userdel $test_user" >&2
    exit 2
fi

tmp=$(mktemp -d)
bus_pid=
polkitd_pid=
created_group=no
created_user=no
created_service_user=no
sleepers=()
installed=()

cleanup() {
    local rc=$?
    set +e
    [ -n "$polkitd_pid" ] && kill "$polkitd_pid" 2>/dev/null && wait "$polkitd_pid" 2>/dev/null
    [ -n "$bus_pid" ] && kill "$bus_pid" 2>/dev/null
    for p in "${sleepers[@]}"; do kill "$p" 2>/dev/null; done
    [ "$created_user" = yes ] && userdel "$test_user"
    [ "$created_service_user" = yes ] && { userdel "$group" 2>&1 | grep -v "not removed because" >&2; }
    # userdel removes the test user's own group (USERGROUPS_ENAB); make sure.
    [ "$created_user" = yes ] && getent group "$test_user" >/dev/null && groupdel "$test_user"
    [ "$created_group" = yes ] && getent group "$group" >/dev/null && groupdel "$group"
    for f in "${installed[@]}"; do rm -f "$f"; done
    rm -rf "$tmp"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo "== install"
mkdir -p "$rules_dir"
install -m 0644 "$here/org.piclock.Clock1.policy" "$policy_dst"
installed+=("$policy_dst")
install -m 0644 "$here/50-piclock.rules" "$rules_dst"
installed+=("$rules_dst")
echo "$policy_dst"
echo "$rules_dst"

if ! getent group "$group" >/dev/null; then
    groupadd --system "$group"
    created_group=yes
fi
useradd --no-create-home --shell /usr/sbin/nologin --user-group --groups "$group" "$test_user"
created_user=yes
echo "user $test_user: $(id "$test_user")"
if ! id "$group" >/dev/null 2>&1; then
    # Primary group nogroup: polkit's owner check looks at the uid only, and
    # userdel would otherwise delete the group piclock with the user, even
    # when that group existed before.
    useradd --system --no-create-home --shell /usr/sbin/nologin --gid nogroup "$group"
    created_service_user=yes
fi
echo "user $group: $(id "$group")"

echo "== private system bus and polkitd"
# polkitd drops to the user polkitd and the unprivileged callers must reach
# the socket too.
chmod 755 "$tmp"
mkdir "$tmp/policy"
cp "$repo/dbus/org.piclock.Clock1.conf" "$tmp/policy/"
cat >"$tmp/system.conf" <<EOF
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=$tmp/system_bus_socket</listen>
  <auth>EXTERNAL</auth>
  <!-- The default policy of Debian's /usr/share/dbus-1/system.conf. -->
  <policy context="default">
    <allow user="*"/>
    <deny own="*"/>
    <deny send_type="method_call"/>
    <allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/>
    <allow receive_type="method_return"/>
    <allow receive_type="error"/>
    <allow receive_type="signal"/>
    <allow send_destination="org.freedesktop.DBus"
           send_interface="org.freedesktop.DBus"/>
    <allow send_destination="org.freedesktop.DBus"
           send_interface="org.freedesktop.DBus.Introspectable"/>
    <allow send_destination="org.freedesktop.DBus"
           send_interface="org.freedesktop.DBus.Properties"/>
  </policy>
  <!-- polkit's own policy (and the other system services'). -->
  <includedir>/usr/share/dbus-1/system.d</includedir>
  <!-- The project's policy (a copy of dbus/org.piclock.Clock1.conf). -->
  <includedir>$tmp/policy</includedir>
</busconfig>
EOF
# Unknown users in policies (piclock, before it is installed) only warn.
bus_pid=$(dbus-daemon --config-file="$tmp/system.conf" --fork --print-pid=1 2>"$tmp/dbus.log")
export DBUS_SYSTEM_BUS_ADDRESS="unix:path=$tmp/system_bus_socket"
echo "dbus-daemon $bus_pid at $DBUS_SYSTEM_BUS_ADDRESS"

/usr/lib/polkit-1/polkitd --no-debug >"$tmp/polkitd.log" 2>&1 &
polkitd_pid=$!
for _ in $(seq 100); do
    if gdbus call --system --dest org.freedesktop.DBus --object-path /org/freedesktop/DBus \
        --method org.freedesktop.DBus.NameHasOwner org.freedesktop.PolicyKit1 2>/dev/null |
        grep -q true; then
        break
    fi
    if ! kill -0 "$polkitd_pid" 2>/dev/null; then
        cat "$tmp/polkitd.log" >&2
        echo "FAIL: polkitd exited" >&2
        exit 1
    fi
    sleep 0.1
done
echo "polkitd $polkitd_pid owns org.freedesktop.PolicyKit1"
# polkitd reports the rules files it loaded and any JavaScript error in them.
grep -Ei 'rules|error|warn' "$tmp/polkitd.log" | sed 's/^/  polkitd: /' || true
if grep -qi 'error' "$tmp/polkitd.log"; then
    echo "FAIL: polkitd reported an error" >&2
    exit 1
fi

echo "== checks"
failures=0

# check LABEL EXPECT ACTION RUNNER...: EXPECT is "yes" (authorized) or
# "challenge" (not authorized, is_challenge true); RUNNER... runs the
# commands as the subject (empty for root). The subject is the checking
# process itself (its pid through sh's $$, kept across exec).
check() {
    local label=$1 expect=$2 action=$3
    shift 3
    local want_rc want_tuple rc=0 out tuple
    case $expect in
        yes) want_rc=0 want_tuple="(true, false," ;;
        challenge) want_rc=2 want_tuple="(false, true," ;;
    esac
    out=$("$@" sh -c 'exec pkcheck --action-id "$1" --process $$' sh "$action" 2>&1) || rc=$?
    tuple=$("$@" sh -c 'exec gdbus call --system --dest org.freedesktop.PolicyKit1 \
        --object-path /org/freedesktop/PolicyKit1/Authority \
        --method org.freedesktop.PolicyKit1.Authority.CheckAuthorization \
        "(\"unix-process\", {\"pid\": <uint32 $$>, \"start-time\": <uint64 0>})" \
        "$1" "{}" 0 ""' sh "$action" 2>&1) || true
    local verdict=ok
    if [ "$rc" -ne "$want_rc" ] || [[ $tuple != "($want_tuple"* ]]; then
        verdict=FAIL
        failures=$((failures + 1))
    fi
    printf '%-4s %-22s %-30s pkcheck exit %d%s\n' "$verdict" "$label" "$action" "$rc" \
        "${out:+ ($(printf '%s' "$out" | tr '\n' ' ' | sed 's/ *$//'))}"
    printf '     %-22s %-30s CheckAuthorization -> %s\n' "" "" "$tuple"
}

as_user=(setpriv --reuid="$test_user" --regid="$test_user" --init-groups)
as_nobody=(setpriv --reuid=65534 --regid=65534 --clear-groups)

for action in "${actions[@]}"; do
    check "root" yes "$action"
    check "$test_user (piclock)" yes "$action" "${as_user[@]}"
    check "nobody (65534)" challenge "$action" "${as_nobody[@]}"
done
check "$test_user (piclock)" challenge "$other_action" "${as_user[@]}"

# check_other LABEL EXPECT ACTION PID RUNNER...: RUNNER asks about the process
# PID (of another user). EXPECT: "yes", "challenge", or "refused" (polkit
# answers NotAuthorized: the caller may not ask about other users).
check_other() {
    local label=$1 expect=$2 action=$3 pid=$4
    shift 4
    local uid want out
    uid=$(stat -c %u "/proc/$pid")
    case $expect in
        yes) want="((true, false," ;;
        challenge) want="((false, true," ;;
        refused) want="GDBus.Error:org.freedesktop.PolicyKit1.Error.NotAuthorized" ;;
    esac
    out=$("$@" gdbus call --system --dest org.freedesktop.PolicyKit1 \
        --object-path /org/freedesktop/PolicyKit1/Authority \
        --method org.freedesktop.PolicyKit1.Authority.CheckAuthorization \
        "(\"unix-process\", {\"pid\": <uint32 $pid>, \"start-time\": <uint64 0>, \"uid\": <int32 $uid>})" \
        "$action" "{}" 0 "" 2>&1) || true
    out=$(printf '%s' "$out" | tr '\n' ' ' | sed 's/ *$//')
    local verdict=ok
    if [[ $out != *"$want"* ]]; then
        verdict=FAIL
        failures=$((failures + 1))
    fi
    printf '%-4s %-40s %-30s -> %s\n' "$verdict" "$label" "$action" "$out"
}

echo "== asking about other users' processes (owner annotation)"
as_service=(setpriv --reuid="$group" --regid="$group" --init-groups)
# setpriv drops to the user and then execs sleep under the same pid: until
# it has, /proc/<pid> still belongs to root and polkit would be asked about a
# root process. Wait for the exec before asking.
wait_for_sleep() {
    local pid=$1 i
    for i in $(seq 100); do
        [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = sleep ] && return 0
        sleep 0.05
    done
    echo "process $pid did not become sleep" >&2
    return 1
}
"${as_nobody[@]}" sleep 300 &
nobody_pid=$!
sleepers+=("$nobody_pid")
"${as_user[@]}" sleep 300 &
user_pid=$!
sleepers+=("$user_pid")
wait_for_sleep "$nobody_pid"
wait_for_sleep "$user_pid"
for action in "${actions[@]}"; do
    check_other "$group about nobody's process" challenge "$action" "$nobody_pid" "${as_service[@]}"
    check_other "$group about $test_user's process" yes "$action" "$user_pid" "${as_service[@]}"
    check_other "$test_user about nobody's process" refused "$action" "$nobody_pid" "${as_user[@]}"
done

if [ "$failures" -ne 0 ]; then
    echo "FAIL: $failures check(s) failed" >&2
    exit 1
fi
echo "OK: all checks passed"
