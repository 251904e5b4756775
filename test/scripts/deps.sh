#!/usr/bin/env bash
# deps.sh: install the Debian packages that building and testing need.
#
# Checks each package with dpkg-query and calls apt-get only for the missing
# ones, so it is fast when everything is there.  Installing needs root.
#
#   deps.sh          what building and the demo need
#   deps.sh test     that, and what the test suites need (the fuzzer,
#                    sqlsmith, pg_cron for test/t/006_cron.pl)

set -euo pipefail

PACKAGES=(
	postgresql-15            # server, initdb, pg_ctl, psql
	postgresql-server-dev-15 # PGXS, pg_regress, isolation tester, TAP modules
	libopenblas-dev          # cblas_sgemm
	libopenblas-serial-dev   # ... without a thread pool in every backend
	libipc-run-perl          # PostgreSQL::Test::Cluster
	make
	gcc
)
if [[ "${1:-}" == test ]]; then
	PACKAGES+=(
		clang-14             # libFuzzer
		libclang-rt-14-dev   # its sanitizer runtimes
		sqlsmith             # random queries (test/sqlsmith)
		postgresql-15-cron   # pg_cron: scheduled retraining (test/t/006_cron.pl)
	)
fi

missing=()
for pkg in "${PACKAGES[@]}"; do
	status=$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)
	if [[ "$status" != installed ]]; then
		missing+=("$pkg")
	fi
done

if [[ ${#missing[@]} -eq 0 ]]; then
	exit 0
fi

if [[ "$(id -u)" -ne 0 ]]; then
	echo "deps.sh: error: missing Debian packages: ${missing[*]}" >&2
	echo "deps.sh: run as root, or: sudo apt-get install ${missing[*]}" >&2
	exit 1
fi

echo "deps.sh: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "deps.sh: installed ${missing[*]}" >&2
