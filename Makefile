# Airlock -- plain GNU make. Objects in $(BUILD); the daemon is $(BUILD)/airlockd, built as a
# static library plus main.o so the tests link exactly the shipped code.
#
#   make            build the daemon (release flags, hardened)
#   make run        install missing packages, build, start with config/airlockd.json
#   make test       install missing packages, build, run unit + integration tests, then e2e
#   make e2e        the dashboard's end-to-end tests in headless Chromium (tests/e2e/run.sh)
#   make check      the tests again under ASan + UBSan; any leak fails the run
#   make lint       clang-format check and banned calls
#   make format     reformat the sources in place
#   make fuzz       build the libFuzzer targets (clang)
#   make install    PREFIX=/usr/local DESTDIR=
#   make deps       install the Debian packages the build and tests need
#   make clean

CC       ?= cc
BUILD    ?= build
PREFIX   ?= /usr/local
DESTDIR  ?=
SYSCONFDIR    ?= /etc
LOCALSTATEDIR ?= /var
UNITDIR       ?= /etc/systemd/system
VERSION  := 0.1.0
SANITIZE ?=

PKGS     := libmicrohttpd jansson libcurl sqlite3 libseccomp
TEST_PKG := criterion
DEB_PKGS := build-essential pkg-config clang clang-format libmicrohttpd-dev libjansson-dev \
            libcurl4-openssl-dev libsqlite3-dev libseccomp-dev libcriterion-dev \
            libclang-rt-14-dev curl ca-certificates python3 python3-yaml openssl git sqlite3

WARN := -std=gnu17 -Wall -Wextra -Werror -Wshadow -Wconversion -Wno-sign-conversion \
        -Wstrict-prototypes -Wmissing-prototypes -Wpointer-arith -Wcast-qual -Wformat=2 \
        -Wundef -Wvla -Wimplicit-fallthrough -Wnull-dereference -Wno-missing-field-initializers

ifeq ($(SANITIZE),1)
OPT      := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
LDOPT    := -fsanitize=address,undefined
else
OPT      := -O2 -g -D_FORTIFY_SOURCE=3 -fstack-protector-strong -fstack-clash-protection -fPIE
LDOPT    := -pie -Wl,-z,relro,-z,now,-z,noexecstack
endif

PKG_CFLAGS = $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null)
TEST_LIBS  = $(shell pkg-config --libs $(TEST_PKG) 2>/dev/null)

ALL_CFLAGS  = $(WARN) $(OPT) -D_GNU_SOURCE -iquote daemon -DAIRLOCK_VERSION='"$(VERSION)"' $(PKG_CFLAGS) \
              -MMD -MP $(CFLAGS)
ALL_LDFLAGS = $(LDOPT) $(LDFLAGS)
LIBS        = $(PKG_LIBS) -lpthread

SRCS   := $(filter-out daemon/main.c,$(wildcard daemon/*.c))
OBJS   := $(SRCS:daemon/%.c=$(BUILD)/daemon/%.o)
LIB    := $(BUILD)/libairlock.a
DAEMON := $(BUILD)/airlockd
# The command-line client (docs/cli.md): daemon/cli/, outside SRCS, linked with util from $(LIB).
CLI_OBJS := $(patsubst daemon/%.c,$(BUILD)/daemon/%.o,$(wildcard daemon/cli/*.c))
CLI      := $(BUILD)/airlock

UNIT_SRCS  := $(wildcard tests/unit/test_*.c)
UNIT_BINS  := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/unit/%)
INTEG_SRCS := $(wildcard tests/integration/test_*.c)
INTEG_BINS := $(INTEG_SRCS:tests/integration/%.c=$(BUILD)/tests/integration/%)
INTEG_LIB  := $(BUILD)/tests/integration/harness.o
TEST_CFLAGS := -Wno-unknown-warning-option -Wno-missing-prototypes -Wno-cast-qual -Wno-format-truncation $(shell pkg-config --cflags $(TEST_PKG) 2>/dev/null)

PHONY_EXTRA := test-unprivileged test-run-asan e2e
.PHONY: all run test test-run check $(PHONY_EXTRA) lint format install uninstall deps deps-check clean fuzz bench
all: $(DAEMON) $(CLI)

$(BUILD)/daemon/%.o: daemon/%.c | deps-check
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(LIB): $(OBJS)
	@rm -f $@
	ar rcs $@ $^

$(DAEMON): $(BUILD)/daemon/main.o $(LIB)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)

$(CLI): $(CLI_OBJS) $(LIB)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)

$(BUILD)/tests/unit/%.o: tests/unit/%.c | deps-check
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(TEST_CFLAGS) -c $< -o $@

$(BUILD)/tests/unit/%: $(BUILD)/tests/unit/%.o $(LIB)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS) $(TEST_LIBS)

# Files the tests embed with .incbin (the compiler's -MMD does not see them).
$(BUILD)/tests/integration/test_proxy.o: tests/integration/upstream.py
$(BUILD)/tests/integration/test_openapi.o: docs/openapi.yaml tests/integration/openapi_check.py
$(BUILD)/tests/unit/test_openapi.o: docs/openapi.yaml

$(BUILD)/tests/integration/%.o: tests/integration/%.c | deps-check
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) $(TEST_CFLAGS) -c $< -o $@

$(BUILD)/tests/integration/test_%: $(BUILD)/tests/integration/test_%.o $(INTEG_LIB) $(LIB)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS) $(TEST_LIBS)

# The tests: every unit binary, then every integration binary against the built daemon.
# Criterion runs tests in parallel by default; -j2 keeps the 2-core machine responsive.
test: deps
	@$(MAKE) --no-print-directory test-run
	@$(MAKE) --no-print-directory e2e

test-run: $(DAEMON) $(CLI) $(UNIT_BINS) $(INTEG_BINS)
	@AIRLOCKD=$(abspath $(DAEMON)) AIRLOCK_SRC=$(CURDIR) tests/run.sh $(UNIT_BINS) $(INTEG_BINS)

# The dashboard in headless Chromium (docs/dashboard.md): run.sh installs chromium and
# playwright-core when missing, starts the daemon and saves screenshots in build/e2e/.
e2e: $(DAEMON)
	@AIRLOCKD=$(abspath $(DAEMON)) tests/e2e/run.sh

# ASan + UBSan. Criterion does not fail a run on a leak, so run.sh also fails when the log has
# a LeakSanitizer report. detect_leaks needs ptrace-free LSan, which works as root and as a user.
check: deps
	@$(MAKE) --no-print-directory BUILD=build/asan SANITIZE=1 CC=clang test-run-asan

test-run-asan: $(DAEMON) $(CLI) $(UNIT_BINS) $(INTEG_BINS)
	@ASAN_OPTIONS=abort_on_error=1:detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
	 AIRLOCK_SANITIZED=1 AIRLOCKD=$(abspath $(DAEMON)) AIRLOCK_SRC=$(CURDIR) \
	 tests/run.sh $(UNIT_BINS) $(INTEG_BINS)

# The same tests as an unprivileged user (needs root to drop to it; CI runs it).
test-unprivileged: $(DAEMON) $(CLI) $(UNIT_BINS) $(INTEG_BINS)
	@BUILD=$(BUILD) tests/run-unprivileged.sh

run: deps $(DAEMON)
	$(DAEMON) --config config/airlockd.json

lint:
	@tests/lint.sh

format:
	clang-format -i daemon/*.c daemon/*.h daemon/cli/*.c daemon/cli/*.h tests/unit/*.c tests/integration/*.c tests/integration/*.h

# make install: the binaries to $(PREFIX)/bin, the config and the policies to
# $(SYSCONFDIR)/airlock (a file changed locally is kept, the new one goes beside it as .new),
# the state directory $(LOCALSTATEDIR)/lib/airlock (0700), the systemd unit, the docs, the
# dashboard's web/ to $(PREFIX)/share/airlock/web (replaced whole; the config's web_dir).
install: $(DAEMON) $(CLI)
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/doc/airlock \
	           $(DESTDIR)$(SYSCONFDIR)/airlock/policies $(DESTDIR)$(UNITDIR)
	install -d -m 0700 $(DESTDIR)$(LOCALSTATEDIR)/lib/airlock
	install -m 0755 $(DAEMON) $(DESTDIR)$(PREFIX)/bin/airlockd
	install -m 0755 $(CLI) $(DESTDIR)$(PREFIX)/bin/airlock
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	sed -e 's|"\.\./var"|"$(LOCALSTATEDIR)/lib/airlock"|' \
	    -e 's|"\.\./policies"|"$(SYSCONFDIR)/airlock/policies"|' \
	    -e 's|"\.\./web"|"$(PREFIX)/share/airlock/web"|' config/airlockd.json \
	    > "$$tmp/airlockd.json" && \
	sed -e 's|@PREFIX@|$(PREFIX)|g' config/airlockd.service > "$$tmp/airlockd.service" && \
	for f in "$$tmp/airlockd.json:$(SYSCONFDIR)/airlock/airlockd.json" \
	         "$$tmp/airlockd.service:$(UNITDIR)/airlockd.service" \
	         $$(for p in policies/*.json; do echo "$$p:$(SYSCONFDIR)/airlock/$$p"; done); do \
	  src=$${f%%:*}; dst=$(DESTDIR)$${f#*:}; \
	  if [ -e "$$dst" ] && ! cmp -s "$$src" "$$dst"; then \
	    install -m 0644 "$$src" "$$dst.new"; \
	    echo "install: $$dst differs from the bundled one: kept; the new one is $$dst.new"; \
	  else install -m 0644 "$$src" "$$dst"; fi; \
	done
	install -m 0644 README.md docs/*.md docs/openapi.yaml $(DESTDIR)$(PREFIX)/share/doc/airlock/
	install -d $(DESTDIR)$(PREFIX)/share/doc/airlock/img
	install -m 0644 docs/img/*.png $(DESTDIR)$(PREFIX)/share/doc/airlock/img/
	rm -rf $(DESTDIR)$(PREFIX)/share/airlock/web
	install -d $(DESTDIR)$(PREFIX)/share/airlock/web
	@find web -name '.*' -prune -o -type d -print | while read -r d; do \
	  install -d -m 0755 "$(DESTDIR)$(PREFIX)/share/airlock/$$d" || exit 1; done
	@find web -name '.*' -prune -o -type f -print | while read -r f; do \
	  install -m 0644 "$$f" "$(DESTDIR)$(PREFIX)/share/airlock/$$f" || exit 1; done

# Removes what install put in place, except the config, the policies and the state.
uninstall:
	rm -f $(DESTDIR)$(PREFIX)/bin/airlockd $(DESTDIR)$(PREFIX)/bin/airlock \
	      $(DESTDIR)$(UNITDIR)/airlockd.service
	rm -rf $(DESTDIR)$(PREFIX)/share/doc/airlock
	rm -rf $(DESTDIR)$(PREFIX)/share/airlock

# deps-check is cheap (pkg-config only) and runs before every compile; deps installs when
# something is missing, and costs nothing when all is there.
deps-check:
	@pkg-config --exists $(PKGS) $(TEST_PKG) || { \
	  echo "airlock: missing build packages; run 'make deps' (installs: $(DEB_PKGS))" >&2; exit 1; }

deps:
	@missing=""; for p in $(DEB_PKGS); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "airlock: installing$$missing"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing; \
	fi

# Benchmarks (never in timed tests): the API under wrk, the egress proxy beside tinyproxy and
# squid, then workspaces (job starts, uploads beside nginx, followers); results go to
# docs/performance.md. BENCH=api, BENCH=proxy or BENCH=workspace runs one part. Missing
# packages are installed; a system squid, tinyproxy or nginx that the install started is
# stopped (the benches run their own, on free loopback ports).
bench: $(DAEMON)
	@case "$(or $(BENCH),all)" in all|api|proxy|workspace) ;; \
	  *) echo "bench: BENCH=$(BENCH): one of api, proxy, workspace (or unset for all three)" >&2; exit 2;; esac
	@new=""; for p in wrk:wrk bwrap:bubblewrap nginx:nginx-light tinyproxy:tinyproxy squid:squid \
	                  openssl:openssl; do \
	  PATH="$$PATH:/usr/sbin:/sbin" command -v $${p%%:*} >/dev/null || new="$$new $${p%%:*}"; \
	done; \
	if [ -n "$$new" ]; then \
	  $(MAKE) --no-print-directory deps DEB_PKGS="wrk bubblewrap nginx-light tinyproxy squid openssl" || exit 1; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  for s in squid tinyproxy nginx; do \
	    case " $$new " in *" $$s "*) $$SUDO service $$s stop >/dev/null 2>&1 || true;; esac; \
	  done; \
	fi
	@case "$(or $(BENCH),all)" in all|api) tests/bench/api.sh;; esac
	@case "$(or $(BENCH),all)" in all|proxy) echo; tests/bench/proxy.sh;; esac
	@case "$(or $(BENCH),all)" in all|workspace) echo; tests/bench/workspace.sh;; esac

fuzz:
	@$(MAKE) --no-print-directory -f tests/fuzz/fuzz.mk fuzz-run

clean:
	rm -rf build

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
