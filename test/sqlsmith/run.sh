#!/usr/bin/env bash
# run.sh: random SQL from sqlsmith against estimator, as an unprivileged
# role, and a check of the server log for crashes.
#
#   PGHOST=... PGPORT=... bash test/sqlsmith/run.sh
#
# Against the running cluster that PGHOST and PGPORT (and PGUSER, a
# superuser, default postgres) name, it (re)creates the database
# $SQLSMITH_DB with the extension, the Iris tables (test/scripts/load_iris.sql,
# run from the checkout's root), models of several kinds (a dnn_classifier,
# a binary linear_classifier, a dnn_regressor, a wide & deep classifier, a
# label_dimension 2 regressor, and two classifiers of text labels on a table
# of every kind of feature: inferred, and declared with every feature
# column kind) and the role sqlsmith_user, which owns
# nothing and may only read the data tables and call the functions.  Then
#
#   sqlsmith --target="host=... port=... dbname=... user=sqlsmith_user" \
#            --max-queries=$SQLSMITH_QUERIES --seed=$SQLSMITH_SEED
#
# and it fails when the server log written meanwhile has "terminated by
# signal", "PANIC", "TRAP" or "server process (PID" lines, or when the server
# restarted or stopped.  The last line sums the run up.
#
#   SQLSMITH_QUERIES     queries to generate (default 10000)
#   SQLSMITH_SEED        sqlsmith's --seed (default 1)
#   SQLSMITH_DB          the database (default estimator_sqlsmith)
#   SQLSMITH_SERVER_LOG  the server's log file; by default the log of
#                        test/scripts/cluster.sh's cluster when PGPORT is its
#                        port, else pg_current_logfile()
#   SQLSMITH_OUT         where sqlsmith's output goes
#                        (default test/results/sqlsmith.log)

set -euo pipefail

# shellcheck source=../scripts/cluster.sh
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/cluster.sh"
cd "$EST_ROOT"

: "${PGHOST:?set PGHOST (and PGPORT) to the running server}"
: "${PGPORT:?set PGPORT to the port of the running server}"
export PGUSER=${PGUSER:-postgres}
QUERIES=${SQLSMITH_QUERIES:-10000}
SEED=${SQLSMITH_SEED:-1}
DB=${SQLSMITH_DB:-estimator_sqlsmith}
OUT=${SQLSMITH_OUT:-$EST_ROOT/test/results/sqlsmith.log}
ROLE=sqlsmith_user

command -v sqlsmith >/dev/null ||
	est_die "no sqlsmith; run: test/scripts/deps.sh test"
[[ "$QUERIES" =~ ^[0-9]+$ && "$SEED" =~ ^[0-9]+$ ]] ||
	est_die "SQLSMITH_QUERIES and SQLSMITH_SEED must be numbers"

PSQL=("$(est_pg_bindir)/psql" -X -q -v ON_ERROR_STOP=1)

# The server log, to look at what it gains during the run.
LOG=${SQLSMITH_SERVER_LOG:-}
if [[ -z "$LOG" && -f "$EST_STATE_DIR/port" &&
	"$(cat "$EST_STATE_DIR/port")" == "$PGPORT" ]]; then
	LOG="$(cluster_base)/postgres.log"
fi
if [[ -z "$LOG" ]]; then
	LOG=$("${PSQL[@]}" -At -d postgres -c 'SELECT pg_current_logfile()')
	[[ -z "$LOG" || "$LOG" == /* ]] ||
		LOG="$("${PSQL[@]}" -At -d postgres -c 'SHOW data_directory')/$LOG"
fi
[[ -n "$LOG" && -r "$LOG" ]] ||
	est_die "cannot read the server log; set SQLSMITH_SERVER_LOG"

"${PSQL[@]}" -d postgres <<SQL
SET client_min_messages = warning;
DROP DATABASE IF EXISTS $DB WITH (FORCE);
CREATE DATABASE $DB;
DROP ROLE IF EXISTS $ROLE;
CREATE ROLE $ROLE LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE;
SQL
"${PSQL[@]}" -d "$DB" -c 'CREATE EXTENSION estimator'
"${PSQL[@]}" -d "$DB" -f test/scripts/load_iris.sql
"${PSQL[@]}" -d "$DB" -o /dev/null <<'SQL'
SET client_min_messages = warning;
CREATE TABLE smith_bin AS
	SELECT g AS id, (g % 13) / 6.0 AS a, (g % 7) / 6.0 AS b,
		   ((g % 13) / 6.0 + 2 * (g % 7) / 6.0 > 1.5)::int AS label
	  FROM generate_series(1, 200) g;
CREATE TABLE smith_reg AS
	SELECT x, 3 * x - 2 AS y, ARRAY[3 * x - 2, 1 - x]::float8[] AS y2
	  FROM (SELECT (g % 50) / 10.0::float8 AS x FROM generate_series(1, 200) g) s;
-- a table of every kind of feature, NULLs and class names
CREATE TABLE smith_mixed AS
	SELECT g AS id, CASE WHEN g % 11 = 0 THEN NULL ELSE (g % 37) * 1000.0 END AS income,
		   (ARRAY['red', 'green', 'blue', NULL])[1 + g % 4] AS color,
		   g % 3 = 0 AS flag, ARRAY['t' || g % 5, 't' || g % 3] AS tags,
		   ARRAY[g % 7, g % 2]::real[] AS vec, 'u' || g % 150 AS usr,
		   (ARRAY['yes', 'no'])[1 + (g % 4 + g % 3) % 2] AS answer
	  FROM generate_series(1, 300) g;
SELECT count(*) FROM (
	SELECT est_train('smith_dnn', 'iris_train', steps => 200,
					 params => '{"seed": 1}')
	UNION ALL
	SELECT est_train('smith_logreg', 'SELECT a, b, label FROM smith_bin',
					 model_type => 'linear_classifier', steps => 200,
					 params => '{"seed": 2}')
	UNION ALL
	SELECT est_train('smith_dnnreg', 'SELECT x, y FROM smith_reg', label => 'y',
					 model_type => 'dnn_regressor', hidden_units => '{8,8}',
					 steps => 200, params => '{"seed": 3}')
	UNION ALL
	SELECT est_train('smith_reg2', 'SELECT x, y2 FROM smith_reg', label => 'y2',
					 model_type => 'dnn_regressor', steps => 200,
					 params => '{"seed": 4}')
	UNION ALL
	SELECT est_train('smith_wide_deep', 'iris_train',
					 model_type => 'dnn_linear_combined_classifier', steps => 200,
					 params => '{"seed": 5, "linear_feature_columns": ["petal_length", "petal_width"],
								 "dnn_feature_columns": ["sepal_length", "sepal_width", "petal_length", "petal_width"]}')
	UNION ALL
	SELECT est_train('smith_mixed', 'SELECT income, color, flag, tags, vec, usr, answer FROM smith_mixed',
					 label => 'answer', steps => 200, params => '{"seed": 6}')
	UNION ALL
	SELECT est_train('smith_declared', 'smith_mixed', label => 'answer', steps => 200,
					 params => '{"seed": 7, "feature_columns": [
						{"type": "numeric", "key": "income", "default_value": 0, "normalizer": "minmax"},
						{"type": "bucketized", "key": "income", "boundaries": [5000, 20000]},
						{"type": "vocabulary", "key": "color", "vocabulary": ["red", "green"], "embedding_dimension": 3},
						{"type": "hash", "key": "tags", "hash_bucket_size": 7, "combiner": "sqrtn", "embedding_dimension": 2},
						{"type": "crossed", "keys": ["color", "flag"], "hash_bucket_size": 11},
						{"type": "identity", "key": "id", "num_buckets": 100, "default_value": 0}]}')
) t;
SELECT count(*) FROM est_evaluate('smith_dnn', 'iris_test');
-- Views that run the extension, so that every query sqlsmith builds on
-- them scores, evaluates or reads models under its joins and predicates.
CREATE VIEW smith_scored AS
	SELECT t.*, est_predict('smith_dnn', t) AS predicted,
		   est_predict_proba('smith_wide_deep', t) AS proba
	  FROM iris_test t;
CREATE VIEW smith_bin_scored AS
	SELECT s.*, est_predict('smith_logreg', s) AS predicted
	  FROM (SELECT a, b, label FROM smith_bin) s;
CREATE VIEW smith_reg_scored AS
	SELECT x, est_predict('smith_dnnreg', ARRAY[x]) AS y,
		   est_predict_values('smith_reg2', ARRAY[x]) AS y2
	  FROM smith_reg;
CREATE VIEW smith_mixed_scored AS
	SELECT m.*, est_predict_label('smith_mixed', m) AS label,
		   est_predict_proba('smith_declared', m) AS proba
	  FROM smith_mixed m;
CREATE VIEW smith_features AS
	SELECT * FROM est_feature_info('smith_mixed')
	UNION ALL SELECT * FROM est_feature_info('smith_declared');
CREATE VIEW smith_metrics AS
	SELECT * FROM est_evaluate('smith_logreg', 'SELECT a, b, label FROM smith_bin');
CREATE VIEW smith_confusion AS
	SELECT * FROM est_confusion_matrix('smith_dnn', 'iris_test');
CREATE VIEW smith_roc AS
	SELECT * FROM est_roc_curve('smith_logreg', 'SELECT a, b, label FROM smith_bin');
GRANT SELECT ON iris_train, iris_test, smith_bin, smith_reg, smith_scored,
	smith_bin_scored, smith_reg_scored, smith_metrics, smith_confusion,
	smith_roc, smith_mixed, smith_mixed_scored, smith_features TO sqlsmith_user;
SQL

start_time=$("${PSQL[@]}" -At -d postgres -c 'SELECT pg_postmaster_start_time()')
offset=$(($(stat -c %s "$LOG") + 1))
mkdir -p "$(dirname "$OUT")"

est_info "sqlsmith: $QUERIES queries, seed $SEED, database $DB, as $ROLE"
t0=$(date +%s)
rc=0
sqlsmith --verbose \
	--target="host=$PGHOST port=$PGPORT dbname=$DB user=$ROLE" \
	--max-queries="$QUERIES" --seed="$SEED" >"$OUT" 2>&1 || rc=$?
seconds=$(($(date +%s) - t0))

failed=()
[[ "$rc" -eq 0 ]] || failed+=("sqlsmith exited with $rc")
now=$("${PSQL[@]}" -At -d postgres -c 'SELECT pg_postmaster_start_time()' 2>/dev/null) ||
	now="(no answer)"
[[ "$now" == "$start_time" ]] ||
	failed+=("the server restarted or stopped (started at $start_time, now $now)")
crashes=$(tail -c +"$offset" "$LOG" |
	grep -E 'terminated by signal|PANIC|TRAP|server process \(PID' || true)
if [[ -n "$crashes" ]]; then
	failed+=("crash lines in $LOG")
	echo "$crashes" | head -n 20 >&2
	# The query that crashed the server, as the log shows it.
	tail -c +"$offset" "$LOG" | grep -B2 -A2 -E 'terminated by signal|PANIC|TRAP' |
		head -n 40 >&2 || true
fi

# sqlsmith --verbose prints a character per query ("." ok, "e" error,
# "S" syntax error, "t" timeout, "C" broken connection), then
# now and then "queries: N" and a table of errors so far, as
# "count<TAB>message" lines; the last one counts the whole run.
queries=$( (grep -Eo '^queries: [0-9]+' "$OUT" || true) | tail -n 1 | grep -Eo '[0-9]+' || echo "?")
errors=$(awk -F '\t' '/^queries: / {n = 0} /^[0-9]+\t/ {n += $1} END {print n + 0}' "$OUT")
broken=$(awk '/^[.eStC]+$/ {n += gsub(/C/, "")} END {print n + 0}' "$OUT")
timeouts=$(awk '/^[.eStC]+$/ {n += gsub(/t/, "")} END {print n + 0}' "$OUT")
[[ "$queries" == "$QUERIES" ]] || failed+=("sqlsmith ran $queries queries of $QUERIES")
summary="$queries queries in ${seconds}s, $errors errors, $timeouts timeouts, $broken broken connections, seed $SEED"
if [[ ${#failed[@]} -gt 0 ]]; then
	tail -n 30 "$OUT" >&2
	echo "$summary; FAILED: $(IFS=';'; echo "${failed[*]}")"
	exit 1
fi
echo "$summary"
