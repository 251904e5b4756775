#!/usr/bin/env bash
# run.sh: the benchmark of estimator against PyTorch (make bench).
#
#   make bench                          or: bash test/bench/run.sh
#   BENCH_ROWS=50000 BENCH_RUNS=1 make bench    a quick try
#   BENCH_FEATURES=100 BENCH_CLASSES=10 BENCH_HIDDEN=256,128,64 make bench
#                                       a scaled copy of the cases
#
# Installs missing Debian packages (test/scripts/deps.sh, then
# python3-torch, python3-psycopg2 and python3-numpy for the peer), builds
# and installs the extension, starts a throwaway cluster (cluster.sh; as
# root the server runs as the OS user postgres), generates the data
# (synth_train: BENCH_ROWS rows, default 1000000; synth_test:
# BENCH_TEST_ROWS, default 100000; and Iris), measures OpenBLAS's sgemm rate
# at the network's shapes and the rate of the same products as the
# extension's core multiplies them (test/bench/sgemm.c), runs every case BENCH_RUNS
# times (default 3) for
# estimator and for PyTorch on one thread, and prints a table of medians
# with ratios and PASS/MISS against the targets.  The cluster (tmp_cluster/,
# which any earlier cluster of this checkout gives way to, as with make test)
# and the temporary files are removed on exit.  Not part of make test.
#
# The shapes (test/bench/shapes.py): BENCH_FEATURES features x1..xN in
# synth_train and synth_test (default 32), BENCH_CLASSES label classes
# (default 4), BENCH_HIDDEN the hidden layers of the trained network, of
# both estimator and PyTorch, in cases (a), (b), (e) and stream (default
# 64,64).  The defaults give the benchmark of issue 6.

set -euo pipefail

# shellcheck source=../scripts/cluster.sh
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/cluster.sh"
cd "$EST_ROOT"

BENCH_ROWS=${BENCH_ROWS:-1000000}
BENCH_TEST_ROWS=${BENCH_TEST_ROWS:-100000}
BENCH_RUNS=${BENCH_RUNS:-3}
BENCH_FEATURES=${BENCH_FEATURES:-32}
BENCH_CLASSES=${BENCH_CLASSES:-4}
BENCH_HIDDEN=${BENCH_HIDDEN:-64,64}
export BENCH_FEATURES BENCH_CLASSES BENCH_HIDDEN
# Debian's interpreter, which has python3-torch, even when another python3
# comes first in PATH (pyenv, a virtualenv).
BENCH_PYTHON=${BENCH_PYTHON:-/usr/bin/python3}
export PYTHONDONTWRITEBYTECODE=1

[[ "$BENCH_ROWS" =~ ^[1-9][0-9]*$ ]] || est_die "BENCH_ROWS must be a positive integer"
[[ "$BENCH_TEST_ROWS" =~ ^[1-9][0-9]*$ ]] || est_die "BENCH_TEST_ROWS must be a positive integer"
[[ "$BENCH_RUNS" =~ ^[1-9][0-9]*$ ]] || est_die "BENCH_RUNS must be a positive integer"
[[ "$BENCH_FEATURES" =~ ^[1-9][0-9]*$ ]] || est_die "BENCH_FEATURES must be a positive integer"
[[ "$BENCH_CLASSES" =~ ^[1-9][0-9]*$ && "$BENCH_CLASSES" -ge 2 ]] ||
	est_die "BENCH_CLASSES must be an integer of at least 2"
[[ "$BENCH_HIDDEN" =~ ^[1-9][0-9]*(,[1-9][0-9]*)*$ ]] ||
	est_die "BENCH_HIDDEN must be positive integers separated by commas, such as 64,64"

# Dependencies: the project's, then the peer's.
bench_deps()
{
	local pkg status missing=()
	bash test/scripts/deps.sh
	for pkg in python3-torch python3-psycopg2 python3-numpy; do
		status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
		[[ "$status" == installed ]] || missing+=("$pkg")
	done
	[[ ${#missing[@]} -eq 0 ]] && return 0
	est_is_root || est_die "missing Debian packages: ${missing[*]}; run as root, or: sudo apt-get install ${missing[*]}"
	est_info "installing ${missing[*]}"
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >/dev/null
	apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}
bench_deps
"$BENCH_PYTHON" -c 'import torch, psycopg2, numpy' ||
	est_die "$BENCH_PYTHON cannot import torch, psycopg2 and numpy"

est_info "building"
make -s -j"$(nproc)" >/dev/null || est_die "the build failed (run make to see why)"
make -s install >/dev/null || est_die "make install failed"

BENCH_TMP=$(mktemp -d "${TMPDIR:-/tmp}/estimator_bench.XXXXXX")
# The cluster holds the generated data (hundreds of MB): remove it all.
bench_finish()
{
	cluster_clean
	rm -rf "$BENCH_TMP"
}
trap bench_finish EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

est_info "measuring OpenBLAS sgemm and the core's products"
${CC:-cc} -O2 -o "$BENCH_TMP/sgemm" test/bench/sgemm.c -lopenblas
# the same products as the extension's core multiplies them (EstGemm)
${CC:-cc} -O2 -DSGEMM_CORE -Isrc/core -o "$BENCH_TMP/sgemm_core" \
	test/bench/sgemm.c src/core/gemm.c -lopenblas
# the network's layer sizes, inputs to outputs: estimator gives two classes
# one sigmoid logit
bench_outputs=$BENCH_CLASSES
if [[ "$BENCH_CLASSES" -eq 2 ]]; then
	bench_outputs=1
fi
sgemm_out=$("$BENCH_TMP/sgemm" 256 1.0 "$BENCH_FEATURES" ${BENCH_HIDDEN//,/ } "$bench_outputs")
sgemm_gflops=${sgemm_out#gflops=}
sgemm_gflops=${sgemm_gflops%% *}
# the kernels OpenBLAS picked for this CPU (or OPENBLAS_CORETYPE), which the
# server and the peer, started from this environment, pick too
sgemm_core=${sgemm_out##*core=}
core_out=$("$BENCH_TMP/sgemm_core" 256 1.0 "$BENCH_FEATURES" ${BENCH_HIDDEN//,/ } "$bench_outputs")
core_gflops=${core_out#gflops=}
core_gflops=${core_gflops%% *}
# (b)'s: the faster of the two at Iris's shapes, batch 32 of 4 features
# through the hidden layers to 3 classes
iris_rates=$(for program in "$BENCH_TMP/sgemm" "$BENCH_TMP/sgemm_core"; do
	"$program" 32 0.5 4 ${BENCH_HIDDEN//,/ } 3
done | sed -n 's/^gflops=\([0-9.]*\).*/\1/p' | sort -g | tail -n 1)
# (e)'s hardware limit: the half batch of each of two members, on the two
# cores at once; the slower of the two sets the pace of both.  Measured
# with the faster of the two programs, as the bounds use the faster rate.
pair_program=$BENCH_TMP/sgemm
if awk -v c="$core_gflops" -v s="$sgemm_gflops" 'BEGIN { exit !(c > s) }'; then
	pair_program=$BENCH_TMP/sgemm_core
fi
sgemm_pair=$( ("$pair_program" 128 1.0 "$BENCH_FEATURES" ${BENCH_HIDDEN//,/ } "$bench_outputs" &
	"$pair_program" 128 1.0 "$BENCH_FEATURES" ${BENCH_HIDDEN//,/ } "$bench_outputs"
	wait) | sed -n 's/^gflops=\([0-9.]*\).*/\1/p' | sort -g | head -n 1)

cluster_start
psql=("$(est_pg_bindir)/psql" -X -q -v ON_ERROR_STOP=1)
"${psql[@]}" -c 'CREATE EXTENSION estimator'
"${psql[@]}" -f test/scripts/load_iris.sql

est_info "generating synth_train ($BENCH_ROWS rows) and synth_test ($BENCH_TEST_ROWS rows) of $BENCH_FEATURES features, $BENCH_CLASSES classes"
"$BENCH_PYTHON" test/bench/gen_data.py "$BENCH_ROWS" "$BENCH_TEST_ROWS"

est_info "running $BENCH_RUNS run(s) of every case"
"$BENCH_PYTHON" test/bench/bench.py --sgemm-gflops "$sgemm_gflops" \
	--core-gflops "$core_gflops" --iris-gflops "$iris_rates" \
	${sgemm_pair:+--sgemm-pair-gflops "$sgemm_pair"} --blas-core "$sgemm_core" \
	--runs "$BENCH_RUNS" --python "$BENCH_PYTHON"
