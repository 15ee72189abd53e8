# Build and install rovd; works with GNU make and BSD make.
#
#	make				release build with cargo
#	make install			as root, after make
#	make install DESTDIR=/tmp/pkg	staged, for a package
#	make uninstall			everything but /etc/rovd.conf
#	make check			the test suite
#
# install does not build, so that it never runs cargo as root; it takes
# the binaries from BINDIR_SRC. The configuration is installed only if there
# is none yet. INIT chooses the service files: "systemd" (default), or
# "openbsd" (default on OpenBSD) for rc.d(8), or "none".
#
# With the default PREFIX, /usr/local, the systemd files go to
# /usr/local/lib/{systemd/system,sysusers.d,tmpfiles.d}, which systemd reads
# as well as /usr/lib (systemd.unit(5); sysusers and tmpfiles read it too,
# although their manuals list only /usr/lib). A Debian package uses
# PREFIX=/usr, and /usr/lib/systemd/system is /lib/systemd/system there.
# Afterwards, as root:
#
#	systemd-sysusers rovd.conf && systemd-tmpfiles --create rovd.conf
#	systemctl daemon-reload && systemctl enable --now rovd
#
# On OpenBSD, create the user first (useradd -d /var/empty -s /sbin/nologin
# _rovd), then: rcctl enable rovd && rcctl start rovd.

CARGO ?=	cargo
CARGOFLAGS ?=
PREFIX ?=	/usr/local
DESTDIR ?=
BINDIR_SRC ?=	target/release
SYSCONFDIR ?=	/etc
MANSUB !=	test "`uname -s`" = OpenBSD && echo man || echo share/man
MANDIR ?=	$(PREFIX)/$(MANSUB)
INIT !=		test "`uname -s`" = OpenBSD && echo openbsd || echo systemd
UNITDIR ?=	$(PREFIX)/lib/systemd/system
SYSUSERSDIR ?=	$(PREFIX)/lib/sysusers.d
TMPFILESDIR ?=	$(PREFIX)/lib/tmpfiles.d
RCDIR ?=	/etc/rc.d
INSTALL ?=	install

.PHONY: all check clean install install-bin install-systemd install-openbsd \
	install-none uninstall

all:
	$(CARGO) build --release --workspace --bins $(CARGOFLAGS)

check:
	$(CARGO) test --workspace --all-targets --all-features $(CARGOFLAGS)

clean:
	$(CARGO) clean

install: install-bin install-$(INIT)

# Never overwrites an operator's configuration.
install-bin:
	@test -f $(BINDIR_SRC)/rovd || { \
		echo "$(BINDIR_SRC)/rovd: not built; run make first" >&2; exit 1; }
	$(INSTALL) -d -m 0755 $(DESTDIR)$(PREFIX)/sbin $(DESTDIR)$(PREFIX)/bin \
		$(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8 \
		$(DESTDIR)$(SYSCONFDIR)
	$(INSTALL) -c -m 0755 $(BINDIR_SRC)/rovd $(DESTDIR)$(PREFIX)/sbin/rovd
	if [ -f $(BINDIR_SRC)/rovctl ]; then \
		$(INSTALL) -c -m 0755 $(BINDIR_SRC)/rovctl \
		    $(DESTDIR)$(PREFIX)/bin/rovctl; \
	fi
	$(INSTALL) -c -m 0644 man/rovd.8 $(DESTDIR)$(MANDIR)/man8/rovd.8
	$(INSTALL) -c -m 0644 man/rovd.conf.5 $(DESTDIR)$(MANDIR)/man5/rovd.conf.5
	if [ -f man/rovctl.8 ]; then \
		$(INSTALL) -c -m 0644 man/rovctl.8 $(DESTDIR)$(MANDIR)/man8/rovctl.8; \
	fi
	if [ -e $(DESTDIR)$(SYSCONFDIR)/rovd.conf ]; then \
		echo "$(DESTDIR)$(SYSCONFDIR)/rovd.conf exists; not replaced"; \
	else \
		$(INSTALL) -c -m 0644 etc/rovd.conf $(DESTDIR)$(SYSCONFDIR)/rovd.conf; \
	fi

# The unit and the rc.d script name /usr/local/sbin/rovd; they get PREFIX's.
install-systemd:
	$(INSTALL) -d -m 0755 $(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSUSERSDIR) \
		$(DESTDIR)$(TMPFILESDIR)
	sed 's,/usr/local/sbin/rovd,$(PREFIX)/sbin/rovd,g' systemd/rovd.service \
		>$(DESTDIR)$(UNITDIR)/rovd.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/rovd.service
	$(INSTALL) -c -m 0644 systemd/rovd.sysusers $(DESTDIR)$(SYSUSERSDIR)/rovd.conf
	$(INSTALL) -c -m 0644 systemd/rovd.tmpfiles $(DESTDIR)$(TMPFILESDIR)/rovd.conf

install-openbsd:
	$(INSTALL) -d -m 0755 $(DESTDIR)$(RCDIR)
	sed 's,/usr/local/sbin/rovd,$(PREFIX)/sbin/rovd,g' rc.d/rovd \
		>$(DESTDIR)$(RCDIR)/rovd
	chmod 0555 $(DESTDIR)$(RCDIR)/rovd

install-none:

# Removes what install put there, but not the configuration.
uninstall:
	rm -f $(DESTDIR)$(PREFIX)/sbin/rovd $(DESTDIR)$(PREFIX)/bin/rovctl \
		$(DESTDIR)$(MANDIR)/man8/rovd.8 $(DESTDIR)$(MANDIR)/man5/rovd.conf.5 \
		$(DESTDIR)$(MANDIR)/man8/rovctl.8 \
		$(DESTDIR)$(UNITDIR)/rovd.service $(DESTDIR)$(SYSUSERSDIR)/rovd.conf \
		$(DESTDIR)$(TMPFILESDIR)/rovd.conf
	if [ "$(INIT)" = openbsd ]; then rm -f $(DESTDIR)$(RCDIR)/rovd; fi
