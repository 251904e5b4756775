#!/usr/bin/env bash
# sanitize.sh: the regression and isolation suites against a build of
# estimator with UndefinedBehaviorSanitizer (make sanitize).
#
# It copies the checkout to a temporary directory, builds the extension
# there with -fsanitize=undefined -fno-sanitize-recover=all (any undefined
# behaviour aborts the backend), installs that build into the system's
# PostgreSQL 15 (make install), starts a throwaway cluster of its own with
# the UBSan runtime preloaded, runs pg_regress (make installcheck) and
# pg_isolation_regress, and fails when the server log has "runtime error:",
# "AddressSanitizer", "terminated by signal" or "PANIC".  On exit, whatever
# happened, it reinstalls the normal build of the checkout
# (make -C <checkout> install).
#
# The install is system-wide for the run's duration: any other cluster that
# loads estimator meanwhile gets the sanitized build.
#
# Why not AddressSanitizer: postgres does not link libasan, so ASan would
# have to be preloaded (LD_PRELOAD) into the server, and on Debian 12 a
# preloaded libasan hangs postgres in glibc's bindtextdomain at start-up
# (LD_PRELOAD=$(gcc -print-file-name=libasan.so) postgres -V never returns).
# make fuzz runs ASan on the core's checkpoint decoder instead.  Set
# SANITIZE=address,undefined to try it anyway (libasan is then preloaded).
#
#   make sanitize                  or: bash test/scripts/sanitize.sh
#   SANITIZE_KEEP=1 make sanitize  keep the temporary directory

set -euo pipefail

# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$EST_ROOT"

SANITIZE=${SANITIZE:-undefined}
bash test/scripts/deps.sh test

PGBIN=$(est_pg_bindir)
PGXS_DIR=$(est_pgxs_dir)
export PATH="$PGBIN:$PATH"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/estimator_sanitize.XXXXXX")
chmod 755 "$WORK"
BUILD="$WORK/src"
BASE="$WORK/cluster"
DATA="$BASE/data"
LOG="$BASE/postgres.log"
RESULTS="$EST_ROOT/test/results/sanitize"
started=no

# Finish stops the server, keeps its log and reinstalls the normal build.
Finish()
{
	local rc=$?
	if [[ "$started" == yes ]]; then
		as_pg "$PGBIN/pg_ctl" -D "$DATA" -m fast -w -t 30 stop >/dev/null 2>&1 ||
			as_pg "$PGBIN/pg_ctl" -D "$DATA" -m immediate -w stop >/dev/null 2>&1 || true
	fi
	mkdir -p "$RESULTS"
	if [[ -f "$LOG" ]]; then
		cp "$LOG" "$RESULTS/postgres.log" 2>/dev/null || true
	fi
	est_info "reinstalling the normal build of $EST_ROOT"
	if ! make -s -C "$EST_ROOT" -j"$(nproc)" >"$RESULTS/reinstall.log" 2>&1 ||
		! make -s -C "$EST_ROOT" install >>"$RESULTS/reinstall.log" 2>&1; then
		cat "$RESULTS/reinstall.log" >&2
		est_info "error: the normal build did not reinstall; run make install"
		rc=1
	fi
	if [[ -z "${SANITIZE_KEEP:-}" ]]; then
		rm -rf "$WORK"
	else
		est_info "kept $WORK"
	fi
	exit "$rc"
}
trap Finish EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

rm -rf "$RESULTS"
mkdir -p "$RESULTS" "$BUILD"
tar -C "$EST_ROOT" --exclude=./tmp_cluster --exclude=./test/results \
	--exclude='*.o' --exclude='*.so' --exclude='*.bc' -cf - . |
	tar -C "$BUILD" -xf -

FLAGS="-fsanitize=$SANITIZE -fno-sanitize-recover=all -fno-omit-frame-pointer"
est_info "building with $FLAGS in $BUILD"
if ! make -C "$BUILD" -j"$(nproc)" COPT="$FLAGS" \
	SHLIB_LINK="-lopenblas -lm -fsanitize=$SANITIZE" >"$RESULTS/build.log" 2>&1; then
	tail -n 40 "$RESULTS/build.log" >&2
	est_die "the sanitized build failed"
fi
[[ "$(nm -D "$BUILD/estimator.so" | grep -c __ubsan_handle)" -gt 0 ]] ||
	est_die "estimator.so has no UBSan hooks"
make -C "$BUILD" -s install >"$RESULTS/install.log" 2>&1 ||
	est_die "make install of the sanitized build failed"
INSTALLED="$("$PG_CONFIG" --pkglibdir)/estimator.so"
cmp -s "$BUILD/estimator.so" "$INSTALLED" ||
	est_die "$INSTALLED is not the sanitized build after make install"

# A cluster of our own.  postgres does not link the sanitizer's runtime, so
# it is preloaded: the standalone UBSan runtime, or libasan for address.
mkdir -p "$BASE"
if est_is_root; then
	chown -R postgres: "$WORK"
fi
as_pg "$PGBIN/initdb" -D "$DATA" -U postgres --auth=trust --no-sync \
	--locale=C --encoding=UTF8 >"$RESULTS/initdb.log" 2>&1 ||
	est_die "initdb failed; see $RESULTS/initdb.log"
port=${EST_SANITIZE_PORT:-56432}
while grep -q "\.s\.PGSQL\.$port\$" /proc/net/unix 2>/dev/null; do
	port=$((port + 1))
done
printf '%s\n' "port = $port" "listen_addresses = ''" \
	"unix_socket_directories = '$BASE'" "fsync = off" \
	"max_connections = 50" "max_prepared_transactions = 10" \
	"log_line_prefix = '%m [%p] %q%a '" "lc_messages = 'C'" |
	as_pg tee -a "$DATA/postgresql.conf" >/dev/null
case "$SANITIZE" in
	*address*) preload=$(gcc -print-file-name=libasan.so) ;;
	*) preload=$(gcc -print-file-name=libubsan.so) ;;
esac
[[ -f "$preload" ]] || est_die "no sanitizer runtime at $preload"
SAN_OPTS="print_stacktrace=1:halt_on_error=1:abort_on_error=1"
if ! as_pg env LD_PRELOAD="$preload" UBSAN_OPTIONS="$SAN_OPTS" \
	ASAN_OPTIONS="detect_leaks=0:$SAN_OPTS" \
	timeout 120 "$PGBIN/pg_ctl" -D "$DATA" -l "$LOG" -w -t 60 start \
	>"$RESULTS/pg_ctl.log" 2>&1; then
	cat "$RESULTS/pg_ctl.log" >&2
	tail -n 30 "$LOG" >&2 || true
	started=yes
	est_die "the server did not start"
fi
started=yes
export PGHOST="$BASE" PGPORT="$port" PGUSER=postgres PGDATABASE=postgres
est_info "server on $PGHOST port $PGPORT, $preload preloaded"

failed=()
cd "$BUILD"
mkdir -p test/results
if make -s installcheck >"$RESULTS/regress.log" 2>&1; then
	regress="regress ok"
else
	regress="regress FAILED"
	failed+=("regress")
	cp test/results/regression.diffs "$RESULTS/" 2>/dev/null || true
fi
mkdir -p "$RESULTS/isolation"
iso_args=()
if [[ -f test/isolation/isolation_schedule ]]; then
	iso_args+=(--schedule=test/isolation/isolation_schedule)
else
	for spec in test/isolation/specs/*.spec; do
		iso_args+=("$(basename "$spec" .spec)")
	done
fi
if "$PGXS_DIR/src/test/isolation/pg_isolation_regress" \
	--inputdir=test/isolation --outputdir="$RESULTS/isolation" \
	--bindir="$PGBIN" --host="$PGHOST" --port="$PGPORT" --user="$PGUSER" \
	--dbname=isolation_regression --load-extension=estimator \
	"${iso_args[@]}" >"$RESULTS/isolation.log" 2>&1; then
	isolation="isolation ok"
else
	isolation="isolation FAILED"
	failed+=("isolation")
fi
cd "$EST_ROOT"
tail -n 3 "$RESULTS/regress.log" "$RESULTS/isolation.log" || true

# Nothing replaced the sanitized library meanwhile (another make install).
cmp -s "$BUILD/estimator.so" "$INSTALLED" ||
	failed+=("$INSTALLED was replaced during the run (another make install?)")

pattern='runtime error:|AddressSanitizer|terminated by signal|PANIC'
n_findings=$(grep -cE "$pattern" "$LOG" || true)
if [[ "$n_findings" -gt 0 ]]; then
	failed+=("sanitizer findings in the server log")
	grep -E -B2 -A20 'runtime error:|AddressSanitizer' "$LOG" | head -n 80 >&2 || true
	grep -E "$pattern" "$LOG" | head -n 20 >&2
fi

summary="sanitize ($SANITIZE): $regress, $isolation, $n_findings findings in the server log; logs in test/results/sanitize"
if [[ ${#failed[@]} -gt 0 ]]; then
	echo "$summary; FAILED: ${failed[*]}"
	exit 1
fi
echo "$summary"
