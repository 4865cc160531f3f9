#!/usr/bin/env bash
# The package installed on a real systemd: boots a debootstrapped Debian 12
# with systemd-nspawn (systemd as PID 1, dbus, polkitd), installs the piclock
# .deb with apt, and checks the service that systemd runs under the shipped
# unit and its hardening (docs/src/development/tests.md, "Installed on a real systemd").
#
#   systemd/nspawn-check.sh PICLOCK_DEB     # as root; scripts/test.sh runs it
#
# The container has no GPIO, so the test adds a drop-in,
# /etc/systemd/system/piclockd.service.d/simulate.conf, that only replaces
# ExecStart= with `piclockd --simulate`. It belongs to this test and is never
# shipped; everything else (user, hardening, watchdog, state directory
# /var/lib/piclock, bus policy, polkit files) is the package's own.
#
# 1. apt-get install of the .deb: its postinst starts the service, which is
#    active with no restart; the unit is the package's, the only drop-in is
#    the test's; /proc shows it running as piclock with no capabilities,
#    no_new_privs, seccomp filters, / and the administrator's /etc/piclock
#    read-only (even for root in its mount namespace), /var/lib/piclock
#    writable.
# 2. A member of group piclock sets the hands (piclockctl set-hands, no
#    password): ticking, hands right, TickCount rising.
# 3. Real time: the tick thread's policy (/proc/PID/task/*/stat) and VmLck
#    are what the daemon's limits allow (this machine's hard limits,
#    RLIMIT_RTPRIO 0 and RLIMIT_MEMLOCK 8 MiB, pass into the container and
#    nothing can raise them: SCHED_OTHER, nothing locked), and TickScheduling,
#    `piclockctl status` and the journal say so.
# 4. polkit: the member pauses, resumes and sets the NTP servers; nobody is
#    refused (AccessDenied naming the action; piclockctl exit code 4) and
#    nothing changes.
# 5. systemctl kill -s KILL: systemd restarts it (new MainPID, NRestarts + 1),
#    the new process recovers the hand position from the journal within 2 s
#    of the one before the kill, and the hands are right again;
#    ExecStopPost= (piclockd --release-lines) ran after the kill.
# 6. SIGSTOP: the shipped watchdog (WatchdogSec=30; keep-alives every 15 s)
#    kills it within 15-30 s ("Failed with result 'watchdog'") and systemd
#    restarts it, hands recovered again.
# 7. apt-get purge: every file of `dpkg -L piclock`, /var/lib/piclock,
#    /etc/piclock and the enablement are gone, no file named *piclock* is left
#    besides the test's drop-in, and the user piclock stays (as Debian does).
#
# The root (debootstrap --variant=minbase, about 35 s and 250 MB) is kept in
# <target>/nspawn/bookworm and reused when complete; it boots with
# --volatile=overlay, so it stays pristine. The mirror is the one this
# machine's apt uses. --private-network: no NTP server answers, so true time is
# the system clock. --capability=CAP_IPC_LOCK: without it nspawn's own seccomp
# filter refuses mlock*() with EPERM before the kernel sees them; with it the
# unit's SystemCallFilter= is what decides, as on a real machine (the service
# itself still has no capability: CapabilityBoundingSet= is empty).
# The container is always torn down on exit; on failure the container's
# journal of piclockd is printed first.
set -euo pipefail
cd "$(dirname "$0")/.."

fail() {
    echo "FAIL: $*" >&2
    exit 1
}
[ $# -eq 1 ] || {
    echo "usage: systemd/nspawn-check.sh PICLOCK_DEB" >&2
    exit 2
}
deb=$(realpath "$1")
[ -f "$deb" ] || fail "$1: no such file"
[ "$(id -u)" -eq 0 ] || fail "needs root (debootstrap, systemd-nspawn)"
for tool in systemd-nspawn debootstrap nsenter; do
    command -v "$tool" >/dev/null || fail "$tool is missing: run scripts/deps.sh"
done

start_us=${EPOCHREALTIME/./}
# step MESSAGE: prints it with the time spent so far.
step() {
    local us=$((${EPOCHREALTIME/./} - start_us))
    printf '== [%3d.%d s] %s\n' $((us / 1000000)) $((us / 100000 % 10)) "$*"
}
ok() { echo "OK: $*"; }

target=${CARGO_TARGET_DIR:-target}
mkdir -p "$target/nspawn"
cache=$(realpath "$target/nspawn")
suite=bookworm
include=systemd,dbus,polkitd,pkexec,dbus-user-session,libpam-systemd
rootfs=$cache/$suite
# What the cached root was built with; it is rebuilt when this differs.
key="debootstrap --variant=minbase --include=$include $suite"

# The Debian mirror this machine's apt uses: the URIs: of the deb822 stanza
# that lists the suite, else the sources.list line; never a written-in host.
mirror() {
    local f=/etc/apt/sources.list.d/debian.sources m=
    if [ -f "$f" ]; then
        m=$(awk -v suite="$suite" '
            /^[[:space:]]*$/ { if (uri != "" && has) { print uri; exit } uri = ""; has = 0; next }
            tolower($1) == "uris:" { uri = $2 }
            tolower($1) == "suites:" { for (i = 2; i <= NF; i++) if ($i == suite) has = 1 }
            END { if (uri != "" && has) print uri }
        ' "$f" | sed -n 1p)
    fi
    if [ -z "$m" ] && [ -f /etc/apt/sources.list ]; then
        m=$(awk -v suite="$suite" '
            $1 == "deb" { i = 2; if ($i ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
                          if ($(i + 1) == suite) { print $i; exit } }
        ' /etc/apt/sources.list)
    fi
    [ -n "$m" ] || fail "no Debian mirror for $suite in /etc/apt/sources.list.d/debian.sources or /etc/apt/sources.list"
    echo "$m"
}

step "Debian 12 root ($rootfs)"
if [ -f "$rootfs.done" ] && [ "$(cat "$rootfs.done")" = "$key" ] && [ -x "$rootfs/lib/systemd/systemd" ]; then
    ok "cached ($key)"
else
    rm -rf "$rootfs" "$rootfs.done" "$rootfs.partial"
    url=$(mirror)
    echo "debootstrap from $url (about 35 s)"
    if ! debootstrap --variant=minbase --include="$include" "$suite" "$rootfs.partial" "$url" >"$cache/debootstrap.log" 2>&1; then
        tail -n 30 "$cache/debootstrap.log" >&2
        fail "debootstrap $suite from $url (log: $cache/debootstrap.log)"
    fi
    mv "$rootfs.partial" "$rootfs"
    echo "$key" >"$rootfs.done"
    ok "built ($key)"
fi

work=$(mktemp -d)
mkdir "$work/debs"
cp "$deb" "$work/debs/"
nspawn_pid=
pid1=
# inside CMD...: runs CMD in the container (all its namespaces), at most
# 90 s, with a clean environment (no bus address of this machine's).
inside() { timeout 90 nsenter -t "$pid1" -a -- env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 "$@"; }

teardown() {
    local rc=$?
    trap - EXIT
    if [ "$rc" -ne 0 ] && [ -n "$pid1" ] && kill -0 "$pid1" 2>/dev/null; then
        echo "---- journalctl -u piclockd in the container ----" >&2
        inside journalctl -u piclockd --no-pager -o short-monotonic >&2 || true
        echo "---- systemctl status piclockd ----" >&2
        inside systemctl status piclockd --no-pager >&2 || true
    fi
    if [ -n "$nspawn_pid" ] && kill -0 "$nspawn_pid" 2>/dev/null; then
        # The first SIGTERM halts the container; a second one ends it at once.
        kill -TERM "$nspawn_pid" 2>/dev/null || true
        for _ in $(seq 100); do kill -0 "$nspawn_pid" 2>/dev/null || break; sleep 0.1; done
        kill -TERM "$nspawn_pid" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$nspawn_pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$nspawn_pid" 2>/dev/null || true
        wait "$nspawn_pid" 2>/dev/null || true
    fi
    if [ "$rc" -ne 0 ] && [ -s "$work/nspawn.log" ]; then
        echo "---- systemd-nspawn ----" >&2
        grep -v 'Attempted to remove disk file system' "$work/nspawn.log" >&2 || true
    fi
    rm -rf "$work"
    step "container torn down"
    exit "$rc"
}
trap teardown EXIT
# Interrupted (Ctrl-C, a CI timeout): exit, so that teardown runs.
trap 'exit 130' INT
trap 'exit 143' TERM
# A command that fails outside fail() still says which one.
trap 'echo "FAIL: line $LINENO: $BASH_COMMAND (exit status $?)" >&2' ERR

step "boot (systemd-nspawn -b --volatile=overlay)"
machine=piclock-check-$$
systemd-nspawn -q -D "$rootfs" -b --register=no --keep-unit --console=pipe --volatile=overlay \
    --private-network --capability=CAP_IPC_LOCK --machine="$machine" --bind-ro="$work/debs:/debs" \
    </dev/null >"$work/nspawn.log" 2>&1 &
nspawn_pid=$!
for _ in $(seq 100); do
    # The container's PID 1 is the child of systemd-nspawn that runs systemd.
    for child in $(cat "/proc/$nspawn_pid/task/$nspawn_pid/children" 2>/dev/null); do
        [ "$(cat "/proc/$child/comm" 2>/dev/null)" = systemd ] && pid1=$child
    done
    [ -n "$pid1" ] && break
    kill -0 "$nspawn_pid" 2>/dev/null || fail "systemd-nspawn exited: $(cat "$work/nspawn.log")"
    sleep 0.1
done
[ -n "$pid1" ] || fail "no systemd in the container after 10 s"
# Until PID 1 answers (the first moments it has no bus yet), then until the boot ends.
state=
for _ in $(seq 300); do
    state=$(inside systemctl is-system-running --wait 2>/dev/null || true)
    [ -n "$state" ] && break
    sleep 0.1
done
case $state in
    running) ;;
    degraded) echo "(degraded: $(inside systemctl --failed --no-legend --plain | tr '\n' ' '))" ;;
    *) fail "the container's systemd is '$state', not running" ;;
esac
ok "systemd $(inside systemctl --version | awk 'NR == 1 { print $2 }') is PID 1, $state"

# wait_for SECONDS WHAT CMD...: polls CMD (every 0.2 s) until it succeeds.
wait_for() {
    local limit=$1 what=$2 t0=$SECONDS
    shift 2
    until "$@"; do
        [ $((SECONDS - t0)) -lt "$limit" ] || fail "$what: not within $limit s"
        sleep 0.2
    done
}
# as_user USER CMD...: CMD as USER in a transient service (no terminal, no
# password agent), stdout and stderr together; the exit status is CMD's.
as_user() { inside systemd-run --wait --pipe --collect --quiet -p User="$1" -- "${@:2}" </dev/null 2>&1; }
prop() { # prop NAME: a property of org.piclock.Clock1, without type or quotes
    inside busctl get-property org.piclock.Clock1 /org/piclock/Clock1 org.piclock.Clock1 "$1" |
        sed -e 's/^[a-z]* //' -e 's/^"\(.*\)"$/\1/'
}
unit_prop() { inside systemctl show -P "$1" piclockd.service; }
main_pid() { unit_prop MainPID; }
# The journal of the current (or a given) run of the service, as text.
run_log() { inside journalctl --no-pager -o cat _SYSTEMD_INVOCATION_ID="${1:-$(unit_prop InvocationID)}"; }
status_field() { inside awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"; }
dial=43200
# dial_distance A B: seconds between two hand positions on the 12-hour dial.
dial_distance() {
    local d=$((($1 - $2) % dial))
    d=$(((d + dial) % dial))
    echo $((d > dial / 2 ? dial - d : d))
}
hands_right() { [ "$(prop State)" = ticking ] && [ "$(prop Offset)" -ge -1 ] && [ "$(prop Offset)" -le 1 ]; }

step "1. apt-get install ${deb##*/} (with the test's --simulate drop-in)"
dropin=/etc/systemd/system/piclockd.service.d/simulate.conf
inside mkdir -p "${dropin%/*}"
inside tee "$dropin" >/dev/null <<'EOF'
# Test only (systemd/nspawn-check.sh), never shipped: the container has no
# GPIO. Everything else is the packaged unit.
[Service]
ExecStart=
ExecStart=/usr/bin/piclockd --simulate
EOF
# The administrator's configuration file (the defaults, written out).
inside mkdir -p /etc/piclock
printf '[dial]\nhours = 12\n' | inside tee /etc/piclock/piclockd.toml >/dev/null
if ! inside env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "/debs/${deb##*/}" >"$work/apt.log" 2>&1; then
    cat "$work/apt.log" >&2
    fail "apt-get install ${deb##*/}"
fi
grep -q ' install ok installed$' <<<"$(inside dpkg-query -W -f='${Package} ${Version} ${Status}\n' piclock)" ||
    fail "piclock is not installed"
inside dpkg -L piclock >"$work/files"
[ "$(unit_prop ActiveState)" = active ] || fail "piclockd is $(unit_prop ActiveState) after the install, not active"
[ "$(unit_prop NRestarts)" = 0 ] || fail "piclockd restarted $(unit_prop NRestarts) times already"
[ "$(inside systemctl is-enabled piclockd)" = enabled ] || fail "piclockd is not enabled"
# (/lib is /usr/lib on Debian 12; the package ships the /usr path.)
fragment=$(inside realpath "$(unit_prop FragmentPath)")
grep -q '^piclock: ' <<<"$(inside dpkg -S "$fragment")" || fail "$fragment is not the package's"
[ "$(unit_prop DropInPaths)" = "$dropin" ] || fail "drop-ins: $(unit_prop DropInPaths) (only $dropin expected)"
pid=$(main_pid)
grep -q 'journal file /var/lib/piclock/position' <<<"$(run_log)" || fail "the daemon's journal is not /var/lib/piclock/position"
piclock_uid=$(inside id -u piclock)
[ "$(status_field "$pid" Uid)" = "$piclock_uid" ] || fail "MainPID $pid runs as uid $(status_field "$pid" Uid), not piclock"
[ "$(status_field "$pid" NoNewPrivs)" = 1 ] || fail "no_new_privs is not set"
[ "$(status_field "$pid" Seccomp)" = 2 ] || fail "no seccomp filter (Seccomp: $(status_field "$pid" Seccomp))"
for c in CapEff CapBnd; do
    [ "$(status_field "$pid" "$c")" = 0000000000000000 ] || fail "$c is $(status_field "$pid" "$c")"
done
mount_opts() { inside awk -v m="$2" '$5 == m { print $6 }' "/proc/$1/mountinfo" | tail -n 1; }
[[ ,$(mount_opts "$pid" /), == *,ro,* ]] || fail "/ is not read-only for the service: $(mount_opts "$pid" /)"
[[ ,$(mount_opts "$pid" /var/lib/piclock), == *,rw,* ]] || fail "/var/lib/piclock is not writable for the service"
# Even root, in the service's mount namespace, cannot write to the
# administrator's /etc/piclock: read-only, not a permission question.
if probe=$(inside nsenter -t "$pid" -m -- touch /etc/piclock/probe 2>&1); then
    fail "/etc/piclock is writable in the service's mount namespace"
fi
[[ "$probe" == *"Read-only file system"* ]] || fail "writing to /etc/piclock in the service's namespace: $probe (not read-only)"
ok "active, enabled, no restart; unit $fragment + only the test's drop-in; uid piclock, CapEff/CapBnd 0, NoNewPrivs, Seccomp filters $(status_field "$pid" Seccomp_filters), / and /etc/piclock ro, /var/lib/piclock rw"
echo "   hardening in force: $(inside systemctl show piclockd -p ProtectSystem -p ProtectHome -p MemoryDenyWriteExecute -p NoNewPrivileges -p WatchdogUSec -p LimitRTPRIO -p LimitMEMLOCK | tr '\n' ' ')"

step "2. a member of group piclock sets the hands (no password)"
inside useradd --no-create-home --shell /usr/sbin/nologin --groups piclock clockkeeper
[ "$(prop State)" = needs-position ] || fail "a fresh install's State is $(prop State), not needs-position"
now=$(inside date +%I:%M:%S)
out=$(as_user clockkeeper piclockctl set-hands "$now") || fail "clockkeeper: piclockctl set-hands $now: $out"
wait_for 15 "ticking with the hands right after set-hands" hands_right
ticks=$(prop TickCount)
hand=$(prop HandPosition)
sleep 3
[ "$(prop TickCount)" -ge $((ticks + 2)) ] || fail "TickCount went from $ticks to $(prop TickCount) in 3 s"
moved=$(dial_distance "$(prop HandPosition)" "$hand")
[ "$moved" -ge 2 ] && [ "$moved" -le 4 ] || fail "the hands moved $moved s in 3 s"
ok "set-hands $now by clockkeeper; State ticking, Offset $(prop Offset); in 3 s TickCount $ticks -> $(prop TickCount), hands +$moved s"

step "3. real time under the shipped hardening (/proc, TickScheduling, status, journal)"
said=$(prop TickScheduling)
tick_tid=
for t in $(inside ls "/proc/$pid/task"); do
    [ "$(inside cat "/proc/$pid/task/$t/comm")" = piclockd-tick ] && tick_tid=$t
done
[ -n "$tick_tid" ] || fail "no thread piclockd-tick in /proc/$pid/task"
# Fields after "(comm)": rt_priority is field 40 and policy field 41 of stat.
read -r rt_prio policy < <(inside cat "/proc/$pid/task/$tick_tid/stat" | sed 's/.*) //' | awk '{ print $38, $39 }')
limit() { inside awk -v n="$2" 'index($0, n) == 1 { $0 = substr($0, length(n) + 1); print $1 }' "/proc/$1/limits"; }
rtprio_limit=$(limit "$pid" "Max realtime priority")
memlock_limit=$(limit "$pid" "Max locked memory")
locked_kb=$(status_field "$pid" VmLck)
size_kb=$(status_field "$pid" VmSize)
echo "   TickScheduling: $said"
echo "   piclockd-tick (tid $tick_tid): policy $policy, rt_priority $rt_prio; limits: RTPRIO $rtprio_limit, MEMLOCK $memlock_limit; VmLck $locked_kb kB of VmSize $size_kb kB"
log=$(run_log)
if [ "$rtprio_limit" = unlimited ] || [ "$rtprio_limit" -ge 50 ]; then
    [[ $said == "SCHED_FIFO priority 50; "* ]] || fail "RLIMIT_RTPRIO $rtprio_limit allows SCHED_FIFO 50, yet TickScheduling is: $said"
    [ "$policy $rt_prio" = "1 50" ] || fail "TickScheduling says SCHED_FIFO 50, /proc says policy $policy priority $rt_prio"
else
    [[ $said == "SCHED_OTHER (SCHED_FIFO priority 50 refused: EPERM); "* ]] ||
        fail "RLIMIT_RTPRIO $rtprio_limit refuses SCHED_FIFO 50, yet TickScheduling is: $said"
    [ "$policy $rt_prio" = "0 0" ] || fail "TickScheduling says SCHED_OTHER, /proc says policy $policy priority $rt_prio"
    grep -q 'without real-time priority: cannot set SCHED_FIFO priority 50 for the tick thread: EPERM' <<<"$log" ||
        fail "the journal does not say that real-time priority was refused"
fi
if [ "$memlock_limit" = unlimited ]; then
    [[ $said == *"; memory locked" ]] || fail "RLIMIT_MEMLOCK is unlimited, yet TickScheduling is: $said"
    [ "$locked_kb" -gt 0 ] || fail "TickScheduling says memory locked, VmLck is 0"
elif [ "$memlock_limit" -lt $((size_kb * 1024)) ]; then
    # With a limit below the process's size the kernel answers ENOMEM; EPERM
    # would mean a seccomp filter refused mlockall() itself.
    [[ $said == *"; memory not locked (mlockall refused: ENOMEM)" ]] ||
        fail "RLIMIT_MEMLOCK $memlock_limit < VmSize: expected ENOMEM, TickScheduling is: $said"
    [ "$locked_kb" = 0 ] || fail "TickScheduling says memory not locked, VmLck is $locked_kb kB"
    grep -q 'memory not locked: cannot lock the process in memory (mlockall): ENOMEM' <<<"$log" ||
        fail "the journal does not say that mlockall was refused"
fi
status=$(as_user nobody piclockctl status) || fail "piclockctl status as nobody: $status"
grep -qF "Scheduling: $said" <<<"$status" || fail "piclockctl status does not show 'Scheduling: $said':
$status"
ok "the tick thread runs as the limits allow; TickScheduling, piclockctl status and the journal say so; still ticking"

step "4. polkit: group piclock may, nobody may not"
out=$(as_user clockkeeper piclockctl pause) || fail "clockkeeper: piclockctl pause: $out"
[ "$(prop State)" = paused ] || fail "State is $(prop State) after pause, not paused"
hand=$(prop HandPosition)
out=$(as_user nobody dbus-send --system --print-reply --dest=org.piclock.Clock1 /org/piclock/Clock1 \
    org.piclock.Clock1.Resume boolean:false) && fail "nobody's Resume was not refused: $out"
grep -q '^Error org.freedesktop.DBus.Error.AccessDenied: org.piclock.clock1.control: ' <<<"$out" ||
    fail "nobody's Resume: not AccessDenied naming org.piclock.clock1.control: $out"
rc=0
out=$(as_user nobody piclockctl resume) || rc=$?
[ "$rc" = 4 ] && grep -q 'access denied: org.piclock.clock1.control' <<<"$out" ||
    fail "nobody: piclockctl resume: exit code $rc (expected 4, access denied): $out"
sleep 1.5
[ "$(prop State)" = paused ] && [ "$(prop HandPosition)" = "$hand" ] ||
    fail "after nobody's refused resume: State $(prop State), hands $hand -> $(prop HandPosition)"
out=$(as_user clockkeeper piclockctl resume) || fail "clockkeeper: piclockctl resume: $out"
[ "$(prop State)" != paused ] || fail "still paused after clockkeeper's resume"
wait_for 15 "hands right after resume" hands_right
servers=$(prop NTPServers)
out=$(as_user nobody dbus-send --system --print-reply --dest=org.piclock.Clock1 /org/piclock/Clock1 \
    org.piclock.Clock1.SetNTPServers array:string:127.0.0.2 boolean:false) && fail "nobody's SetNTPServers was not refused: $out"
grep -q '^Error org.freedesktop.DBus.Error.AccessDenied: org.piclock.clock1.configure: ' <<<"$out" ||
    fail "nobody's SetNTPServers: not AccessDenied naming org.piclock.clock1.configure: $out"
[ "$(prop NTPServers)" = "$servers" ] || fail "nobody's refused SetNTPServers changed NTPServers to $(prop NTPServers)"
out=$(as_user clockkeeper piclockctl ntp-servers 127.0.0.1) || fail "clockkeeper: piclockctl ntp-servers: $out"
[ "$(prop NTPServers)" = '1 "127.0.0.1"' ] || fail "NTPServers is $(prop NTPServers) after clockkeeper's change"
ok "clockkeeper paused, resumed, set NTP servers; nobody got AccessDenied (control, configure) and exit code 4, nothing changed"

step "5. systemctl kill -s KILL: restarted, hands recovered from the journal"
restarts=$(unit_prop NRestarts)
hand=$(prop HandPosition)
inside systemctl kill -s KILL piclockd
killed_at=$SECONDS
new_pid() { [ "$(main_pid)" != 0 ] && [ "$(main_pid)" != "$pid" ] && [ "$(unit_prop ActiveState)" = active ]; }
wait_for 30 "restart after SIGKILL" new_pid
[ "$(unit_prop NRestarts)" = $((restarts + 1)) ] || fail "NRestarts $restarts -> $(unit_prop NRestarts)"
# "hand position N recovered", or "unclean stop while moving A -> B" (one of the two).
recovered=$(run_log | grep -oE 'hand position [0-9]+ recovered|unclean stop while moving [0-9]+ -> [0-9]+' | sed -n 1p)
[ -n "$recovered" ] || fail "the restarted daemon recovered no hand position: $(run_log)"
position=$(grep -oE '[0-9]+' <<<"$recovered" | tail -n 1)
[ "$(dial_distance "$position" "$hand")" -le 2 ] || fail "recovered $position ($recovered), the hands were at $hand"
[ "$(prop State)" != needs-position ] || fail "the restarted daemon needs the position"
wait_for 20 "hands right after the restart" hands_right
[ "$(prop PositionCertain)" = true ] || fail "PositionCertain is $(prop PositionCertain) after the settling pulse"
# ExecStopPost= ran after the SIGKILL (the container has no GPIO chip: it says so).
grep -q 'no GPIO chip in /dev: no coil lines to release' <<<"$(inside journalctl --no-pager -o cat -u piclockd)" ||
    fail "ExecStopPost=piclockd --release-lines did not run after the SIGKILL"
ok "MainPID $pid -> $(main_pid) in $((SECONDS - killed_at)) s, NRestarts $restarts -> $(unit_prop NRestarts); at the kill $hand, $recovered; ticking, hands right"
pid=$(main_pid)

step "6. SIGSTOP: the watchdog (WatchdogSec=$(unit_prop WatchdogUSec)) kills it, systemd restarts it"
restarts=$(unit_prop NRestarts)
invocation=$(unit_prop InvocationID)
hand=$(prop HandPosition)
inside systemctl kill --kill-whom=main -s SIGSTOP piclockd
stopped_at=$SECONDS
wait_for 60 "watchdog restart after SIGSTOP" new_pid
took=$((SECONDS - stopped_at))
# Exactly one of each in the container's whole journal: this one.
watchdog_log=$(inside journalctl --no-pager -o cat -u piclockd)
[ "$(grep -c 'Watchdog timeout' <<<"$watchdog_log")" = 1 ] || fail "not one 'Watchdog timeout' in the journal"
[ "$(grep -c "Failed with result 'watchdog'" <<<"$watchdog_log")" = 1 ] ||
    fail "not one \"Failed with result 'watchdog'\" in the journal"
[ "$(unit_prop NRestarts)" = $((restarts + 1)) ] || fail "NRestarts $restarts -> $(unit_prop NRestarts)"
# Keep-alives every 15 s, limit 30 s (+ RestartSec=2 and the start).
[ "$took" -ge 14 ] && [ "$took" -le 40 ] || fail "restarted $took s after SIGSTOP (expected 15-30 s + restart)"
[ "$(unit_prop InvocationID)" != "$invocation" ] || fail "same invocation after the watchdog"
recovered=$(run_log | grep -oE 'hand position [0-9]+ recovered|unclean stop while moving [0-9]+ -> [0-9]+' | sed -n 1p)
[ -n "$recovered" ] || fail "the daemon restarted by the watchdog recovered no hand position: $(run_log)"
position=$(grep -oE '[0-9]+' <<<"$recovered" | tail -n 1)
[ "$(dial_distance "$position" "$hand")" -le 2 ] || fail "recovered $position ($recovered), the hands were at $hand"
# Catching up the stall (step 5 already waited for the hands to be right).
catching_up() { case $(prop State) in fast-forward | ticking) true ;; *) false ;; esac; }
wait_for 10 "catching up after the watchdog restart" catching_up
ok "MainPID $pid -> $(main_pid) $took s after SIGSTOP (Watchdog timeout, result 'watchdog'), NRestarts $restarts -> $(unit_prop NRestarts); at the stop $hand, $recovered; $(prop State), Offset $(prop Offset) s"

step "7. apt-get purge piclock: nothing left but the user"
# The administrator's file is not the package's (a purge keeps it): the
# administrator removes it.
inside rm /etc/piclock/piclockd.toml
if ! inside env DEBIAN_FRONTEND=noninteractive apt-get purge -y -q piclock >"$work/apt.log" 2>&1; then
    cat "$work/apt.log" >&2
    fail "apt-get purge piclock"
fi
inside rm -r "${dropin%/*}"
inside systemctl daemon-reload
left=$(while read -r f; do inside test -d "$f" || ! inside test -e "$f" || echo "$f"; done <"$work/files")
[ -z "$left" ] || fail "files of the package left after the purge: $left"
for d in /var/lib/piclock /etc/piclock /etc/systemd/system/multi-user.target.wants/piclockd.service; do
    ! inside test -e "$d" || fail "$d is left after the purge"
done
named=$(inside find / -xdev \( -path /proc -o -path /debs \) -prune -o -name '*piclock*' -print)
[ -z "$named" ] || fail "left after the purge: $named"
[ "$(unit_prop LoadState)" = not-found ] || fail "piclockd.service is $(unit_prop LoadState) after the purge"
# (minbase has no procps: the process names straight from /proc.)
! grep -qx 'piclockd.*' <<<"$(inside sh -c 'cat /proc/[0-9]*/comm 2>/dev/null')" || fail "piclockd still runs after the purge"
inside getent passwd piclock >/dev/null || fail "the user piclock was removed (Debian keeps system users)"
ok "$(wc -l <"$work/files") paths of dpkg -L gone, /var/lib/piclock and /etc/piclock gone, not enabled, no *piclock* file left; user piclock kept"
step "all container checks passed"
