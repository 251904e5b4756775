# shellcheck shell=bash disable=SC2034
# common.sh: settings and helpers shared by the scripts in test/scripts.
#
# Source it; it defines no side effects besides variables and functions:
#
#   EST_ROOT     absolute path of the checkout
#   PG_CONFIG    pg_config of PostgreSQL 15 (exported, so make uses it too)
#   est_pg_bindir, est_pgxs_dir    where the server binaries and PGXS live
#   as_pg CMD...                   run CMD as the OS user postgres when root
#   est_info, est_die              messages on stderr, prefixed with the script

EST_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd -P)

# /usr/bin/pg_config picks the newest server-dev package installed, which
# need not be 15; ask for 15 by its full path when it is there.
if [[ -z "${PG_CONFIG:-}" ]]; then
	if [[ -x /usr/lib/postgresql/15/bin/pg_config ]]; then
		PG_CONFIG=/usr/lib/postgresql/15/bin/pg_config
	else
		PG_CONFIG=pg_config
	fi
fi
export PG_CONFIG

EST_SCRIPT_NAME=${EST_SCRIPT_NAME:-$(basename "${BASH_SOURCE[-1]}")}

est_info()
{
	echo "${EST_SCRIPT_NAME}: $*" >&2
}

est_die()
{
	echo "${EST_SCRIPT_NAME}: error: $*" >&2
	exit 1
}

est_pg_bindir()
{
	"$PG_CONFIG" --bindir
}

# The directory holding src/, i.e. .../lib/pgxs; pg_regress, the isolation
# tester and the TAP perl modules live below it.
est_pgxs_dir()
{
	local mk
	mk=$("$PG_CONFIG" --pgxs)
	(cd "$(dirname "$mk")/../.." && pwd -P)
}

est_is_root()
{
	[[ "$(id -u)" -eq 0 ]]
}

# as_pg runs a command as the OS user postgres when we are root, since the
# server refuses to run as root; otherwise it runs as the current user, who
# then owns the cluster.
as_pg()
{
	if est_is_root; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

# est_pg_can_read DIR... succeeds when the server's OS user can traverse and
# read each DIR (so every parent directory is traversable too).
est_pg_can_read()
{
	local d
	for d in "$@"; do
		as_pg test -x "$d" -a -r "$d" 2>/dev/null || return 1
	done
}
