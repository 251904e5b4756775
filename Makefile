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

CORE_OBJS = src/core/alloc.o src/core/rng.o src/core/network.o \
	src/core/optim.o src/core/metrics.o src/core/features.o \
	src/core/checkpoint.o
SHELL_OBJS = src/estimator.o src/spec.o src/input.o src/catalog.o \
	src/train.o src/evaluate.o src/predict.o src/model.o \
	src/cache.o
OBJS = $(SHELL_OBJS) $(CORE_OBJS)

REGRESS = $(shell cat test/regress_schedule 2>/dev/null)
REGRESS_OPTS = --inputdir=. --outputdir=test/results

# The server's headers are system headers here, so that -Wextra speaks of
# our code only.
PG_CPPFLAGS = -I$(srcdir)/src -I$(srcdir)/src/core \
	-isystem $(shell $(PG_CONFIG) --includedir-server)
PG_CFLAGS = -Wall -Wextra
SHLIB_LINK = -lopenblas -lm

EXTRA_CLEAN = test/results test/unit/run_tests tmp_cluster

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

.PHONY: unit demo test

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
