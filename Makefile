# tributary: change data capture through NATS JetStream.
#
#   make            build bin/replicator and bin/worker
#   make demo       install what is missing, build, run a demo replication
#   make test       install what is missing, build with ASan+UBSan, run every test
#   make unit       unit tests only (no servers)
#   make fuzz       fuzz every libFuzzer target for FUZZ_SECONDS (60) each
#   make golden-update  rewrite tests/data/golden/*/expected.txt from the code
#   make bench      benchmark against PostgreSQL's logical replication
#   make install PREFIX=/usr/local
#
# SANITIZE=address,undefined builds into build/san instead of build/default.

CC      ?= gcc
PREFIX  ?= /usr/local
PKGS     = libpq libmariadb zlib libzstd libnats libcjson yaml-0.1 libpcre2-8 libcurl libmicrohttpd

ifdef SANITIZE
BUILD   ?= build/san
SANFLAGS = -fsanitize=$(SANITIZE) -fno-sanitize-recover=all -fno-omit-frame-pointer
OPT     ?= -O1 -g
else
BUILD   ?= build/default
SANFLAGS =
OPT     ?= -O2 -g
endif

WARN     = -Wall -Wextra -Wpedantic -Wshadow -Wformat=2 -Wstrict-prototypes \
           -Wvla -Werror
CPPFLAGS += -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -I. \
            $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
CFLAGS  += -std=c11 $(OPT) $(WARN) $(SANFLAGS) -MMD -MP
LDFLAGS += $(SANFLAGS)
LDLIBS   = $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lpthread -lm

COMMON_SRC  = $(wildcard common/*.c)
RULES_SRC   = $(wildcard rules/*.c)
ROUTING_SRC = $(wildcard routing/*.c)
SINKS_SRC   = $(wildcard sinks/*.c)
REPL_SRC    = $(wildcard replicator/*.c)
WORKER_SRC  = $(wildcard worker/*.c)
UNIT_SRC    = $(wildcard tests/unit/test_*.c)

obj = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))

COMMON_OBJ  = $(call obj,$(COMMON_SRC))
RULES_OBJ   = $(call obj,$(RULES_SRC))
ROUTING_OBJ = $(call obj,$(ROUTING_SRC))
SINKS_OBJ   = $(call obj,$(SINKS_SRC))
# main.c is left out of the library form so unit tests can link the rest.
REPL_LIB_OBJ   = $(call obj,$(filter-out replicator/main.c,$(REPL_SRC)))
WORKER_LIB_OBJ = $(call obj,$(filter-out worker/main.c,$(WORKER_SRC)))

REPLICATOR = $(BUILD)/bin/replicator
WORKER     = $(BUILD)/bin/worker
UNIT_BINS  = $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRC))
TOOLS      =

# The libFuzzer targets (tests/fuzz/fuzz_<target>.c), always built by clang
# with ASan and UBSan into $(BUILD)/fuzz, whatever SANITIZE says: the
# project's sources are compiled again with the fuzzer's coverage
# instrumentation, and each binary takes what it needs from the archive.
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ_DIR      = $(BUILD)/fuzz
FUZZ_SANFLAGS = -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all \
                -fno-omit-frame-pointer
FUZZ_CFLAGS   = -std=c11 -O1 -g $(WARN) $(FUZZ_SANFLAGS) -MMD -MP
# The gcc build holds the project's sources to $(WARN); here clang's own
# warnings about them (such as the SQL text built by concatenation in
# ddl_postgres.c) are not errors. The fuzz targets keep -Werror.
FUZZ_LIB_CFLAGS = $(FUZZ_CFLAGS) -Wno-error -Wno-string-concatenation
FUZZ_SRC      = $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_LIB_SRC  = $(COMMON_SRC) $(RULES_SRC) $(ROUTING_SRC) \
                $(filter-out replicator/main.c,$(REPL_SRC))
FUZZ_LIB_OBJ  = $(patsubst %.c,$(FUZZ_DIR)/obj/%.o,$(FUZZ_LIB_SRC))
FUZZ_OBJ      = $(patsubst %.c,$(FUZZ_DIR)/obj/%.o,$(FUZZ_SRC))
FUZZ_BINS     = $(patsubst tests/fuzz/%.c,$(FUZZ_DIR)/%,$(FUZZ_SRC))

.PHONY: all bin unit-build unit test test-e2e test-faults demo bench install clean format \
        lint check-deps deps services-start services-stop golden-update \
        fuzz fuzz-build

all: $(REPLICATOR) $(WORKER) $(TOOLS)
ifndef SANITIZE
	@mkdir -p bin
	@cp -f $(REPLICATOR) $(WORKER) bin/
endif

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

$(BUILD)/libcommon.a: $(COMMON_OBJ)
	@mkdir -p $(dir $@)
	$(AR) rcs $@ $^

$(BUILD)/libparts.a: $(RULES_OBJ) $(ROUTING_OBJ) $(SINKS_OBJ) $(REPL_LIB_OBJ) $(WORKER_LIB_OBJ)
	@mkdir -p $(dir $@)
	$(AR) rcs $@ $^

$(REPLICATOR): $(call obj,replicator/main.c) $(BUILD)/libparts.a $(BUILD)/libcommon.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(WORKER): $(call obj,worker/main.c) $(BUILD)/libparts.a $(BUILD)/libcommon.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%: $(call obj,tests/unit/%.c) $(BUILD)/libparts.a $(BUILD)/libcommon.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(shell pkg-config --libs cmocka)

unit-build: $(UNIT_BINS)

$(FUZZ_DIR)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(CPPFLAGS) $(FUZZ_LIB_CFLAGS) -c $< -o $@

$(FUZZ_DIR)/obj/tests/fuzz/%.o: tests/fuzz/%.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(CPPFLAGS) $(FUZZ_CFLAGS) -c $< -o $@

$(FUZZ_DIR)/libfuzzparts.a: $(FUZZ_LIB_OBJ)
	@mkdir -p $(dir $@)
	$(AR) rcs $@ $^

$(FUZZ_DIR)/fuzz_%: $(FUZZ_DIR)/obj/tests/fuzz/fuzz_%.o $(FUZZ_DIR)/libfuzzparts.a
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_SANFLAGS) -o $@ $^ $(LDLIBS)

fuzz-build: $(FUZZ_BINS)

# Kept, so that a second make has nothing to do.
.SECONDARY: $(FUZZ_OBJ)

deps:
	@bash internal/deps.sh

# Unit tests only: no servers, seconds.
unit: deps
	@$(MAKE) --no-print-directory SANITIZE=address,undefined unit-build
	@bash tests/run.sh --unit-only --build build/san

# The expected results of the rules and routing golden tests, from what the
# code does now: read the diff before committing it.
golden-update:
	@$(MAKE) --no-print-directory SANITIZE=address,undefined build/san/tests/test_golden
	@GOLDEN_UPDATE=1 build/san/tests/test_golden >/dev/null
	@git diff --stat -- tests/data/golden

# Every test, under AddressSanitizer and UBSan, with servers started by
# internal/services.sh, and a short run of each fuzz target. The last line
# is "N passed, N failed".
test: deps
	@$(MAKE) --no-print-directory SANITIZE=address,undefined all unit-build \
	    fuzz-build
	@bash tests/run.sh --build build/san

# Each fuzz target for FUZZ_SECONDS on a copy of its corpus
# (tests/fuzz/README.md).
fuzz: deps
	@$(MAKE) --no-print-directory SANITIZE=address,undefined fuzz-build
	@bash tests/run.sh --fuzz-only --fuzz-seconds $(FUZZ_SECONDS) \
	    --build build/san

# The fault suite alone, long: FAULT_ROUNDS seeded rounds of faults under
# load (TEST_SEED replays a run). make test runs it with 3 rounds.
FAULT_ROUNDS ?= 24
test-faults: deps
	@$(MAKE) --no-print-directory SANITIZE=address,undefined all
	@FAULT_ROUNDS=$(FAULT_ROUNDS) TRIBUTARY_TEST_TIMEOUT=1200 bash tests/run.sh --e2e-only \
	    --filter test_90_faults --build build/san

# End-to-end tests only.
test-e2e: deps
	@$(MAKE) --no-print-directory SANITIZE=address,undefined all
	@bash tests/run.sh --e2e-only --build build/san

demo: deps
	@$(MAKE) --no-print-directory all
	@bash internal/demo.sh $(DEMO_ARGS)

# release build against PostgreSQL's own logical replication; not part of
# make test (see tests/bench/bench.sh for the BENCH_* knobs)
bench: deps
	@$(MAKE) --no-print-directory all
	@bash tests/bench/bench.sh

services-start: deps
	@bash internal/services.sh start

services-stop:
	@bash internal/services.sh stop

install: all
	install -d $(DESTDIR)$(PREFIX)/bin
	install -m 0755 bin/replicator bin/worker $(DESTDIR)$(PREFIX)/bin/

format:
	clang-format -i $(COMMON_SRC) $(RULES_SRC) $(ROUTING_SRC) $(SINKS_SRC) \
	    $(REPL_SRC) $(WORKER_SRC) $(UNIT_SRC) $(FUZZ_SRC) $(wildcard */*.h)

# Banned calls (see the style guide) and the include direction.
lint: check-deps
	@bash internal/lint.sh

check-deps:
	@bash internal/check-deps.sh

clean:
	rm -rf build bin

-include $(shell find build -name '*.d' 2>/dev/null)
