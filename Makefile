# xmppd — top-level build.  `make` builds everything, `make run` runs the server on
# etc/xmppd.yml, `make test` runs every test, `make check-asan` runs them under
# AddressSanitizer + UndefinedBehaviorSanitizer.

ifeq ($(origin CC),default)
CC      := gcc
endif
B       ?= build
PKGS    := libxml-2.0 gnutls yaml-0.1 libidn lmdb
OPT     ?= -O2
CFLAGS  += -std=c17 $(OPT) -g -Wall -Wextra -Werror -D_GNU_SOURCE -I. \
           -fno-strict-aliasing $(SANITIZE)
PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
LDLIBS  += $(PKG_LIBS) -ldl -lm
PYTHON  ?= /usr/bin/python3

# Debian packages the build, the server and the tests need.
DEB_PKGS := gcc make pkg-config libxml2-dev libgnutls28-dev liblmdb-dev libyaml-dev \
            libidn-dev libcmocka-dev python3-slixmpp python3-aioxmpp python3-cryptography openssl \
            groff-base logrotate

COMMON_SRC := $(wildcard lib/*.c) $(filter-out shm/dump.c,$(wildcard shm/*.c))
XMPPD_SRC  := $(filter-out daemon/xmppctl.c,$(wildcard daemon/*.c)) \
              $(wildcard router/*.c) $(wildcard workers/*.c)
# A module is modules/NAME.c, or the folder modules/NAME/ whose .c files
# together make NAME.so (one plugin, one descriptor, in several files).
MOD_SRC    := $(wildcard modules/*.c)
MOD_DIRS   := $(sort $(patsubst modules/%/,%,$(dir $(wildcard modules/*/*.c))))
MOD_NAMES  := $(MOD_SRC:modules/%.c=%) $(MOD_DIRS)
TEST_SRC   := $(wildcard test/unit/test_*.c)
# Modules only the end-to-end tests load (never installed).
TEST_MOD_SRC := $(wildcard test/modules/*.c)

COMMON_OBJ := $(COMMON_SRC:%.c=$(B)/%.o)
XMPPD_OBJ  := $(XMPPD_SRC:%.c=$(B)/%.o)
MODULES    := $(MOD_NAMES:%=$(B)/modules/%.so)
TESTS      := $(TEST_SRC:test/unit/%.c=$(B)/test/%)
TEST_MODULES := $(TEST_MOD_SRC:test/modules/%.c=$(B)/test/modules/%.so)

BINS := $(B)/xmppd $(B)/xmppctl $(B)/xmppd-shm-dump

.PHONY: all deps run test unit e2e check-man check-asan bench clean install uninstall \
        layering-router
# Objects of test programs and modules are kept, not deleted as intermediates.
.SECONDARY:
all: $(BINS) $(MODULES)

$(B)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -MMD -MP -c $< -o $@

$(B)/modules/%.o: modules/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -fPIC -MMD -MP -c $< -o $@

$(B)/test/modules/%.o: test/modules/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -fPIC -MMD -MP -c $< -o $@

# Modules resolve the router API and the lib/ functions against the xmppd binary,
# which exports its symbols (-rdynamic); a module exports only its descriptor
# (the version script makes every other symbol local, also those its files share).
MOD_LDFLAGS := -Wl,--version-script=modules/module.map
$(B)/modules/%.so: $(B)/modules/%.o modules/module.map
	$(CC) -shared $(SANITIZE) $(MOD_LDFLAGS) -o $@ $(filter %.o,$^)

define MOD_DIR_RULE
$(B)/modules/$(1).so: $(patsubst %.c,$(B)/%.o,$(wildcard modules/$(1)/*.c)) modules/module.map
	$$(CC) -shared $$(SANITIZE) $$(MOD_LDFLAGS) -o $$@ $$(filter %.o,$$^)
endef
$(foreach m,$(MOD_DIRS),$(eval $(call MOD_DIR_RULE,$(m))))

$(B)/test/modules/%.so: $(B)/test/modules/%.o
	$(CC) -shared $(SANITIZE) -o $@ $<

$(B)/xmppd: $(XMPPD_OBJ) $(COMMON_OBJ)
	$(CC) $(SANITIZE) -rdynamic -o $@ $^ $(LDLIBS)

$(B)/xmppctl: $(B)/daemon/xmppctl.o $(COMMON_OBJ)
	$(CC) $(SANITIZE) -o $@ $^ $(LDLIBS)

$(B)/xmppd-shm-dump: $(B)/shm/dump.o $(COMMON_OBJ)
	$(CC) $(SANITIZE) -o $@ $^ $(LDLIBS)

# The load generator: its own sources plus the shared SCRAM/base64 code.
BENCH_SRC := $(wildcard bench/*.c)
bench: $(B)/xmppd-bench
$(B)/xmppd-bench: $(BENCH_SRC:%.c=$(B)/%.o) $(COMMON_OBJ)
	$(CC) $(SANITIZE) -o $@ $^ $(LDLIBS)

$(B)/test/%: $(B)/test/unit/%.o $(COMMON_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(SANITIZE) -o $@ $^ $(LDLIBS) -lcmocka

# Unit tests of router pieces link those pieces too (leaves of router/: they
# call nothing else of it, test/layering-router.sh says so).
$(B)/test/test_timer: $(B)/router/timer.o
$(B)/test/test_routes: $(B)/router/routes.o $(B)/router/sessions.o

deps:
	@missing=""; for p in $(DEB_PKGS); do \
	  dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q '^install ok installed' \
	    || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing:$$missing"; \
	  SUDO=; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  $$SUDO apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $$missing < /dev/null; \
	fi

# A self-signed certificate for localhost, made once, so that the default
# configuration (STARTTLS required) works out of the box.
var/cert/localhost.pem:
	@mkdir -p var/cert
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 \
	  -subj /CN=localhost -addext subjectAltName=DNS:localhost \
	  -keyout var/cert/localhost.key -out var/cert/localhost.crt 2>/dev/null
	cat var/cert/localhost.crt var/cert/localhost.key > $@
	chmod 600 $@ var/cert/localhost.key

run: deps
	$(MAKE) all var/cert/localhost.pem
	@mkdir -p var/data var/run
	$(B)/xmppd -c etc/xmppd.yml

unit: $(TESTS)
	@pass=0; fail=0; for t in $(TESTS); do \
	  if $$t; then pass=$$((pass+1)); else fail=$$((fail+1)); echo "FAILED: $$t"; fi; \
	done; echo "unit: $$pass passed, $$fail failed"; [ $$fail -eq 0 ]

e2e: all $(TEST_MODULES)
	XMPPD_BUILD=$(B) $(PYTHON) test/e2e/run.py

# Man pages must format without a single warning.
check-man:
	@out=$$(for f in man/*.[0-9]; do groff -man -ww -z $$f 2>&1; done); \
	if [ -n "$$out" ]; then echo "$$out"; exit 1; fi; echo "man pages: clean"

# The files of router/ call each other without a cycle.
layering-router: all
	sh test/layering-router.sh $(B) router

test: deps
	$(MAKE) all bench $(TESTS) $(TEST_MODULES)
	$(MAKE) check-man
	$(MAKE) layering-router
	$(MAKE) unit
	$(MAKE) e2e

check-asan: deps
	$(MAKE) B=build-asan OPT=-O1 \
	  SANITIZE="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" \
	  all bench unit e2e

clean:
	rm -rf build build-asan build-fuzz

# Installation: `make install [PREFIX=/usr/local] [DESTDIR=...]`.  Binaries in
# PREFIX/sbin (xmppd) and PREFIX/bin (xmppctl, xmppd-shm-dump), plugins in
# PREFIX/lib/xmppd/modules, man pages in PREFIX/share/man, the systemd unit in
# PREFIX/lib/systemd/system; in SYSCONFDIR (/etc when PREFIX is /usr, else
# PREFIX/etc): xmppd/xmppd.yml (from etc/xmppd.yml.dist, never over an existing
# one), init.d/xmppd and logrotate.d/xmppd.  @NAME@ paths are substituted.
# Data, run and log directories (/var/lib/xmppd, /run/xmppd, /var/log/xmppd)
# are made by the init script or by systemd, owned by the user xmppd.
PREFIX     ?= /usr/local
ifeq ($(PREFIX),/usr)
SYSCONFDIR ?= /etc
else
SYSCONFDIR ?= $(PREFIX)/etc
endif
BINDIR     ?= $(PREFIX)/bin
SBINDIR    ?= $(PREFIX)/sbin
MODULESDIR ?= $(PREFIX)/lib/xmppd/modules
MANDIR     ?= $(PREFIX)/share/man
UNITDIR    ?= $(PREFIX)/lib/systemd/system
INSTALL    ?= install
SUBST = sed -e 's|@SBINDIR@|$(SBINDIR)|g' -e 's|@BINDIR@|$(BINDIR)|g' \
            -e 's|@SYSCONFDIR@|$(SYSCONFDIR)|g' -e 's|@MODULESDIR@|$(MODULESDIR)|g' \
            -e 's|@UNITDIR@|$(UNITDIR)|g'

install: all
	$(INSTALL) -d -m 0755 $(DESTDIR)$(SBINDIR) $(DESTDIR)$(BINDIR) $(DESTDIR)$(MODULESDIR) \
	  $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(UNITDIR) \
	  $(DESTDIR)$(SYSCONFDIR)/xmppd $(DESTDIR)$(SYSCONFDIR)/init.d \
	  $(DESTDIR)$(SYSCONFDIR)/logrotate.d
	$(INSTALL) -m 0755 $(B)/xmppd $(DESTDIR)$(SBINDIR)/xmppd
	$(INSTALL) -m 0755 $(B)/xmppctl $(B)/xmppd-shm-dump $(DESTDIR)$(BINDIR)/
	$(INSTALL) -m 0644 $(MODULES) $(DESTDIR)$(MODULESDIR)/
	$(INSTALL) -m 0644 $(wildcard man/*.5) $(DESTDIR)$(MANDIR)/man5/
	$(INSTALL) -m 0644 $(wildcard man/*.8) $(DESTDIR)$(MANDIR)/man8/
	@set -e; tmp=$$(mktemp); trap 'rm -f "$$tmp"' EXIT; \
	$(SUBST) etc/init.d/xmppd > "$$tmp"; \
	$(INSTALL) -m 0755 "$$tmp" $(DESTDIR)$(SYSCONFDIR)/init.d/xmppd; \
	$(SUBST) etc/xmppd.service > "$$tmp"; \
	$(INSTALL) -m 0644 "$$tmp" $(DESTDIR)$(UNITDIR)/xmppd.service; \
	$(SUBST) etc/logrotate.d/xmppd > "$$tmp"; \
	$(INSTALL) -m 0644 "$$tmp" $(DESTDIR)$(SYSCONFDIR)/logrotate.d/xmppd; \
	conf=$(DESTDIR)$(SYSCONFDIR)/xmppd/xmppd.yml; \
	if [ -e "$$conf" ]; then \
	  echo "$$conf exists: kept (the new example is not installed)"; \
	else \
	  $(SUBST) etc/xmppd.yml.dist > "$$tmp"; \
	  $(INSTALL) -m 0644 "$$tmp" "$$conf"; \
	  echo "installed $$conf: set hosts and certfiles, create the user xmppd"; \
	fi

# The configuration (it may be edited) and the data stay.
uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/xmppd $(DESTDIR)$(BINDIR)/xmppctl \
	  $(DESTDIR)$(BINDIR)/xmppd-shm-dump \
	  $(MOD_NAMES:%=$(DESTDIR)$(MODULESDIR)/%.so) \
	  $(patsubst man/%,$(DESTDIR)$(MANDIR)/man5/%,$(wildcard man/*.5)) \
	  $(patsubst man/%,$(DESTDIR)$(MANDIR)/man8/%,$(wildcard man/*.8)) \
	  $(DESTDIR)$(SYSCONFDIR)/init.d/xmppd $(DESTDIR)$(UNITDIR)/xmppd.service \
	  $(DESTDIR)$(SYSCONFDIR)/logrotate.d/xmppd
	rmdir $(DESTDIR)$(MODULESDIR) $(DESTDIR)$(PREFIX)/lib/xmppd 2>/dev/null || true
	@echo "kept: $(DESTDIR)$(SYSCONFDIR)/xmppd (configuration) and /var/lib/xmppd (data)"

# Fuzzing (libFuzzer, clang): test/fuzz/fuzz.mk.
-include test/fuzz/fuzz.mk

-include $(shell find $(B) -name '*.d' 2>/dev/null)
