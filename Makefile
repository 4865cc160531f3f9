# Build, install and uninstall PiClock (docs/src/guide/install.md).
#
#   make                          release build of piclockd and piclockctl, their man pages and completions
#   sudo make install             install them and the system files; create the user, enable and start piclockd
#   make gtk                      release build of the GTK panel (needs libgtk-4-dev)
#   sudo make install-gtk         install the panel (binary, man page, desktop file, icon)
#   sudo make uninstall           stop and disable piclockd, remove what install added (PURGE=1: and /var/lib/piclock)
#   sudo make uninstall-gtk
#   make install DESTDIR=/tmp/stage PREFIX=/usr    stage for a package: no systemctl, no user created
#
# PREFIX (default /usr/local) places what only people run: binaries, man pages,
# completions, the desktop file and icon. The files that systemd, D-Bus and
# polkit read go under SYSPREFIX (default /usr) whatever PREFIX is: D-Bus and
# polkit read nothing under /usr/local. With a BINDIR other than /usr/bin the
# unit's ExecStart= is rewritten to $(BINDIR)/piclockd on installation.
#
# "sudo make install" does not compile when the binaries exist: run "make"
# first, as yourself. Cargo needs the crates of Cargo.lock once ("make fetch");
# after that every build works without a network (CARGO_FLAGS="--locked --offline").
#
# PROFILE=debug installs the debug build instead (the packaging test uses it);
# PROFILE=pi builds and installs the low-memory profile of Cargo.toml (no LTO,
# no debug info) for a source build on a Pi with 1 GB (docs/src/guide/install.md, "Memory of a source build").

PREFIX     ?= /usr/local
BINDIR     ?= $(PREFIX)/bin
DATADIR    ?= $(PREFIX)/share
MANDIR     ?= $(DATADIR)/man
BASHCOMPDIR ?= $(DATADIR)/bash-completion/completions
# Debian's zsh reads vendor-completions under /usr, site-functions under /usr/local.
ZSHCOMPDIR ?= $(if $(filter /usr,$(PREFIX)),$(DATADIR)/zsh/vendor-completions,$(DATADIR)/zsh/site-functions)
FISHCOMPDIR ?= $(DATADIR)/fish/vendor_completions.d
APPDIR     ?= $(DATADIR)/applications
ICONDIR    ?= $(DATADIR)/icons/hicolor/scalable/apps

SYSPREFIX  ?= /usr
UNITDIR    ?= $(SYSPREFIX)/lib/systemd/system
SYSUSERSDIR ?= $(SYSPREFIX)/lib/sysusers.d
DBUSDIR    ?= $(SYSPREFIX)/share/dbus-1
POLKITDIR  ?= $(SYSPREFIX)/share/polkit-1
# udev rules for plain Debian, linked into /etc/udev/rules.d only where no
# rule gives the GPIO chips and I2C buses a group (udev/piclock-udev-rules.sh,
# which expects them in /usr/share/piclock/udev).
UDEVDATADIR := /usr/share/piclock/udev
UDEV_FILES := udev/60-piclock-gpio.rules udev/60-piclock-i2c.rules udev/60-piclock-rtc.rules udev/piclock-udev-rules.sh

STATEDIR   := /var/lib/piclock
CONFDIR    := /etc/piclock
DESTDIR    ?=
PURGE      ?=
# Binaries are installed stripped, like the packages' (the release profile keeps
# debug info, 100 MB of it); NOSTRIP=1 keeps it.
NOSTRIP    ?=
INSTALL_BIN := install -D -m 755 $(if $(filter 1,$(NOSTRIP)),,-s)

CARGO      ?= cargo
CARGO_FLAGS ?= --locked
PROFILE    ?= release
TARGET_DIR ?= $(or $(CARGO_TARGET_DIR),target)
OUT        := $(TARGET_DIR)/$(PROFILE)
GEN        := $(OUT)/gen
CARGO_BUILD := $(CARGO) build --profile $(if $(filter debug,$(PROFILE)),dev,$(PROFILE)) $(CARGO_FLAGS)

GTK_DESKTOP := piclock-gtk/data/org.piclock.Panel.desktop
GTK_ICON    := piclock-gtk/data/org.piclock.Panel.svg

# Systemd steps run only on a live system: no DESTDIR and systemd as PID 1.
LIVE := $(if $(DESTDIR),,$(if $(wildcard /run/systemd/system),yes))

.PHONY: all build gtk gen fetch install install-gtk uninstall uninstall-gtk clean-gen check-root help

all: build $(GEN)/stamp

help:
	@sed -n '2,/^$$/s/^# \{0,1\}//p' Makefile

fetch:
	$(CARGO) fetch --locked

build:
	$(CARGO_BUILD) -p piclockd -p piclockctl --bins

gtk:
	$(CARGO_BUILD) -p piclock-gtk --bins

# Built only when missing: "sudo make install" after "make" never compiles.
$(OUT)/piclockd $(OUT)/piclockctl:
	$(CARGO_BUILD) -p piclockd -p piclockctl --bins

$(OUT)/piclock-gtk:
	$(CARGO_BUILD) -p piclock-gtk --bins

# Man pages (gzipped, as Debian wants them) and completions; piclockctl's
# come from its clap definitions.
$(GEN)/stamp: $(OUT)/piclockctl man/piclockd.8 Makefile
	rm -rf $(GEN)
	mkdir -p $(GEN)/man1 $(GEN)/man8 $(GEN)/completions
	$(OUT)/piclockctl generate-man $(GEN)/man1 >/dev/null
	gzip -9n $(GEN)/man1/*.1
	gzip -9nc man/piclockd.8 >$(GEN)/man8/piclockd.8.gz
	$(OUT)/piclockctl completions bash >$(GEN)/completions/piclockctl
	$(OUT)/piclockctl completions zsh >$(GEN)/completions/_piclockctl
	$(OUT)/piclockctl completions fish >$(GEN)/completions/piclockctl.fish
	touch $@

# piclock-gtk's page is written by hand; its own rule, so that install-gtk
# needs neither piclockctl nor the stamp (which starts by emptying $(GEN)).
$(GEN)/gtk/piclock-gtk.1.gz: man/piclock-gtk.1
	mkdir -p $(@D)
	gzip -9nc man/piclock-gtk.1 >$@

gen: $(GEN)/stamp $(GEN)/gtk/piclock-gtk.1.gz

clean-gen:
	rm -rf $(GEN)

check-root:
	@if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" -ne 0 ]; then \
	  echo "make: '$(MAKECMDGOALS)' writes to /usr and /etc: run 'sudo make $(MAKECMDGOALS)' (or stage with DESTDIR=...)" >&2; exit 1; \
	fi

install: check-root $(OUT)/piclockd $(OUT)/piclockctl $(GEN)/stamp
	$(INSTALL_BIN) $(OUT)/piclockd $(DESTDIR)$(BINDIR)/piclockd
	$(INSTALL_BIN) $(OUT)/piclockctl $(DESTDIR)$(BINDIR)/piclockctl
	@# Written straight into place: "sudo make install" leaves nothing owned by root in $(TARGET_DIR).
	install -D -m 644 /dev/null $(DESTDIR)$(UNITDIR)/piclockd.service
	sed 's|^ExecStart=/usr/bin/piclockd$$|ExecStart=$(BINDIR)/piclockd|' systemd/piclockd.service >$(DESTDIR)$(UNITDIR)/piclockd.service
	grep -qx 'ExecStart=$(BINDIR)/piclockd' $(DESTDIR)$(UNITDIR)/piclockd.service
	install -D -m 644 systemd/piclock.sysusers $(DESTDIR)$(SYSUSERSDIR)/piclock.conf
	install -D -m 644 dbus/org.piclock.Clock1.conf $(DESTDIR)$(DBUSDIR)/system.d/org.piclock.Clock1.conf
	install -D -m 644 dbus/org.piclock.Clock1.service $(DESTDIR)$(DBUSDIR)/system-services/org.piclock.Clock1.service
	install -D -m 644 dbus/org.piclock.Clock1.xml $(DESTDIR)$(DBUSDIR)/interfaces/org.piclock.Clock1.xml
	install -D -m 644 polkit/org.piclock.Clock1.policy $(DESTDIR)$(POLKITDIR)/actions/org.piclock.Clock1.policy
	install -D -m 644 polkit/50-piclock.rules $(DESTDIR)$(POLKITDIR)/rules.d/50-piclock.rules
	install -D -m 644 -t $(DESTDIR)$(MANDIR)/man8 $(GEN)/man8/piclockd.8.gz
	install -D -m 644 -t $(DESTDIR)$(MANDIR)/man1 $(GEN)/man1/*.1.gz
	install -D -m 644 $(GEN)/completions/piclockctl $(DESTDIR)$(BASHCOMPDIR)/piclockctl
	install -D -m 644 $(GEN)/completions/_piclockctl $(DESTDIR)$(ZSHCOMPDIR)/_piclockctl
	install -D -m 644 $(GEN)/completions/piclockctl.fish $(DESTDIR)$(FISHCOMPDIR)/piclockctl.fish
	install -D -m 644 -t $(DESTDIR)$(UDEVDATADIR) $(UDEV_FILES)
ifeq ($(LIVE),yes)
	systemd-sysusers $(SYSUSERSDIR)/piclock.conf
	sh $(UDEVDATADIR)/piclock-udev-rules.sh link
	@echo "reloading the D-Bus configuration (the bus policy names the new user piclock)"
	systemctl reload dbus.service || busctl call org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus ReloadConfig
	systemctl daemon-reload
	systemctl enable piclockd.service
	@systemctl start piclockd.service || { \
	  echo "make: warning: piclockd.service did not start: see 'systemctl status piclockd' and 'journalctl -u piclockd'" >&2; }
	@echo "installed; add yourself to the group piclock to control the clock without a password: sudo usermod -aG piclock \$$USER"
else
	@echo "$(if $(DESTDIR),DESTDIR is set,systemd is not running as PID 1): skipped systemd-sysusers, D-Bus reload, daemon-reload and 'systemctl enable --now piclockd'"
endif

install-gtk: check-root $(OUT)/piclock-gtk $(GEN)/gtk/piclock-gtk.1.gz
	$(INSTALL_BIN) $(OUT)/piclock-gtk $(DESTDIR)$(BINDIR)/piclock-gtk
	install -D -m 644 -t $(DESTDIR)$(MANDIR)/man1 $(GEN)/gtk/piclock-gtk.1.gz
	install -D -m 644 -t $(DESTDIR)$(APPDIR) $(GTK_DESKTOP)
	install -D -m 644 -t $(DESTDIR)$(ICONDIR) $(GTK_ICON)

uninstall: check-root
ifeq ($(LIVE),yes)
	-systemctl disable --now piclockd.service
	-[ ! -f $(UDEVDATADIR)/piclock-udev-rules.sh ] || sh $(UDEVDATADIR)/piclock-udev-rules.sh unlink
endif
	rm -f $(DESTDIR)$(BINDIR)/piclockd $(DESTDIR)$(BINDIR)/piclockctl
	rm -f $(DESTDIR)$(UNITDIR)/piclockd.service
	rm -f $(DESTDIR)$(SYSUSERSDIR)/piclock.conf
	rm -f $(DESTDIR)$(DBUSDIR)/system.d/org.piclock.Clock1.conf
	rm -f $(DESTDIR)$(DBUSDIR)/system-services/org.piclock.Clock1.service
	rm -f $(DESTDIR)$(DBUSDIR)/interfaces/org.piclock.Clock1.xml
	rm -f $(DESTDIR)$(POLKITDIR)/actions/org.piclock.Clock1.policy
	rm -f $(DESTDIR)$(POLKITDIR)/rules.d/50-piclock.rules
	rm -f $(DESTDIR)$(MANDIR)/man8/piclockd.8.gz
	rm -f $(DESTDIR)$(MANDIR)/man1/piclockctl.1.gz $(DESTDIR)$(MANDIR)/man1/piclockctl-*.1.gz
	rm -f $(DESTDIR)$(BASHCOMPDIR)/piclockctl $(DESTDIR)$(ZSHCOMPDIR)/_piclockctl $(DESTDIR)$(FISHCOMPDIR)/piclockctl.fish
	rm -f $(addprefix $(DESTDIR)$(UDEVDATADIR)/,$(notdir $(UDEV_FILES)))
ifeq ($(LIVE),yes)
	systemctl daemon-reload
endif
ifeq ($(PURGE),1)
	rm -rf $(DESTDIR)$(STATEDIR)
	rmdir $(DESTDIR)$(CONFDIR) 2>/dev/null || true
	@echo "purged $(STATEDIR); kept the user piclock and, if not empty, $(CONFDIR)"
else
	@if [ -d "$(DESTDIR)$(STATEDIR)" ]; then echo "kept $(STATEDIR) (the hands' position): PURGE=1 removes it"; fi
endif

uninstall-gtk: check-root
	rm -f $(DESTDIR)$(BINDIR)/piclock-gtk $(DESTDIR)$(MANDIR)/man1/piclock-gtk.1.gz
	rm -f $(DESTDIR)$(APPDIR)/$(notdir $(GTK_DESKTOP)) $(DESTDIR)$(ICONDIR)/$(notdir $(GTK_ICON))
