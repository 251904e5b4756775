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
DATA = sql/estimator--0.1.0.sql sql/estimator--0.1.0--0.2.0.sql \
	sql/estimator--0.2.0--0.3.0.sql sql/estimator--0.3.0--0.4.0.sql \
	sql/estimator--0.4.0--0.5.0.sql sql/estimator--0.5.0--0.6.0.sql \
	sql/estimator--0.6.0--0.7.0.sql sql/estimator--0.7.0--0.8.0.sql

CORE_OBJS = src/core/status.o src/core/alloc.o src/core/rng.o src/core/network.o \
	src/core/optim.o src/core/metrics.o src/core/features.o \
	src/core/checkpoint.o src/core/gemm.o
SHELL_OBJS = src/estimator.o src/blas.o src/spec.o src/params.o src/input.o src/columns.o src/catalog.o \
	src/train.o src/evaluate.o src/predict.o src/model.o src/deploy.o \
	src/cache.o src/score.o src/transfer.o src/parallel.o
OBJS = $(SHELL_OBJS) $(CORE_OBJS)

REGRESS = $(shell cat test/regress_schedule 2>/dev/null)
REGRESS_OPTS = --inputdir=. --outputdir=test/results

# The server's headers are system headers here, so that -Wextra speaks of
# our code only.
PG_CPPFLAGS = -I$(srcdir)/src -I$(srcdir)/src/core \
	-isystem $(shell $(PG_CONFIG) --includedir-server)
# The library (catalog.c) checks that a database's SQL objects are of its version.
EST_VERSION := $(shell sed -n "s/^default_version = '\(.*\)'/\1/p" estimator.control)
PG_CPPFLAGS += -DEST_VERSION='"$(EST_VERSION)"'
# -fvect-cost-model=dynamic lets gcc vectorise loops of unknown length at
# -O2 (the activations, their derivatives, bias sums): float results are
# the same, since no reduction is reordered.  -falign-loops=32 keeps each
# short inner loop (EstNetworkPredictOne's, a row of a layer) within one
# 32-byte window wherever the linker puts it: with gcc's default, est_predict
# got 5 to 10 % slower or faster as unrelated code grew.
PG_CFLAGS = -Wall -Wextra -fvect-cost-model=dynamic -falign-loops=32
# OpenBLAS is not linked: src/blas.c opens it when a product first needs
# it, the serial build when Debian has it (libopenblas-serial-dev), by its
# full path: the pthread build starts a thread pool as soon as it is
# loaded, and every backend would carry it.
OPENBLAS_SERIAL = /usr/lib/x86_64-linux-gnu/openblas-serial
ifneq ($(wildcard $(OPENBLAS_SERIAL)/libopenblas.so.0),)
EST_BLAS_LIBRARY = $(OPENBLAS_SERIAL)/libopenblas.so.0
else
EST_BLAS_LIBRARY = libopenblas.so.0
endif
PG_CPPFLAGS += -DEST_BLAS_LIBRARY='"$(EST_BLAS_LIBRARY)"'
SHLIB_LINK = -lm

EXTRA_CLEAN = test/results test/unit/run_tests test/unit/same_floats \
	test/unit/same_floats_baseline tmp_cluster test/fuzz/fuzz_checkpoint \
	test/fuzz/make_seeds test/fuzz/corpus

# PostgreSQL 15 even where newer versions are installed too
PG_CONFIG ?= $(firstword $(wildcard /usr/lib/postgresql/15/bin/pg_config) pg_config)
PGXS := $(shell $(PG_CONFIG) --pgxs)

# No LLVM bitcode: JIT would inline the extension's functions into queries
# from it, and inlined code neither picks the AVX2 variants (the resolvers
# of target_clones refer to symbols JIT cannot resolve: the backend would
# exit with a fatal LLVM error) nor keeps -ffp-contract=off (clang's JIT
# fuses products and sums that the library keeps apart, so the same row
# would score differently with JIT).  Called as it is, est_predict costs
# what the library's code costs; an install removes the bitcode that
# earlier versions installed, which JIT would otherwise still inline.
override with_llvm = no
include $(PGXS)

install: remove-old-bitcode
.PHONY: remove-old-bitcode
remove-old-bitcode:
	rm -rf '$(DESTDIR)$(pkglibdir)/bitcode/$(MODULE_big)' \
		'$(DESTDIR)$(pkglibdir)/bitcode/$(MODULE_big).index.bc'

# The core never reads errno: without it, sqrtf and friends are single
# instructions that vectorise (the optimizers' updates, four times faster),
# with the same IEEE results.  Nor does it trap floating-point exceptions:
# -fno-trapping-math lets a loop's comparisons become vector selects (the
# clamps of EstExpInPlace), and changes no result.  -ffp-contract=off keeps a product and a sum
# two roundings where a target has fused multiply-add (the AVX2 variants
# of the core's loops, other architectures), so that every build and
# every CPU gives the same floats in those loops.  The matrix products are
# another matter: OpenBLAS's kernels and the core's AVX-512 kernel
# (gemm.c, explicit fused multiply-adds) each round in their own way.
$(CORE_OBJS): CFLAGS += -fno-math-errno -fno-trapping-math -ffp-contract=off

# PGXS does not track headers: every object depends on the two headers.
$(OBJS): src/estimator.h src/core/estcore.h
# the library's path is compiled in
src/blas.o: Makefile
src/catalog.o: estimator.control

.PHONY: unit demo test fuzz

# C tests of the core, built without PostgreSQL.
UNIT_SRCS = $(filter-out test/unit/same_floats.c,$(wildcard test/unit/*.c))
UNIT_CC = $(CC) -std=c99 -O2 -g -Wall -Wextra -Werror -fno-math-errno -fno-trapping-math -ffp-contract=off -Isrc/core
test/unit/run_tests: $(UNIT_SRCS) $(CORE_OBJS:.o=.c) src/core/estcore.h
	$(UNIT_CC) -o $@ $(UNIT_SRCS) $(CORE_OBJS:.o=.c) -lopenblas -lm

# The same training and scoring built with the AVX2 variants of the
# core's loops and without them must give the same floats.
test/unit/same_floats: test/unit/same_floats.c $(CORE_OBJS:.o=.c) src/core/estcore.h
	$(UNIT_CC) -o $@ test/unit/same_floats.c $(CORE_OBJS:.o=.c) -lopenblas -lm
test/unit/same_floats_baseline: test/unit/same_floats.c $(CORE_OBJS:.o=.c) src/core/estcore.h
	$(UNIT_CC) -DEST_NO_CLONES -o $@ test/unit/same_floats.c $(CORE_OBJS:.o=.c) -lopenblas -lm

unit: test/unit/run_tests test/unit/same_floats test/unit/same_floats_baseline
	test/unit/run_tests
	@a=$$(test/unit/same_floats) && b=$$(test/unit/same_floats_baseline) && \
	if [ "$$a" = "$$b" ]; then echo "ok   the AVX2 variants give the baseline's floats ($$a)"; \
	else echo "FAIL the AVX2 variants give $$a, the baseline $$b"; exit 1; fi

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
# The decoder never multiplies: the core's AVX-512 matrix kernel, which
# these flags took almost nine minutes to compile, is left out
# (EST_NO_GEMM_KERNEL); test/unit and make sanitize check it.
FUZZ_FLAGS = -g -O1 -fsanitize=fuzzer,address,undefined \
	-fno-sanitize-recover=all -DEST_NO_GEMM_KERNEL -Isrc/core
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

# sqlsmith's random queries against estimator, as an unprivileged role, in
# a throwaway cluster (test/sqlsmith/run.sh); fails on any crash in the
# server log.
#   make sqlsmith                          10000 queries
#   make sqlsmith SQLSMITH_QUERIES=100000 SQLSMITH_SEED=2
SQLSMITH_QUERIES ?= 10000
SQLSMITH_SEED ?= 1
.PHONY: sqlsmith sanitize
sqlsmith:
	bash test/scripts/deps.sh test
	$(MAKE) -s all
	$(MAKE) -s install
	bash -c 'source test/scripts/cluster.sh && trap cluster_finish EXIT && \
		cluster_start && SQLSMITH_QUERIES=$(SQLSMITH_QUERIES) \
		SQLSMITH_SEED=$(SQLSMITH_SEED) bash test/sqlsmith/run.sh'

# The regression and isolation suites against a build with ASan and UBSan,
# loaded into a copy of the stock server in a temporary directory with the
# runtimes preloaded (test/scripts/sanitize.sh); it installs nothing into
# the system's PostgreSQL.  SANITIZE=undefined for UBSan alone.
sanitize:
	bash test/scripts/sanitize.sh

# The benchmark against PyTorch (test/bench/run.sh); not part of make test.
#   make bench                                  3 runs on 1,000,000 rows
#   make bench BENCH_ROWS=50000 BENCH_RUNS=1    a quick try
#   make bench BENCH_FEATURES=100 BENCH_CLASSES=10 BENCH_HIDDEN=256,128
#                                               other shapes
.PHONY: bench
bench:
	bash test/bench/run.sh

# Accuracy of est_train's defaults against scikit-learn on five mixed tables
# (test/bench/tabular.sh); not part of make test.
#   make bench-tabular                          all five, about a minute
#   make bench-tabular TABULAR_SETS=users       one of them
.PHONY: bench-tabular
bench-tabular:
	bash test/bench/tabular.sh
