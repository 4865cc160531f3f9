#!/bin/bash
# Offline checks of the PiClock systemd files (no running systemd needed).
#
#   systemd/check.sh            # as root, on Debian 12 with packages systemd and dbus
#
# 1. systemd-analyze verify of piclockd.service. The unit names
#    /usr/bin/piclockd, which is not installed on a build machine, so verify
#    runs on a copy in a temporary directory whose only changes are
#    ExecStart= and ExecStopPost= pointing at a dummy executable there. --man=no: the man pages of
#    Documentation= are not installed either. verify exits 0 even when it
#    ignores a bad line, so any output from it counts as a failure.
#    (Type=dbus pulls in dbus.socket: without the dbus package verify says
#    "Unit dbus.socket not found".)
# 2. systemd-analyze security --offline=true: the overall exposure must be
#    1.7 or less (issue 14; --threshold= takes it times ten).
# 3. systemd-sysusers on an empty temporary root: piclock.sysusers parses and
#    creates the user and groups it should.
#
# Leaves nothing behind: everything lives in one temporary directory.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
unit="$here/piclockd.service"
sysusers="$here/piclock.sysusers"
max_exposure=1.7

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

echo "== systemd-analyze verify"
printf '#!/bin/sh\nexit 0\n' >"$tmp/piclockd"
chmod 755 "$tmp/piclockd"
grep -q '^ExecStart=/usr/bin/piclockd$' "$unit" || {
    echo "FAIL: $unit: expected ExecStart=/usr/bin/piclockd" >&2
    exit 1
}
grep -q '^ExecStopPost=-/usr/bin/piclockd --release-lines$' "$unit" || {
    echo "FAIL: $unit: expected ExecStopPost=-/usr/bin/piclockd --release-lines (coil lines low after any stop)" >&2
    exit 1
}
sed -e "s|^ExecStart=/usr/bin/piclockd\$|ExecStart=$tmp/piclockd|" \
    -e "s|^ExecStopPost=-/usr/bin/piclockd |ExecStopPost=-$tmp/piclockd |" "$unit" >"$tmp/piclockd.service"
echo "\$ systemd-analyze verify --man=no $tmp/piclockd.service   (copy, ExecStart=$tmp/piclockd)"
if ! out=$(systemd-analyze verify --man=no "$tmp/piclockd.service" 2>&1) || [ -n "$out" ]; then
    printf '%s\n' "$out" >&2
    echo "FAIL: systemd-analyze verify" >&2
    exit 1
fi
echo "OK: no complaints"

echo "== systemd-analyze security"
threshold=$(awk -v m="$max_exposure" 'BEGIN { printf "%d", m * 10 }')
echo "\$ systemd-analyze security --offline=true --threshold=$threshold --no-pager $unit"
rc=0
report=$(systemd-analyze security --offline=true --threshold="$threshold" --no-pager "$unit" 2>&1) || rc=$?
printf '%s\n' "$report" | grep -E '^✗' || true
overall=$(printf '%s\n' "$report" | grep 'Overall exposure level') || {
    printf '%s\n' "$report" >&2
    echo "FAIL: no overall exposure in the report" >&2
    exit 1
}
echo "$overall"
exposure=$(printf '%s\n' "$overall" | sed -E 's/.*: ([0-9]+\.[0-9]+) .*/\1/')
if [ "$rc" -ne 0 ] || ! awk -v e="$exposure" -v m="$max_exposure" 'BEGIN { exit !(e <= m) }'; then
    echo "FAIL: exposure $exposure > $max_exposure (systemd-analyze exit status $rc)" >&2
    exit 1
fi
echo "OK: exposure $exposure <= $max_exposure"

echo "== systemd-sysusers"
mkdir -p "$tmp/root/etc"
echo "\$ systemd-sysusers --root=$tmp/root $sysusers"
systemd-sysusers --root="$tmp/root" "$sysusers"
getent_root() { grep -E "^$2:" "$tmp/root/etc/$1"; }
grep -q ':/var/lib/piclock:/usr/sbin/nologin$' <<<"$(getent_root passwd piclock)" || {
    echo "FAIL: user piclock (home, shell)" >&2
    exit 1
}
getent_root group piclock >/dev/null
for g in gpio i2c; do
    grep -Eq '[:,]piclock(,|$)' <<<"$(getent_root group "$g")" || {
        echo "FAIL: piclock is not a member of $g" >&2
        exit 1
    }
done
echo "OK: user piclock, groups piclock gpio i2c"
