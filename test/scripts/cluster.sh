#!/usr/bin/env bash
# cluster.sh: a throwaway PostgreSQL 15 cluster for the tests and the demo.
#
#   test/scripts/cluster.sh start      stop any old one, initdb, start
#   test/scripts/cluster.sh stop       stop it; safe to call at any time
#   test/scripts/cluster.sh clean      stop it and remove its files
#   test/scripts/cluster.sh status     say whether it runs, and where
#   test/scripts/cluster.sh env        print export lines for PGHOST, PGPORT,
#                                      PGUSER, PGDATABASE: eval "$(... env)"
#   test/scripts/cluster.sh psql ARGS  psql connected to it
#
# Sourced from another bash script, it defines cluster_start (which also
# exports PGHOST, PGPORT, PGUSER and PGDATABASE), cluster_stop,
# cluster_clean, cluster_finish, cluster_env and cluster_base, and runs
# nothing.
#
# Everything lives in ./tmp_cluster of the checkout: data/, sock/ (the only
# place the server listens: listen_addresses is empty), postgres.log, and
# the files port, pghost (the socket directory) and env.  As root, the
# server runs as the OS user postgres, which must be able to reach the
# checkout; when it cannot (a checkout under /root, say), the cluster goes
# to a private directory under /tmp instead, whose path tmp_cluster/base
# records, and cluster_finish removes it.  A checkout path too long for a
# unix socket gets its socket directory under /tmp too.
#
# Settings favor speed over durability (fsync off); never keep data here.

# shellcheck source=common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

EST_STATE_DIR="$EST_ROOT/tmp_cluster"
EST_FIRST_PORT=${EST_FIRST_PORT:-55432}

# cluster_base prints the directory holding data/, sock/ and the log.
cluster_base()
{
	if [[ -f "$EST_STATE_DIR/base" ]]; then
		cat "$EST_STATE_DIR/base"
	else
		echo "$EST_STATE_DIR"
	fi
}

# cluster_env prints the export lines of the running cluster.
cluster_env()
{
	[[ -f "$EST_STATE_DIR/env" ]] ||
		est_die "no cluster here; run: test/scripts/cluster.sh start"
	cat "$EST_STATE_DIR/env"
}

# cluster_stop stops the cluster of this checkout if one runs.  It never
# fails, so it suits an EXIT trap.
cluster_stop()
{
	local base data pid bindir
	base=$(cluster_base)
	data="$base/data"
	[[ -f "$data/postmaster.pid" ]] || return 0
	bindir=$(est_pg_bindir 2>/dev/null) || bindir=/usr/lib/postgresql/15/bin
	if as_pg "$bindir/pg_ctl" -D "$data" -m fast -w -t 60 stop >/dev/null 2>&1; then
		return 0
	fi
	as_pg "$bindir/pg_ctl" -D "$data" -m immediate -w -t 30 stop >/dev/null 2>&1 && return 0
	pid=$(head -n 1 "$data/postmaster.pid" 2>/dev/null || true)
	if [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null; then
		est_info "postmaster $pid did not stop; killing it"
		kill -KILL "$pid" 2>/dev/null || true
	fi
	rm -f "$data/postmaster.pid"
	return 0
}

# cluster_clean stops the cluster and removes its files.
cluster_clean()
{
	local base sock
	cluster_stop
	base=$(cluster_base)
	if [[ -f "$EST_STATE_DIR/pghost" ]]; then
		sock=$(cat "$EST_STATE_DIR/pghost")
		[[ "$sock" == "$base"/* ]] || rm -rf "$sock"
	fi
	if [[ "$base" != "$EST_STATE_DIR" ]]; then
		rm -rf "$base"
	fi
	rm -rf "$EST_STATE_DIR"
}

# cluster_finish suits an EXIT trap: it stops the cluster, and removes it
# when it lives outside the checkout (under /tmp), where nobody would look
# for it later.  In the checkout it stays for inspection until the next
# start.
cluster_finish()
{
	local sock
	if [[ "$(cluster_base)" != "$EST_STATE_DIR" ]]; then
		cluster_clean
		return 0
	fi
	cluster_stop
	if [[ -f "$EST_STATE_DIR/pghost" ]]; then
		sock=$(cat "$EST_STATE_DIR/pghost")
		if [[ "$sock" != "$EST_STATE_DIR"/* ]]; then
			rm -rf "$sock"
		fi
	fi
	return 0
}

# PortInUse succeeds when something listens on TCP port $1 of localhost or
# any server, ours or not, has a unix socket for it.
PortInUse()
{
	local port=$1
	if [[ -r /proc/net/unix ]] &&
		grep -q "/\.s\.PGSQL\.$port\$" /proc/net/unix; then
		return 0
	fi
	[[ -e "/var/run/postgresql/.s.PGSQL.$port" || -e "/tmp/.s.PGSQL.$port" ]] &&
		return 0
	(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
	return 1
}

FreePort()
{
	local port
	for ((port = EST_FIRST_PORT; port < EST_FIRST_PORT + 100; port++)); do
		if ! PortInUse "$port"; then
			echo "$port"
			return 0
		fi
	done
	est_die "no free port in $EST_FIRST_PORT..$((EST_FIRST_PORT + 99))"
}

# ChooseBase prints where data/, sock/ and the log go: tmp_cluster itself
# when the server's OS user can write there, else a private temp directory.
ChooseBase()
{
	if est_is_root; then
		chown postgres: "$EST_STATE_DIR"
	fi
	if as_pg test -w "$EST_STATE_DIR" -a -x "$EST_STATE_DIR" 2>/dev/null; then
		echo "$EST_STATE_DIR"
		return 0
	fi
	local base
	base=$(mktemp -d "${TMPDIR:-/tmp}/estimator_cluster.XXXXXX")
	chmod 700 "$base"
	if est_is_root; then
		chown postgres: "$base"
	fi
	est_info "the OS user postgres cannot reach $EST_STATE_DIR" \
		"(is a parent directory private?); using $base instead"
	echo "$base" >"$EST_STATE_DIR/base"
	echo "$base"
}

# cluster_start stops a cluster left by an earlier run, makes a new one,
# starts it and exports PGHOST, PGPORT, PGUSER and PGDATABASE.
cluster_start()
{
	local bindir base data sock log port

	if est_is_root && ! id postgres >/dev/null 2>&1; then
		est_die "there is no OS user postgres; run test/scripts/deps.sh"
	fi
	bindir=$(est_pg_bindir) || est_die "no pg_config; run test/scripts/deps.sh"

	cluster_clean
	mkdir -p "$EST_STATE_DIR"

	base=$(ChooseBase)
	data="$base/data"
	sock="$base/sock"
	log="$base/postgres.log"
	# A unix socket path holds at most 107 bytes.
	if (( ${#sock} + 16 > 100 )); then
		sock=$(mktemp -d "${TMPDIR:-/tmp}/est_sock.XXXXXX")
		chmod 755 "$sock"
	fi
	mkdir -p "$sock"
	echo "$sock" >"$EST_STATE_DIR/pghost"
	if est_is_root; then
		chown postgres: "$sock"
	fi

	if ! as_pg "$bindir/initdb" -D "$data" -U postgres --auth=trust \
		--no-sync --locale=C --encoding=UTF8 >"$base/initdb.log" 2>&1; then
		cat "$base/initdb.log" >&2
		est_die "initdb failed"
	fi

	port=$(FreePort)
	# Appended settings override the defaults above them.
	as_pg tee -a "$data/postgresql.conf" >/dev/null <<EOF

# Added by test/scripts/cluster.sh: a throwaway cluster for tests.
port = $port
listen_addresses = ''
unix_socket_directories = '$sock'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 50
max_prepared_transactions = 10
shared_buffers = 64MB
logging_collector = off
log_line_prefix = '%m [%p] %q%a '
log_min_messages = warning
lc_messages = 'C'
EOF

	if ! as_pg "$bindir/pg_ctl" -D "$data" -l "$log" -w -t 60 start \
		>"$base/pg_ctl.log" 2>&1; then
		cat "$base/pg_ctl.log" >&2
		tail -n 30 "$log" >&2 2>/dev/null || true
		cluster_stop
		est_die "the server did not start; log: $log"
	fi

	echo "$port" >"$EST_STATE_DIR/port"
	cat >"$EST_STATE_DIR/env" <<EOF
export PGHOST='$sock'
export PGPORT='$port'
export PGUSER=postgres
export PGDATABASE=postgres
EOF
	export PGHOST="$sock" PGPORT="$port" PGUSER=postgres PGDATABASE=postgres
	est_info "server running: PGHOST=$sock PGPORT=$port PGUSER=postgres, log $log"
}

cluster_status()
{
	local base data bindir
	base=$(cluster_base)
	data="$base/data"
	bindir=$(est_pg_bindir)
	if [[ -d "$data" ]] && as_pg "$bindir/pg_ctl" -D "$data" status >/dev/null 2>&1; then
		echo "running: data $data, port $(cat "$EST_STATE_DIR/port"), log $base/postgres.log"
		return 0
	fi
	echo "not running"
	return 3
}

ClusterMain()
{
	set -euo pipefail
	local cmd=${1:-}
	shift || true
	case "$cmd" in
		start)
			cluster_start
			cluster_env
			;;
		stop)
			cluster_stop
			;;
		clean)
			cluster_clean
			;;
		status)
			cluster_status
			;;
		env)
			cluster_env
			;;
		psql)
			eval "$(cluster_env)"
			exec "$(est_pg_bindir)/psql" -X "$@"
			;;
		*)
			echo "usage: $0 start|stop|clean|status|env|psql [psql arguments]" >&2
			exit 2
			;;
	esac
}

if [[ "${BASH_SOURCE[0]}" == "$0" ]]; then
	ClusterMain "$@"
fi
