#!/usr/bin/env bash
# demo.sh: build, install and run the Iris tutorial (test/scripts/demo.sql)
# in a throwaway cluster, echoing each statement before its result.
#
#   make demo                         or: bash test/scripts/demo.sh
#   EST_KEEP_CLUSTER=1 make demo      leave the cluster running afterwards

set -euo pipefail

# shellcheck source=cluster.sh
source "$(dirname "${BASH_SOURCE[0]}")/cluster.sh"
cd "$EST_ROOT"

bash test/scripts/deps.sh

est_info "building"
make -s -j"$(nproc)" >/dev/null || est_die "the build failed (run make to see why)"
make -s install >/dev/null || est_die "make install failed"

if [[ -z "${EST_KEEP_CLUSTER:-}" ]]; then
	trap cluster_finish EXIT
	trap 'exit 130' INT
	trap 'exit 143' TERM
fi
cluster_start

echo
"$(est_pg_bindir)/psql" -X -a -v ON_ERROR_STOP=1 --pset=pager=off \
	-f test/scripts/demo.sql

if [[ -n "${EST_KEEP_CLUSTER:-}" ]]; then
	echo
	est_info "the cluster keeps running; connect with: test/scripts/cluster.sh psql"
	est_info "stop it with: test/scripts/cluster.sh stop"
fi
