# corral — build, test, install.
#
#   make                 build/corral and build/libcorral-preload.so
#   make asan            the same under AddressSanitizer + UBSan, in build-asan/
#   make asan-unit       the unit tests under AddressSanitizer + UBSan
#   make unit            build and run the cmocka unit tests
#   make fuzz            build the libFuzzer targets (clang) in build-fuzz/
#   make check           the whole suite (tests/run): unit, integration, chaos, asan, fuzz smoke
#   make bench           corral against PM2 (bench/run; BENCH_ARGS="--quick" etc.)
#   make install PREFIX=/usr/local
#
# Every .c under src/ is compiled; src/main.c holds main() and everything else
# goes into build/libcorral.a, which the unit tests and fuzz targets link.

CC      ?= cc
PREFIX  ?= /usr/local
BUILD   ?= build
VERSION := 0.1.0

# Warnings are errors in the test suite and CI (scripts/test, tests/run and
# `make check` set WERROR=-Werror); a plain build of a release keeps building
# with the next compiler that learns a new warning.
WERROR  ?=
WARN    := -Wall -Wextra -Wformat=2 -Wshadow -Wstrict-prototypes \
           -Wmissing-prototypes -Wvla -Wno-unused-parameter $(WERROR)
CFLAGS  ?= -O2 -g
override CFLAGS += -std=gnu11 $(WARN) -D_GNU_SOURCE -DCORRAL_VERSION='"$(VERSION)"' \
           -Isrc -fno-omit-frame-pointer -pthread
# -pthread: the daemon removes pid files with helper threads (pidfiles.c).
LDLIBS  := -ljansson -lyaml -lz -lm -pthread
# libmicrohttpd (`corral web`) is not linked: the daemon opens it by this
# name the first time it serves (src/daemon/mhd.h, src/common/lazylib.h).
MHD_SONAME := $(shell objdump -p "$$($(CC) -print-file-name=libmicrohttpd.so)" 2>/dev/null | \
              awk '$$1 == "SONAME" {print $$2}')
ifneq ($(MHD_SONAME),)
override CFLAGS += -DMHD_SONAME='"$(MHD_SONAME)"'
endif
# ncurses draws `corral monit` (src/cli/verbs_monit.c), which opens it when
# it starts (src/cli/tui.h): it is not linked either.
# The preload library runs inside apps (python, node...): never instrument it.
# It gets its own flags, never CFLAGS (which carry the sanitizers in make asan).
PRELOAD_CC ?= $(CC)
PRELOAD_CFLAGS := -O2 -g -std=gnu11 $(WARN) -D_GNU_SOURCE -Isrc

LIB_SRC := $(filter-out src/main.c src/preload/%,$(wildcard src/*/*.c))
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/%.o)
# `corral web`'s page, compiled in as an array (scripts/embed).
LIB_OBJ += $(BUILD)/gen/web_dashboard.o
PRELOAD_SRC := $(wildcard src/preload/*.c) src/common/brokerproto.c
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)
HELPER_SRC := $(wildcard tests/helpers/*.c)
HELPER_BIN := $(HELPER_SRC:tests/helpers/%.c=build/helpers/%)

all: $(BUILD)/corral $(BUILD)/libcorral-preload.so $(HELPER_BIN)

# Helpers (tests/helpers/*.c) are small test programs; they always go to
# build/helpers, whatever BUILD is.

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

# The host side of corral deploy is compiled in (.incbin).
$(BUILD)/src/cli/verbs_deploy.o: src/cli/deploy-remote.sh
# The Node agent is built into the binary (.incbin in agent.c).
$(BUILD)/src/daemon/agent.o: src/daemon/agent.js

$(BUILD)/gen/web_dashboard.c: src/daemon/web/dashboard.html scripts/embed
	@mkdir -p $(dir $@)
	scripts/embed $< web_dashboard_html > $@

$(BUILD)/gen/%.o: $(BUILD)/gen/%.c
	$(CC) $(CFLAGS) -c $< -o $@

$(BUILD)/libcorral.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/corral: $(BUILD)/src/main.o $(BUILD)/libcorral.a
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# The preload library lives inside other people's processes: no jansson, no
# allocation that can fail the app, nothing but libc and libdl.
$(BUILD)/libcorral-preload.so: $(PRELOAD_SRC) $(wildcard src/preload/*.h) src/common/brokerproto.h
	@mkdir -p $(dir $@)
	$(PRELOAD_CC) $(PRELOAD_CFLAGS) -fPIC -shared -fvisibility=hidden -o $@ $(PRELOAD_SRC) -ldl

build/helpers/%: tests/helpers/%.c
	@mkdir -p $(dir $@)
	$(PRELOAD_CC) $(PRELOAD_CFLAGS) -o $@ $< $(LDLIBS)

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/libcorral.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests/unit -o $@ $< $(BUILD)/libcorral.a $(LDLIBS) -lcmocka

unit-build: $(UNIT_BIN)

unit: $(UNIT_BIN)
	@fail=0; for t in $(UNIT_BIN); do $$t || fail=1; done; exit $$fail

ASAN_MAKE = $(MAKE) BUILD=build-asan CC=clang \
	    CFLAGS="-O1 -g -fsanitize=address,undefined -fno-sanitize-recover=undefined" \
	    LDFLAGS="-fsanitize=address,undefined"

# '+': the sub-make shares the jobserver (make -j) though $(MAKE) is in a variable.
asan:
	+$(ASAN_MAKE) all

# The unit tests under ASan+UBSan, in build-asan/tests.
asan-unit:
	+$(ASAN_MAKE) unit-build

FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BIN := $(FUZZ_SRC:tests/fuzz/%.c=build-fuzz/%)
fuzz:
	$(MAKE) BUILD=build-fuzz CC=clang \
	    CFLAGS="-O1 -g -fsanitize=fuzzer-no-link,address,undefined" \
	    build-fuzz/libcorral.a
	$(MAKE) BUILD=build-fuzz CC=clang $(FUZZ_BIN)

build-fuzz/fuzz_%: tests/fuzz/fuzz_%.c build-fuzz/libcorral.a
	clang -std=gnu11 -D_GNU_SOURCE -Isrc -O1 -g -fsanitize=fuzzer,address,undefined \
	    -o $@ $< build-fuzz/libcorral.a $(LDLIBS)

check: WERROR := -Werror
check: all
	tests/run

bench: all
	bench/run $(BENCH_ARGS)

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/corral $(DESTDIR)$(PREFIX)/share/man/man1
	install -m 0755 $(BUILD)/corral $(DESTDIR)$(PREFIX)/bin/corral
	install -m 0755 $(BUILD)/libcorral-preload.so $(DESTDIR)$(PREFIX)/lib/corral/libcorral-preload.so
	install -m 0644 docs/corral.1 $(DESTDIR)$(PREFIX)/share/man/man1/corral.1

clean:
	rm -rf build build-asan build-fuzz

.PHONY: all unit unit-build asan asan-unit fuzz check bench install clean
-include $(LIB_OBJ:.o=.d) $(BUILD)/src/main.d
