# Links PiClock's udev rules into /etc/udev/rules.d where no rule gives the
# GPIO chips (/dev/gpiochip*) or the I2C buses (/dev/i2c-*) a group yet
# (plain Debian), and leaves systems that have one alone (Raspberry Pi OS:
# 99-com.rules gives them to gpio and i2c); the rule that lets the group i2c
# read RTC devices on I2C is linked everywhere. Run by the piclock package's
# maintainer scripts and by make install / uninstall.
#
#   sh piclock-udev-rules.sh link [ROOT]     # link what is missing; reload udev
#   sh piclock-udev-rules.sh unlink [ROOT]   # remove the links made by "link"
#
# (Run with sh: it is data of the package, not a command, hence no #! line
# and mode 0644.)
#
# ROOT (default: $DPKG_ROOT, else /) is the file system root to work on;
# udev is reloaded only on the running system (ROOT /) when it runs.
set -e

DIR=/usr/share/piclock/udev
action=${1:-}
root=${2:-${DPKG_ROOT:-}}
root=${root%/}

# has_rule SUBSYSTEM OURS: whether a rules file other than OURS (and other
# than a link to ours) sets GROUP= for devices of SUBSYSTEM.
has_rule() {
    for f in "$root"/etc/udev/rules.d/*.rules "$root"/run/udev/rules.d/*.rules \
        "$root"/usr/lib/udev/rules.d/*.rules "$root"/lib/udev/rules.d/*.rules; do
        [ -f "$f" ] || continue
        [ "$(basename "$f")" = "$2" ] && continue
        grep -Eq "^[^#]*SUBSYSTEM==\"$1\".*GROUP[:]?=" "$f" && return 0
    done
    return 1
}

reload() {
    if [ -z "$root" ] && [ -d /run/udev ] && command -v udevadm >/dev/null 2>&1; then
        udevadm control --reload >/dev/null 2>&1 || true
        udevadm trigger --action=change --subsystem-match=gpio --subsystem-match=i2c-dev --subsystem-match=rtc >/dev/null 2>&1 || true
    fi
}

case "$action" in
link)
    changed=
    # "-": linked everywhere (no distribution gives RTC devices to i2c).
    for pair in gpio:60-piclock-gpio.rules i2c-dev:60-piclock-i2c.rules -:60-piclock-rtc.rules; do
        subsystem=${pair%%:*} rules=${pair#*:}
        link=$root/etc/udev/rules.d/$rules
        [ -L "$link" ] && continue
        if [ "$subsystem" != - ] && has_rule "$subsystem" "$rules"; then
            echo "piclock: a udev rule gives $subsystem devices a group already; $rules not linked"
            continue
        fi
        mkdir -p "$root/etc/udev/rules.d"
        ln -s "$DIR/$rules" "$link"
        echo "piclock: linked $DIR/$rules into /etc/udev/rules.d"
        changed=1
    done
    [ -z "$changed" ] || reload
    ;;
unlink)
    changed=
    for rules in 60-piclock-gpio.rules 60-piclock-i2c.rules 60-piclock-rtc.rules; do
        link=$root/etc/udev/rules.d/$rules
        if [ -L "$link" ] && [ "$(readlink "$link")" = "$DIR/$rules" ]; then
            rm -f "$link"
            changed=1
        fi
    done
    [ -z "$changed" ] || reload
    ;;
*)
    echo "usage: sh piclock-udev-rules.sh link|unlink [ROOT]" >&2
    exit 2
    ;;
esac
