#!/usr/bin/env bash
# sanitize.sh: the regression and isolation suites against a build of
# estimator with AddressSanitizer and UndefinedBehaviorSanitizer, loaded
# into the stock PostgreSQL 15 server (make sanitize).
#
# It installs nothing outside a temporary directory:
#
#   1. copies the checkout there and builds the extension with
#      -fsanitize=address,undefined -fno-sanitize-recover=all (gcc, the
#      compiler of pg_config; any finding aborts the backend);
#   2. copies the server's bindir, pkglibdir and sharedir there too, each
#      under its own absolute path (e.g. <tmp>/pg/usr/lib/postgresql/15):
#      PostgreSQL finds its lib and share directories relative to where its
#      binary is, so the copied postgres loads extensions from the copy;
#      it checks that with the copy's pg_config;
#   3. installs the sanitized build into the copy (make install
#      DESTDIR=<tmp>/pg) -- never into the system's PostgreSQL;
#   4. starts a throwaway cluster with the copied, unmodified postgres and
#      the sanitizer runtimes preloaded (LD_PRELOAD: gcc's libasan, which
#      must come first, libubsan, and test/scripts/asan_preload.c, without
#      which a preloaded libasan hangs postgres at start-up -- see there);
#      jit is off, so that no uninstrumented bitcode of estimator runs;
#   5. runs pg_regress (make installcheck) and pg_isolation_regress against
#      it, checks that the backends mapped libasan and the copy's
#      estimator.so, and fails when the server log has "runtime error:",
#      "AddressSanitizer", "terminated by signal" or "PANIC".
#
# LeakSanitizer is off (detect_leaks=0): the server frees by memory context
# and exits without freeing, so it would report every backend.
#
# As root (CI), the server runs as the OS user postgres, which must be able
# to read the temporary directory (TMPDIR, default /tmp).
#
#   make sanitize                        or: bash test/scripts/sanitize.sh
#   SANITIZE=undefined make sanitize     UBSan only
#   SANITIZE_KEEP=1 make sanitize        keep the temporary directory
#
# Logs go to test/results/sanitize.

set -euo pipefail

# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
cd "$EST_ROOT"

SANITIZE=${SANITIZE:-address,undefined}
bash test/scripts/deps.sh test

PGBIN=$(est_pg_bindir)
PGXS_DIR=$(est_pgxs_dir)
PKGLIBDIR=$("$PG_CONFIG" --pkglibdir)
SHAREDIR=$("$PG_CONFIG" --sharedir)
CC=$("$PG_CONFIG" --cc)
export PATH="$PGBIN:$PATH"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/estimator_sanitize.XXXXXX")
chmod 755 "$WORK"
BUILD="$WORK/src"
PGROOT="$WORK/pg"
BASE="$WORK/cluster"
DATA="$BASE/data"
LOG="$BASE/postgres.log"
RESULTS="$EST_ROOT/test/results/sanitize"
started=no

# The copied installation.
RBIN="$PGROOT$PGBIN"
RPKGLIB="$PGROOT$PKGLIBDIR"
RSHARE="$PGROOT$SHAREDIR"

# Finish stops the server and keeps its log.
Finish()
{
	local rc=$?
	if [[ "$started" == yes ]]; then
		as_pg "$RBIN/pg_ctl" -D "$DATA" -m fast -w -t 30 stop >/dev/null 2>&1 ||
			as_pg "$RBIN/pg_ctl" -D "$DATA" -m immediate -w stop >/dev/null 2>&1 || true
	fi
	mkdir -p "$RESULTS"
	if [[ -f "$LOG" ]]; then
		cp "$LOG" "$RESULTS/postgres.log" 2>/dev/null || true
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

if est_is_root; then
	id postgres >/dev/null 2>&1 ||
		est_die "there is no OS user postgres; run test/scripts/deps.sh"
	est_pg_can_read "$WORK" ||
		est_die "the OS user postgres cannot reach $WORK; set TMPDIR"
fi

rm -rf "$RESULTS"
mkdir -p "$RESULTS" "$BUILD" "$PGROOT"
tar -C "$EST_ROOT" --exclude=./tmp_cluster --exclude=./test/results \
	--exclude=./.git --exclude='*.o' --exclude='*.so' --exclude='*.bc' \
	-cf - . | tar -C "$BUILD" -xf -

# 1. The sanitized build.
FLAGS="-fsanitize=$SANITIZE -fno-sanitize-recover=all -fno-omit-frame-pointer"
est_info "building with $FLAGS in $BUILD"
# PGXS adds COPT to both CFLAGS and LDFLAGS, so the link gets the runtimes.
if ! make -C "$BUILD" -j"$(nproc)" COPT="$FLAGS" >"$RESULTS/build.log" 2>&1; then
	tail -n 40 "$RESULTS/build.log" >&2
	est_die "the sanitized build failed"
fi
if [[ "$SANITIZE" == *address* ]]; then
	[[ "$(nm -D "$BUILD/estimator.so" | grep -c __asan_report)" -gt 0 ]] ||
		est_die "estimator.so has no ASan hooks"
fi
if [[ "$SANITIZE" == *undefined* ]]; then
	[[ "$(nm -D "$BUILD/estimator.so" | grep -c __ubsan_handle)" -gt 0 ]] ||
		est_die "estimator.so has no UBSan hooks"
fi

# 2. A copy of the server's installation, laid out as the original.
est_info "copying PostgreSQL's $PGBIN, $PKGLIBDIR and $SHAREDIR to $PGROOT"
tar -C / -cf - "${PGBIN#/}" "${PKGLIBDIR#/}" "${SHAREDIR#/}" |
	tar -C "$PGROOT" -xpf -
# Whatever estimator the system has installed is not ours.
rm -f "$RPKGLIB"/estimator.so "$RSHARE"/extension/estimator[.-]*
rm -rf "$RPKGLIB"/bitcode/estimator "$RPKGLIB"/bitcode/estimator.index.bc
[[ "$("$RBIN/pg_config" --pkglibdir)" == "$RPKGLIB" &&
	"$("$RBIN/pg_config" --sharedir)" == "$RSHARE" ]] ||
	est_die "the copied PostgreSQL does not find its files relative to $RBIN"

# 3. The sanitized build into the copy.
make -C "$BUILD" -s install DESTDIR="$PGROOT" >"$RESULTS/install.log" 2>&1 ||
	est_die "make install DESTDIR=$PGROOT failed; see $RESULTS/install.log"
cmp -s "$BUILD/estimator.so" "$RPKGLIB/estimator.so" ||
	est_die "$RPKGLIB/estimator.so is not the sanitized build"

# The runtimes to preload; libasan must come first.
preload=()
if [[ "$SANITIZE" == *address* ]]; then
	preload+=("$("$CC" -print-file-name=libasan.so)")
	"$CC" -O2 -fPIC -shared -o "$WORK/asan_preload.so" test/scripts/asan_preload.c ||
		est_die "cannot build test/scripts/asan_preload.c"
fi
if [[ "$SANITIZE" == *undefined* ]]; then
	preload+=("$("$CC" -print-file-name=libubsan.so)")
fi
if [[ "$SANITIZE" == *address* ]]; then
	preload+=("$WORK/asan_preload.so")
fi
for lib in "${preload[@]}"; do
	[[ -f "$lib" ]] || est_die "no sanitizer runtime at $lib"
done

# 4. A cluster of our own, run by the copied postgres.
mkdir -p "$BASE"
if est_is_root; then
	chown -R postgres: "$BASE"
fi
as_pg "$RBIN/initdb" -D "$DATA" -U postgres --auth=trust --no-sync \
	--locale=C --encoding=UTF8 >"$RESULTS/initdb.log" 2>&1 ||
	est_die "initdb failed; see $RESULTS/initdb.log"
port=${EST_SANITIZE_PORT:-56432}
while grep -q "\.s\.PGSQL\.$port\$" /proc/net/unix 2>/dev/null; do
	port=$((port + 1))
done
printf '%s\n' "port = $port" "listen_addresses = ''" \
	"unix_socket_directories = '$BASE'" "fsync = off" \
	"max_connections = 50" "max_prepared_transactions = 10" \
	"log_line_prefix = '%m [%p] %q%a '" "lc_messages = 'C'" "jit = off" |
	as_pg tee -a "$DATA/postgresql.conf" >/dev/null
SAN_OPTS="print_stacktrace=1:halt_on_error=1:abort_on_error=1"
if ! as_pg env LD_PRELOAD="${preload[*]}" UBSAN_OPTIONS="$SAN_OPTS" \
	ASAN_OPTIONS="detect_leaks=0:$SAN_OPTS" \
	timeout 120 "$RBIN/pg_ctl" -D "$DATA" -l "$LOG" -w -t 60 start \
	>"$RESULTS/pg_ctl.log" 2>&1; then
	cat "$RESULTS/pg_ctl.log" >&2
	tail -n 30 "$LOG" >&2 || true
	started=yes
	est_die "the server did not start"
fi
started=yes
export PGHOST="$BASE" PGPORT="$port" PGUSER=postgres PGDATABASE=postgres
est_info "server $RBIN/postgres on $PGHOST port $PGPORT, preloaded: ${preload[*]}"

# 5. The suites, with the system's clients.
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

# A backend that loads estimator maps the sanitized build of the copy and
# the runtimes.
maps=$("$PGBIN/psql" -X -At -v ON_ERROR_STOP=1 -c "LOAD 'estimator'" -c \
	"SELECT l FROM regexp_split_to_table(pg_read_file('/proc/self/maps'), E'\\n') l" \
	2>>"$RESULTS/maps.log" || true)
printf '%s\n' "$maps" >>"$RESULTS/maps.log"
grep -qF "$RPKGLIB/estimator.so" <<<"$maps" ||
	failed+=("a backend did not map $RPKGLIB/estimator.so")
for lib in "${preload[@]}"; do
	real=$(readlink -f "$lib")
	grep -qF "$real" <<<"$maps" || failed+=("a backend did not map $real")
done

pattern='runtime error:|AddressSanitizer|terminated by signal|PANIC'
n_findings=$(grep -cE "$pattern" "$LOG" || true)
if [[ "$n_findings" -gt 0 ]]; then
	failed+=("sanitizer findings in the server log")
	grep -E -B2 -A30 'runtime error:|AddressSanitizer' "$LOG" | head -n 100 >&2 || true
	grep -E "$pattern" "$LOG" | head -n 20 >&2
fi

summary="sanitize ($SANITIZE): $regress, $isolation, $n_findings findings in the server log; logs in test/results/sanitize"
if [[ ${#failed[@]} -gt 0 ]]; then
	echo "$summary; FAILED: ${failed[*]}"
	exit 1
fi
echo "$summary"
