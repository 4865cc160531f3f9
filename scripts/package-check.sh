#!/usr/bin/env bash
# Packaging check; scripts/test.sh runs it after its debug build, and it uses
# those debug binaries (make PROFILE=debug, cargo deb --profile dev): no
# release build.
#
#   scripts/package-check.sh
#
# 1. make install / install-gtk DESTDIR=<tmp> PREFIX=/usr install exactly the
#    files listed in docs/src/guide/install.md ("Where files go"), binaries
#    0755, the rest 0644;
#    PREFIX=/usr/local moves binaries, man pages, completions, desktop file
#    and icon only, and rewrites the unit's ExecStart=.
# 2. systemd-analyze verify accepts the installed unit (ExecStart= pointed at
#    the installed binary, as in systemd/check.sh), and the man pages named
#    by its Documentation= are installed.
# 3. make uninstall / uninstall-gtk leave only directories;
#    <DESTDIR>/var/lib/piclock stays, and goes with PURGE=1.
# 4. scripts/package.sh --debug builds piclock (amd64, arm64, armhf) and
#    piclock-gtk (amd64) with cargo-deb: dpkg-deb -c lists the same files
#    (plus /usr/share/doc/<pkg>/ and /usr/share/lintian/overrides/<pkg>);
#    the arm64 and armhf packages hold exactly the amd64 package's files,
#    with aarch64 and ARMv7 hard-float binaries (file, readelf); the control fields hold the
#    dependencies, and the maintainer scripts (dpkg-deb -e) create the user,
#    reload D-Bus, enable and start the service in that order, stop it on
#    removal and delete /var/lib/piclock on purge.
# 5. dpkg --root=<tmp> installs piclock into an empty root (maintainer scripts
#    run with DPKG_ROOT): user and groups created, service enabled, the udev
#    rules for gpio and i2c linked (no such rule there); a purge leaves
#    neither files nor /var/lib/piclock nor the enablement nor the links.
#    Again with Raspberry Pi OS's rules present: nothing linked.
# 6. lintian reports no error and no warning (overrides, each explained, in
#    debian/*/lintian-overrides); its other tags are printed.
#
# The packages are left in <target>/package-check/ (replaced on every run):
# scripts/test.sh installs piclock_*_amd64.deb from there in a booted Debian 12
# container next (systemd/nspawn-check.sh).
#
# Side effect: cargo-deb deletes older piclock*.deb files from
# <target>/debian even when writing elsewhere, and leaves its stripped copies
# in <target>/piclockd/ and <target>/piclock-gtk/.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
debs=${CARGO_TARGET_DIR:-target}/package-check

fail() {
    echo "FAIL: $*" >&2
    exit 1
}

# Where the installed-files lists are: the book's install chapter.
lists=docs/src/guide/install.md

# The file list under "<!-- installed-files: $1 ...-->" in $lists: the lines
# of the fenced block that follows.
listed_files() {
    awk -v want="<!-- installed-files: $1 " '
        index($0, want) == 1 { found = 1; next }
        found && /^```/ { if (inside) exit; inside = 1; next }
        inside { print }
    ' "$lists" | sort
}

# Regular files and symlinks under a root, as absolute paths.
files_under() {
    (cd "$1" && find . -not -type d | sed 's|^\.||' | sort)
}

# compare WHAT EXPECTED-FILE ACTUAL-FILE
compare() {
    if ! diff -u --label "$lists ($1)" --label "installed ($1)" "$2" "$3"; then
        fail "$1: the files differ from the list in $lists (- only in the list, + only installed)"
    fi
    echo "OK: $1: $(wc -l <"$3") files, as listed in $lists"
}

listed_files piclock >"$tmp/piclock.list"
listed_files piclock-gtk >"$tmp/gtk.list"
[ -s "$tmp/piclock.list" ] || fail "$lists: no '<!-- installed-files: piclock ' list"
[ -s "$tmp/gtk.list" ] || fail "$lists: no '<!-- installed-files: piclock-gtk ' list"

make_quiet() {
    if ! make --no-print-directory PROFILE=debug "$@" >"$tmp/make.log" 2>&1; then
        cat "$tmp/make.log" >&2
        fail "make $*"
    fi
}

echo "== make install DESTDIR=… PREFIX=/usr"
root=$tmp/root
make_quiet install DESTDIR="$root" PREFIX=/usr
grep -q "DESTDIR is set: skipped systemd-sysusers" "$tmp/make.log" || fail "make install: no message about the skipped systemd steps"
files_under "$root" >"$tmp/piclock.installed"
compare "make install" "$tmp/piclock.list" "$tmp/piclock.installed"
make_quiet install-gtk DESTDIR="$root/gtk" PREFIX=/usr
files_under "$root/gtk" >"$tmp/gtk.installed"
compare "make install-gtk" "$tmp/gtk.list" "$tmp/gtk.installed"
wrong_modes=$(find "$root" -type f \( \( -path '*/bin/*' -not -perm 0755 \) -o \( -not -path '*/bin/*' -not -perm 0644 \) \))
[ -z "$wrong_modes" ] || fail "modes other than 0755 (bin) and 0644: $wrong_modes"
echo "OK: modes 0755 in bin/, 0644 elsewhere"

echo "== systemd-analyze verify of the installed unit"
unit=$root/usr/lib/systemd/system/piclockd.service
grep -qx 'ExecStart=/usr/bin/piclockd' "$unit" || fail "$unit: expected ExecStart=/usr/bin/piclockd"
sed "s|^ExecStart=/usr/bin/piclockd\$|ExecStart=$root/usr/bin/piclockd|" "$unit" >"$tmp/piclockd.service"
if ! out=$(systemd-analyze verify --man=no "$tmp/piclockd.service" 2>&1) || [ -n "$out" ]; then
    printf '%s\n' "$out" >&2
    fail "systemd-analyze verify of the installed unit"
fi
docs=$(sed -n 's/^Documentation=//p' "$unit")
for doc in $docs; do
    page=${doc#man:}
    name=${page%(*}
    section=${page#*(}
    section=${section%)}
    [ -f "$root/usr/share/man/man$section/$name.$section.gz" ] || fail "Documentation=$doc: not installed"
done
echo "OK: no complaints; Documentation= $docs installed"

echo "== make install DESTDIR=… (default PREFIX=/usr/local)"
make_quiet install install-gtk DESTDIR="$tmp/local"
files_under "$tmp/local" >"$tmp/local.installed"
sed -e 's|^/usr/bin/|/usr/local/bin/|' \
    -e 's|^/usr/share/zsh/vendor-completions/|/usr/local/share/zsh/site-functions/|' \
    -e 's#^/usr/share/\(man\|bash-completion\|fish\|applications\|icons\)/#/usr/local/share/\1/#' \
    "$tmp/piclock.list" "$tmp/gtk.list" | sort >"$tmp/local.list"
compare "make install install-gtk, PREFIX=/usr/local" "$tmp/local.list" "$tmp/local.installed"
grep -qx 'ExecStart=/usr/local/bin/piclockd' "$tmp/local/usr/lib/systemd/system/piclockd.service" ||
    fail "PREFIX=/usr/local: the unit's ExecStart= is not /usr/local/bin/piclockd"
echo "OK: ExecStart=/usr/local/bin/piclockd"

echo "== make uninstall DESTDIR=… PREFIX=/usr"
mkdir -p "$root/var/lib/piclock" "$root/etc/piclock"
echo state >"$root/var/lib/piclock/position"
make_quiet uninstall DESTDIR="$root" PREFIX=/usr
make_quiet uninstall-gtk DESTDIR="$root/gtk" PREFIX=/usr
[ "$(files_under "$root")" = /var/lib/piclock/position ] || {
    files_under "$root" >&2
    fail "make uninstall left files (above) besides /var/lib/piclock/position"
}
make_quiet uninstall DESTDIR="$root" PREFIX=/usr PURGE=1
[ -z "$(files_under "$root")" ] || fail "make uninstall PURGE=1 left files: $(files_under "$root")"
if [ -e "$root/var/lib/piclock" ] || [ -e "$root/etc/piclock" ]; then
    fail "PURGE=1 kept /var/lib/piclock or an empty /etc/piclock"
fi
make_quiet uninstall uninstall-gtk DESTDIR="$tmp/local"
[ -z "$(files_under "$tmp/local")" ] || fail "make uninstall (PREFIX=/usr/local) left files: $(files_under "$tmp/local")"
echo "OK: only directories left; /var/lib/piclock kept, removed with PURGE=1"

echo "== cargo-deb (debug binaries; piclock for amd64, arm64 and armhf; into $debs)"
# The ARM debug binaries: scripts/arm-check.sh built them before this in
# scripts/test.sh (then this is a no-op).
source scripts/deps.sh
deps_cross
for t in aarch64-unknown-linux-gnu armv7-unknown-linux-gnueabihf; do
    cargo build -q -p piclockd -p piclockctl --target "$t" || fail "cargo build --target $t"
done
rm -rf "$debs"
if ! scripts/package.sh --debug "$debs" >"$tmp/deb.log" 2>&1; then
    cat "$tmp/deb.log" >&2
    fail "scripts/package.sh --debug"
fi
grep -v -e 'dev profile is not supported' -e 'To enable debug symbols' "$tmp/deb.log" || true

check_deb() { # PACKAGE LIST
    local pkg=$1 list=$2 deb
    deb=$(compgen -G "$debs/${pkg}_*_amd64.deb") || fail "no ${pkg}_*.deb"
    dpkg-deb -c "$deb" >"$tmp/$pkg.contents"
    awk '$1 !~ /^d/ { sub(/^\./, "", $6); print $6 }' "$tmp/$pkg.contents" |
        grep -v -e "^/usr/share/doc/$pkg/" -e "^/usr/share/lintian/overrides/$pkg\$" | sort >"$tmp/$pkg.deb-files"
    compare "${deb##*/}" "$list" "$tmp/$pkg.deb-files"
    for f in "/usr/share/doc/$pkg/copyright" "/usr/share/doc/$pkg/changelog.Debian.gz" "/usr/share/lintian/overrides/$pkg"; do
        grep -q " \.$f\$" "$tmp/$pkg.contents" || fail "${deb##*/}: no $f"
    done
    if awk '$1 !~ /^d/ && $2 != "0/0"' "$tmp/$pkg.contents" | grep .; then
        fail "${deb##*/}: files not owned by root (above)"
    fi
    rm -rf "$tmp/ctl-$pkg"
    dpkg-deb -e "$deb" "$tmp/ctl-$pkg"
    for script in "$tmp/ctl-$pkg"/{preinst,postinst,prerm,postrm}; do
        [ ! -e "$script" ] || sh -n "$script" || fail "$script: syntax error"
    done
}

# in_order FILE WHAT REGEX...: lines matching the extended regexes follow
# each other in FILE, in that order (each searched after the previous match).
# (The regexes are single-quoted: their $ are the scripts' own.)
in_order() {
    local file=$1 what=$2 last=0 n re
    shift 2
    for re in "$@"; do
        n=$(RE=$re awk -v from="$last" 'NR > from && $0 ~ ENVIRON["RE"] { print NR; exit }' "$file")
        [ -n "$n" ] || fail "$what: no line matching '$re' after line $last"
        last=$n
    done
}

check_deb piclock "$tmp/piclock.list"
ctl=$tmp/ctl-piclock
depends=$(dpkg-deb -f "$(compgen -G "$debs/piclock_*_amd64.deb")" Depends)
for dep in 'libc6' 'dbus' 'polkitd' 'systemd \| systemd-standalone-sysusers'; do
    grep -Eq "(^|, )$dep" <<<"$depends" || fail "piclock Depends: $depends: no $dep"
done
# shellcheck disable=SC2016
in_order "$ctl/postinst" "piclock postinst" \
    '^ *systemd-sysusers .*piclock\.conf' \
    'org\.freedesktop\.DBus\.ReloadConfig' \
    'deb-systemd-helper enable piclockd\.service' \
    '_dh_action=start' \
    'deb-systemd-invoke \$_dh_action piclockd\.service'
in_order "$ctl/prerm" "piclock prerm" 'deb-systemd-invoke stop piclockd\.service'
# shellcheck disable=SC2016
in_order "$ctl/postrm" "piclock postrm" \
    'deb-systemd-helper purge piclockd\.service' \
    '^if \[ "\$1" = "purge" \]; then$' \
    '^ *rm -rf "\$\{DPKG_ROOT:-\}/var/lib/piclock"$'
echo "OK: piclock maintainer scripts: user, D-Bus reload, enable, start; stop; purge /var/lib/piclock"

echo "== dpkg --root: install and purge piclock in an empty root"
if [ "$(id -u)" -ne 0 ]; then
    [ "${CI:-}" != true ] || fail "CI=true and not root: dpkg --root needs root"
    echo "SKIPPED: dpkg --root needs root (as in CI)"
else
    # The maintainer scripts run on this machine with DPKG_ROOT set
    # (--force-script-chrootless): systemd-sysusers --root, deb-systemd-helper
    # and the purge honour it. Only the generated 'systemctl daemon-reload' and
    # 'deb-systemd-invoke' would reach the host, and only where systemd is PID 1
    # (the start of a unit the host lacks fails quietly there).
    droot=$tmp/droot
    mkdir -p "$droot/var/lib/dpkg/info" "$droot/var/lib/dpkg/updates" "$droot/etc" "$droot/var/log"
    touch "$droot/var/lib/dpkg/status" "$droot/var/lib/dpkg/available"
    dpkg_root() {
        if ! dpkg --root="$droot" --log="$droot/var/log/dpkg.log" --force-script-chrootless --force-depends "$@" >"$tmp/dpkg.log" 2>&1; then
            cat "$tmp/dpkg.log" >&2
            fail "dpkg --root $*"
        fi
    }
    dpkg_root -i "$(compgen -G "$debs/piclock_*_amd64.deb")"
    grep -q '^piclock:x:[0-9]*:[0-9]*:[^:]*:/var/lib/piclock:/usr/sbin/nologin$' "$droot/etc/passwd" || fail "dpkg -i: no user piclock"
    for g in gpio i2c; do
        grep -Eq "^$g:x:[0-9]+:(.*,)?piclock(,|\$)" "$droot/etc/group" || fail "dpkg -i: piclock is not in group $g"
    done
    wants=$droot/etc/systemd/system/multi-user.target.wants/piclockd.service
    [ "$(readlink "$wants")" = /usr/lib/systemd/system/piclockd.service ] || fail "dpkg -i: piclockd.service not enabled ($wants)"
    # Plain Debian (no udev rule for gpio or i2c-dev): both rules linked.
    for r in 60-piclock-gpio.rules 60-piclock-i2c.rules 60-piclock-rtc.rules; do
        [ "$(readlink "$droot/etc/udev/rules.d/$r")" = "/usr/share/piclock/udev/$r" ] ||
            fail "dpkg -i on a root without udev rules for GPIO/I2C: /etc/udev/rules.d/$r not linked"
    done
    rules_dir=$droot/usr/share/piclock/udev
    grep -Eqx 'SUBSYSTEM=="gpio", KERNEL=="gpiochip\*", GROUP="gpio", MODE="0660"' "$rules_dir/60-piclock-gpio.rules" ||
        fail "60-piclock-gpio.rules: no rule giving /dev/gpiochip* to gpio, mode 0660"
    grep -Eqx 'SUBSYSTEM=="i2c-dev", KERNEL=="i2c-\[0-9\]\*", GROUP="i2c", MODE="0660"' "$rules_dir/60-piclock-i2c.rules" ||
        fail "60-piclock-i2c.rules: no rule giving /dev/i2c-* to i2c, mode 0660"
    grep -Eqx 'SUBSYSTEM=="rtc", KERNEL=="rtc\[0-9\]\*", SUBSYSTEMS=="i2c", GROUP="i2c", MODE="0640"' "$rules_dir/60-piclock-rtc.rules" ||
        fail "60-piclock-rtc.rules: no rule giving RTCs on I2C to i2c, read-only"
    while read -r f; do
        [ -f "$droot$f" ] || fail "dpkg -i: $f not installed"
    done <"$tmp/piclock.list"
    mkdir -p "$droot/var/lib/piclock" "$droot/etc/piclock"
    echo state >"$droot/var/lib/piclock/position"
    dpkg_root --purge piclock
    [ ! -e "$droot/var/lib/piclock" ] || fail "dpkg --purge kept /var/lib/piclock"
    [ ! -e "$droot/etc/piclock" ] || fail "dpkg --purge kept the empty /etc/piclock"
    [ ! -L "$wants" ] || fail "dpkg --purge kept $wants"
    [ -z "$(ls -A "$droot/etc/udev/rules.d" 2>/dev/null)" ] || fail "dpkg --purge kept udev rules: $(ls "$droot/etc/udev/rules.d")"
    if [ -d "$droot/usr" ] && [ -n "$(files_under "$droot/usr")" ]; then
        fail "dpkg --purge left files under /usr: $(files_under "$droot/usr")"
    fi
    echo "OK: user piclock (groups gpio, i2c), service enabled, udev rules linked; purge removed the files, the state, the enablement and the links"

    # Raspberry Pi OS: its 99-com.rules gives gpio and i2c-dev devices their
    # groups already, so the package links none of its own rules.
    mkdir -p "$droot/usr/lib/udev/rules.d"
    printf '%s\n' 'SUBSYSTEM=="i2c-dev", GROUP="i2c", MODE="0660"' 'SUBSYSTEM=="gpio", GROUP="gpio", MODE="0660"' \
        >"$droot/usr/lib/udev/rules.d/99-com.rules"
    dpkg_root -i "$(compgen -G "$debs/piclock_*_amd64.deb")"
    grep -q 'a udev rule gives gpio devices a group already' "$tmp/dpkg.log" || fail "dpkg -i with 99-com.rules: no message about the existing gpio rule"
    [ "$(ls -A "$droot/etc/udev/rules.d" 2>/dev/null)" = 60-piclock-rtc.rules ] ||
        fail "dpkg -i with Raspberry Pi OS's 99-com.rules: linked $(ls "$droot/etc/udev/rules.d"), not only 60-piclock-rtc.rules"
    dpkg_root --purge piclock
    [ -z "$(ls -A "$droot/etc/udev/rules.d" 2>/dev/null)" ] || fail "dpkg --purge kept udev rules: $(ls "$droot/etc/udev/rules.d")"
    echo "OK: with Raspberry Pi OS's 99-com.rules, only the RTC rule of ours is linked, and purged"
fi

# arch_deb ARCH FILE-PATTERN: the piclock package for ARCH holds the amd64
# package's files (modes and owners too), declares ARCH and libc6, and its
# binaries are what `file` says a Pi of that architecture runs.
arch_deb() {
    local arch=$1 want=$2 deb amd64 f desc
    deb=$(compgen -G "$debs/piclock_*_$arch.deb") || fail "no piclock_*_$arch.deb"
    amd64=$(compgen -G "$debs/piclock_*_amd64.deb")
    [ "$(dpkg-deb -f "$deb" Architecture)" = "$arch" ] || fail "${deb##*/}: Architecture is $(dpkg-deb -f "$deb" Architecture)"
    grep -q 'libc6' <<<"$(dpkg-deb -f "$deb" Depends)" || fail "${deb##*/}: Depends has no libc6"
    listing() { dpkg-deb -c "$1" | awk '{ print $1, $2, $6 }' | sort; }
    if ! diff -u --label "${amd64##*/}" --label "${deb##*/}" <(listing "$amd64") <(listing "$deb"); then
        fail "${deb##*/}: its files differ from the amd64 package's (above)"
    fi
    rm -rf "$tmp/x-$arch"
    dpkg-deb -x "$deb" "$tmp/x-$arch"
    for f in piclockd piclockctl; do
        desc=$(file -b "$tmp/x-$arch/usr/bin/$f")
        [[ "$desc" =~ $want ]] || fail "${deb##*/}: /usr/bin/$f is $desc"
    done
    echo "OK: ${deb##*/}: $(listing "$deb" | wc -l) entries, as in the amd64 package; /usr/bin/piclockd: ${desc%%, BuildID*}"
}
arch_deb arm64 'ELF 64-bit LSB .*ARM aarch64.*stripped'
arch_deb armhf 'ELF 32-bit LSB .*ARM, EABI5 .*stripped'
armhf_flags=$(readelf -h "$tmp/x-armhf/usr/bin/piclockd" | grep Flags)
grep -q 'hard-float ABI' <<<"$armhf_flags" || fail "piclock armhf: piclockd is not hard-float: $armhf_flags"
echo "OK: piclock armhf: ${armhf_flags##*, }"

check_deb piclock-gtk "$tmp/gtk.list"
gtk_depends=$(dpkg-deb -f "$(compgen -G "$debs/piclock-gtk_*_amd64.deb")" Depends)
grep -Eq '(^|, )piclock(,|$| )' <<<"$gtk_depends" || fail "piclock-gtk Depends: $gtk_depends: no piclock"
grep -q 'libgtk-4' <<<"$gtk_depends" || fail "piclock-gtk Depends: $gtk_depends: no libgtk-4"
echo "OK: piclock-gtk depends on piclock and GTK 4"

echo "== lintian"
rc=0
lintian --fail-on error,warning --display-info --pedantic "$debs"/*.deb >"$tmp/lintian.log" 2>&1 || rc=$?
grep -v '^running with root privileges is not recommended' "$tmp/lintian.log" || true
[ "$rc" -eq 0 ] || fail "lintian: errors or warnings (above; exit status $rc)"
echo "OK: lintian: no error, no warning"
