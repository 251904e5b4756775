#!/usr/bin/env bash
# test.sh: every test suite, in a throwaway cluster.  make test runs it, and
# so does CI (.ci/run).
#
#   build      make from clean; any compiler "warning:" fails the suite, and
#              so does any CBLAS or OpenBLAS symbol that estimator.so needs
#              (src/blas.c opens OpenBLAS and gives cblas_sgemm)
#   unit       make unit: C tests of src/core, without a server
#   fuzz       make fuzz: a short libFuzzer run on the checkpoint decoder
#   regress    make installcheck: pg_regress on test/regress_schedule
#              (sql/<name>.sql against expected/<name>.out)
#   isolation  pg_isolation_regress on test/isolation/specs/*.spec, in the
#              order of test/isolation/isolation_schedule when it exists;
#              the database already has the extension (--load-extension)
#   tap        prove test/t/*.pl as the OS user postgres; the tests run with
#              their working directory at the checkout (so
#              \i test/scripts/load_iris.sql works) and find it in
#              $EST_SOURCE_DIR too; 009_readme.pl runs README.md's examples
#   sqlsmith   test/sqlsmith/run.sh: $SQLSMITH_QUERIES (default 500)
#              random queries from sqlsmith, as an unprivileged role, in
#              a database of its own on the same cluster; fails on a crash
#              in the server log (make sqlsmith is the long run)
#
# Every suite runs even when an earlier one fails (except those that need
# the build).  Output goes to test/results.  The last line is
# "N passed, N failed", counting suites; the exit status is 1 when any
# failed.  Set PROVE_FLAGS (e.g. -v) for prove.

set -euo pipefail

# shellcheck source=cluster.sh
source "$(dirname "${BASH_SOURCE[0]}")/cluster.sh"
cd "$EST_ROOT"

RESULTS="$EST_ROOT/test/results"
SUMMARY=()
PASSED=0
FAILED=0

# Record NAME PASS|FAIL|SKIP [NOTE]
Record()
{
	local name=$1 status=$2 note=${3:-}
	case "$status" in
		PASS) PASSED=$((PASSED + 1)) ;;
		FAIL) FAILED=$((FAILED + 1)) ;;
	esac
	SUMMARY+=("$(printf '%-10s %s%s' "$name" "$status" "${note:+  ($note)}")")
	echo "=== $name: $status${note:+ ($note)}"
}

Banner()
{
	echo
	echo "=== $1"
}

bash test/scripts/deps.sh test

# Finish keeps the server log with the results, then stops the cluster.
Finish()
{
	local log
	log="$(cluster_base)/postgres.log"
	if [[ -f "$log" && -d "$RESULTS" ]]; then
		cp "$log" "$RESULTS/postgres.log" 2>/dev/null || true
	fi
	cluster_finish
}

# Stop a cluster left by an earlier run before make clean removes its files.
cluster_clean
trap Finish EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

PGBIN=$(est_pg_bindir)
PGXS_DIR=$(est_pgxs_dir)
export PATH="$PGBIN:$PATH"

# build: from clean, so that every warning shows up again.
Banner "build"
make -s clean >/dev/null 2>&1 || true
mkdir -p "$RESULTS"
built=no
if ! make -j"$(nproc)" >"$RESULTS/build.log" 2>&1; then
	grep -E -A3 'error:|warning:' "$RESULTS/build.log" | head -n 60 || true
	Record build FAIL "make failed, see test/results/build.log"
elif ! make -s install >"$RESULTS/install.log" 2>&1; then
	cat "$RESULTS/install.log"
	Record build FAIL "make install failed"
else
	# Installed: the other suites can run even when the build warned.
	built=yes
	# OpenBLAS is opened when needed (src/blas.c), which forwards
	# cblas_sgemm only: another CBLAS or OpenBLAS function that the core
	# came to call would link, and fail only where it ran.
	blas_needed=$(nm -D --undefined-only estimator.so |
		grep -E ' (cblas_|openblas_)' || true)
	if grep -q 'warning:' "$RESULTS/build.log"; then
		grep -A3 'warning:' "$RESULTS/build.log" || true
		Record build FAIL "compiler warnings, see test/results/build.log"
	elif [ -n "$blas_needed" ]; then
		echo "estimator.so needs BLAS symbols that src/blas.c does not give: $blas_needed"
		Record build FAIL "estimator.so links BLAS symbols past src/blas.c"
	else
		Record build PASS
	fi
fi

# unit: the core alone, no server needed.
Banner "unit"
if make -s unit; then
	Record unit PASS
else
	Record unit FAIL
fi

# fuzz: a short libFuzzer run on the checkpoint decoder (make fuzz;
# FUZZ_SECONDS sets its length).
Banner "fuzz"
if make -s fuzz >"$RESULTS/fuzz.log" 2>&1; then
	Record fuzz PASS "$(grep -o 'Done [0-9]* runs.*' "$RESULTS/fuzz.log" | tail -n 1)"
else
	tail -n 40 "$RESULTS/fuzz.log"
	Record fuzz FAIL "see test/results/fuzz.log"
fi

if [[ "$built" != yes ]]; then
	for suite in regress isolation tap sqlsmith; do
		Record "$suite" FAIL "not run: the build failed"
	done
else
	cluster_start

	# regress: pg_regress through PGXS's installcheck.
	Banner "regress"
	if [[ -z "$(tr -d '[:space:]' <test/regress_schedule 2>/dev/null)" ]]; then
		Record regress SKIP "test/regress_schedule is empty"
	elif make -s installcheck; then
		Record regress PASS
	else
		if [[ -f "$RESULTS/regression.diffs" ]]; then
			cat "$RESULTS/regression.diffs"
		fi
		Record regress FAIL "see test/results/regression.diffs"
	fi

	# isolation: pg_isolation_regress against the same cluster.
	Banner "isolation"
	shopt -s nullglob
	specs=(test/isolation/specs/*.spec)
	shopt -u nullglob
	if [[ ${#specs[@]} -eq 0 ]]; then
		Record isolation SKIP "no test/isolation/specs/*.spec"
	else
		iso_args=()
		if [[ -f test/isolation/isolation_schedule ]]; then
			iso_args+=(--schedule=test/isolation/isolation_schedule)
		else
			for spec in "${specs[@]}"; do
				iso_args+=("$(basename "$spec" .spec)")
			done
		fi
		mkdir -p "$RESULTS/isolation"
		# Not --use-existing: that would skip creating the database and
		# loading the extension.  The server is the running cluster anyway.
		if "$PGXS_DIR/src/test/isolation/pg_isolation_regress" \
			--inputdir=test/isolation --outputdir="$RESULTS/isolation" \
			--bindir="$PGBIN" --host="$PGHOST" \
			--port="$PGPORT" --user="$PGUSER" \
			--dbname=isolation_regression --load-extension=estimator \
			"${iso_args[@]}"; then
			Record isolation PASS
		else
			if [[ -f "$RESULTS/isolation/regression.diffs" ]]; then
				cat "$RESULTS/isolation/regression.diffs"
			fi
			Record isolation FAIL "see test/results/isolation/regression.diffs"
		fi
	fi

	# tap: each test makes its own nodes with PostgreSQL::Test::Cluster,
	# whose initdb must run as postgres, so prove runs as postgres.
	Banner "tap"
	shopt -s nullglob
	taps=(test/t/*.pl)
	shopt -u nullglob
	if [[ ${#taps[@]} -eq 0 ]]; then
		Record tap SKIP "no test/t/*.pl"
	else
		base=$(cluster_base)
		tapdir="$base/tap"
		srcdir="$EST_ROOT"
		mkdir -p "$tapdir"
		if ! est_pg_can_read "$EST_ROOT" "$EST_ROOT/test" "$EST_ROOT/test/t"; then
			# postgres cannot read the checkout: give it a copy of the tests,
			# and of what 009_readme.pl checks README.md against.
			srcdir="$base/src"
			rm -rf "$srcdir"
			mkdir -p "$srcdir"
			tar -C "$EST_ROOT" --exclude=test/results --exclude='*.o' \
				--exclude='*.bc' -cf - test README.md expected src \
				| tar -C "$srcdir" -xf -
			est_info "the OS user postgres cannot read $EST_ROOT;" \
				"running the TAP tests from a copy in $srcdir"
		fi
		if est_is_root; then
			chown -R postgres: "$tapdir"
			[[ "$srcdir" == "$EST_ROOT" ]] || chown -R postgres: "$srcdir"
		fi
		perldir="$PGXS_DIR/src/test/perl"
		# shellcheck disable=SC2086
		if (cd "$srcdir" && as_pg env \
			PATH="$PGBIN:$PATH" \
			PERL5LIB="$perldir${PERL5LIB:+:$PERL5LIB}" \
			TESTDIR="$tapdir" \
			PG_REGRESS="$PGXS_DIR/src/test/regress/pg_regress" \
			PG_CONFIG="$PG_CONFIG" \
			EST_SOURCE_DIR="$srcdir" \
			prove -I "$perldir" -I "$srcdir/test/t" ${PROVE_FLAGS:-} \
			"${taps[@]}"); then
			Record tap PASS
		else
			# Keep the logs where the checkout's owner finds them.
			rm -rf "$RESULTS/tap"
			cp -r "$tapdir/tmp_check/log" "$RESULTS/tap" 2>/dev/null || true
			Record tap FAIL "logs in test/results/tap"
		fi
	fi

	# sqlsmith: a short run of random queries (make sqlsmith runs long).
	Banner "sqlsmith"
	if out=$(SQLSMITH_QUERIES=${SQLSMITH_QUERIES:-500} \
		SQLSMITH_OUT="$RESULTS/sqlsmith.log" bash test/sqlsmith/run.sh); then
		Record sqlsmith PASS "$(tail -n 1 <<<"$out")"
	else
		echo "$out"
		Record sqlsmith FAIL "see test/results/sqlsmith.log"
	fi
fi

echo
echo "=== summary"
printf '%s\n' "${SUMMARY[@]}"
echo "$PASSED passed, $FAILED failed"
[[ "$FAILED" -eq 0 ]]
