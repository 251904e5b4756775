#!/usr/bin/env bash
# tabular.sh: estimator's one-liner against scikit-learn on mixed tables
# (make bench-tabular).
#
#   make bench-tabular                  or: bash test/bench/tabular.sh
#   TABULAR_SETS=users,nulls make bench-tabular     some of the data sets
#   TABULAR_NO_INSTALL=1 bash test/bench/tabular.sh
#                                       use the estimator already installed
#
# Installs missing Debian packages (test/scripts/deps.sh, then
# python3-sklearn, python3-psycopg2 and python3-numpy for the peer), builds
# and installs the extension unless TABULAR_NO_INSTALL is set, starts a
# throwaway cluster (cluster.sh), and runs test/bench/tabular.py: five
# synthetic mixed tables, each trained with est_train's defaults and with
# scikit-learn pipelines on the same 75/25 split, and a table of test
# accuracies.  The cluster (tmp_cluster/) is removed on exit.  Takes under
# a minute on two cores.  Not part of make test.

set -euo pipefail

# shellcheck source=../scripts/cluster.sh
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/cluster.sh"
cd "$EST_ROOT"

TABULAR_SETS=${TABULAR_SETS:-logistic,interactions,multiclass,users,nulls}
# Debian's interpreter, which has python3-sklearn, even when another python3
# comes first in PATH (pyenv, a virtualenv).
TABULAR_PYTHON=${TABULAR_PYTHON:-/usr/bin/python3}
export PYTHONDONTWRITEBYTECODE=1

# Dependencies: the project's, then the peer's.
tabular_deps()
{
	local pkg status missing=()
	bash test/scripts/deps.sh
	for pkg in python3-sklearn python3-psycopg2 python3-numpy; do
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
tabular_deps
"$TABULAR_PYTHON" -c 'import sklearn, psycopg2, numpy' ||
	est_die "$TABULAR_PYTHON cannot import sklearn, psycopg2 and numpy"

if [[ -n "${TABULAR_NO_INSTALL:-}" ]]; then
	est_info "TABULAR_NO_INSTALL is set: using the estimator installed in $("$PG_CONFIG" --pkglibdir)"
else
	est_info "building"
	make -s -j"$(nproc)" >/dev/null || est_die "the build failed (run make to see why)"
	make -s install >/dev/null || est_die "make install failed"
fi

trap cluster_clean EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

cluster_start
"$(est_pg_bindir)/psql" -X -q -v ON_ERROR_STOP=1 -c 'CREATE EXTENSION estimator'

est_info "running the data sets $TABULAR_SETS"
"$TABULAR_PYTHON" test/bench/tabular.py --sets "$TABULAR_SETS"
