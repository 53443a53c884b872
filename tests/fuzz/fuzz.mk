# libFuzzer targets for the pure modules, where the security decisions live.
#   make fuzz                 build every target and run each for FUZZ_TIME seconds (30)
#   make fuzz FUZZ_TIME=600   longer
# Corpora grow in build/fuzz/corpus/<target>/; a crash leaves its input in build/fuzz/.
FUZZ_TIME ?= 30
FUZZ_CC   := clang
FUZZ_FLAGS := -std=gnu17 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined \
              -fno-sanitize-recover=all -iquote daemon $(shell pkg-config --cflags jansson)
FUZZ_LIBS := $(shell pkg-config --libs jansson)
PURE      := daemon/policy.c daemon/netaddr.c daemon/util.c daemon/sandbox_spec.c daemon/tlshello.c daemon/httpreq.c
TARGETS   := $(patsubst tests/fuzz/%.c,build/fuzz/%,$(wildcard tests/fuzz/fuzz_*.c))

.PHONY: fuzz-run
fuzz-run: $(TARGETS)
	@for t in $(TARGETS); do \
	  name=$$(basename $$t); mkdir -p build/fuzz/corpus/$$name; \
	  echo "== $$name ($(FUZZ_TIME) s)"; \
	  (cd build/fuzz && ./$$name -max_total_time=$(FUZZ_TIME) -print_final_stats=1 \
	     corpus/$$name) || exit 1; \
	done

build/fuzz/%: tests/fuzz/%.c $(PURE)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_FLAGS) $^ -o $@ $(FUZZ_LIBS)
