# estimator: TensorFlow Estimator workflow inside PostgreSQL.
#
#   make && make install      build and install into the server of pg_config
#   make demo                 the Iris tutorial in a throwaway cluster
#   make test                 every test suite in a throwaway cluster
#
# Both make demo and make test install missing Debian packages first
# (test/scripts/deps.sh) and run the server as the OS user postgres.

EXTENSION = estimator
MODULE_big = estimator
DATA = sql/estimator--0.1.0.sql

CORE_OBJS = src/core/status.o src/core/alloc.o src/core/rng.o src/core/network.o \
	src/core/optim.o src/core/metrics.o src/core/features.o \
	src/core/checkpoint.o
SHELL_OBJS = src/estimator.o src/spec.o src/params.o src/input.o src/catalog.o \
	src/train.o src/evaluate.o src/predict.o src/model.o \
	src/cache.o src/score.o
OBJS = $(SHELL_OBJS) $(CORE_OBJS)

REGRESS = $(shell cat test/regress_schedule 2>/dev/null)
REGRESS_OPTS = --inputdir=. --outputdir=test/results

# The server's headers are system headers here, so that -Wextra speaks of
# our code only.
PG_CPPFLAGS = -I$(srcdir)/src -I$(srcdir)/src/core \
	-isystem $(shell $(PG_CONFIG) --includedir-server)
PG_CFLAGS = -Wall -Wextra
SHLIB_LINK = -lopenblas -lm

EXTRA_CLEAN = test/results test/unit/run_tests tmp_cluster test/fuzz/fuzz_checkpoint \
	test/fuzz/make_seeds test/fuzz/corpus

# PostgreSQL 15 even where newer versions are installed too
PG_CONFIG ?= $(firstword $(wildcard /usr/lib/postgresql/15/bin/pg_config) pg_config)
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

.PHONY: unit demo test fuzz

# C tests of the core, built without PostgreSQL.
UNIT_SRCS = $(wildcard test/unit/*.c)
test/unit/run_tests: $(UNIT_SRCS) $(CORE_OBJS:.o=.c) src/core/estcore.h
	$(CC) -std=c99 -O2 -g -Wall -Wextra -Werror -Isrc/core -o $@ \
		$(UNIT_SRCS) $(CORE_OBJS:.o=.c) -lopenblas -lm

unit: test/unit/run_tests
	test/unit/run_tests

demo:
	bash test/scripts/demo.sh

test:
	bash test/scripts/test.sh

# libFuzzer with AddressSanitizer and UBSan on the checkpoint decoder
# (clang-14, libclang-rt-14-dev), seeded with real checkpoints.
#   make fuzz                      a short run, as make test does
#   make fuzz FUZZ_SECONDS=600     the ten-minute run
FUZZ_SECONDS ?= 20
FUZZ_CC ?= clang-14
FUZZ_FLAGS = -g -O1 -fsanitize=fuzzer,address,undefined \
	-fno-sanitize-recover=all -Isrc/core
test/fuzz/fuzz_checkpoint: test/fuzz/fuzz_checkpoint.c $(CORE_OBJS:.o=.c) src/core/estcore.h
	$(FUZZ_CC) $(FUZZ_FLAGS) -o $@ test/fuzz/fuzz_checkpoint.c \
		$(CORE_OBJS:.o=.c) -lopenblas -lm

test/fuzz/make_seeds: test/fuzz/make_seeds.c $(CORE_OBJS:.o=.c) src/core/estcore.h
	$(CC) -std=c99 -O2 -Wall -Wextra -Werror -Isrc/core -o $@ \
		test/fuzz/make_seeds.c $(CORE_OBJS:.o=.c) -lopenblas -lm

fuzz: test/fuzz/fuzz_checkpoint test/fuzz/make_seeds
	mkdir -p test/fuzz/corpus
	test/fuzz/make_seeds test/fuzz/corpus
	test/fuzz/fuzz_checkpoint -max_total_time=$(FUZZ_SECONDS) \
		-max_len=4096 -print_final_stats=1 test/fuzz/corpus
