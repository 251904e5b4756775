-- est_predict_table in parallel: a table as large as a parallel sequential
-- scan needs is scored by parallel workers with the backend, as many as
-- PostgreSQL would plan for the scan, and gives the rows one backend gives.
SET client_min_messages = warning;

-- 20,000 rows of 4 numbers (workers cannot read a temporary table).
CREATE TABLE pp_rows AS
SELECT i AS id, sin(i * 12.9898)::real AS x1, cos(i * 78.233)::real AS x2,
	   sin(i * 3.7)::real AS x3, cos(i * 1.3)::real AS x4,
	   CASE WHEN sin(i * 12.9898) + cos(i * 78.233) > 0.4 THEN 'high'
			WHEN sin(i * 3.7) > 0 THEN 'mid' ELSE 'low' END AS label,
	   (sin(i * 12.9898) * 2 - cos(i * 1.3))::real AS target
  FROM generate_series(1, 20000) i;
SELECT global_step FROM est_train('pp_class', 'pp_rows', label => 'label',
								  features => '{x1,x2,x3,x4}', hidden_units => '{16}',
								  steps => 300, params => '{"seed": 1}');
SELECT global_step FROM est_train('pp_reg', 'pp_rows', label => 'target',
								  model_type => 'dnn_regressor',
								  features => '{x1,x2,x3,x4}', hidden_units => '{16}',
								  steps => 300, params => '{"seed": 1}');

-- One backend's scores, to compare with.
SET max_parallel_workers_per_gather = 0;
CREATE TEMP TABLE pp_serial AS
SELECT 'class' AS model, * FROM est_predict_table('pp_class', 'pp_rows', key => 'id')
UNION ALL
SELECT 'reg', * FROM est_predict_table('pp_reg', 'pp_rows', key => 'id');

-- In parallel, with the workers alone reading (as a parallel scan without
-- the leader's participation), then with the backend reading too: every
-- row comes once, with the same prediction, probabilities and class name.
-- (Probabilities to float32's precision: on some CPUs OpenBLAS's sgemm
-- rounds a row differently with the other rows of its block, and the
-- members' blocks are not one backend's.)
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
SET parallel_leader_participation = off;
CREATE TEMP TABLE pp_workers AS
SELECT 'class' AS model, * FROM est_predict_table('pp_class', 'pp_rows', key => 'id')
UNION ALL
SELECT 'reg', * FROM est_predict_table('pp_reg', 'pp_rows', key => 'id');
RESET parallel_leader_participation;
CREATE TEMP TABLE pp_all AS
SELECT 'class' AS model, * FROM est_predict_table('pp_class', 'pp_rows', key => 'id')
UNION ALL
SELECT 'reg', * FROM est_predict_table('pp_reg', 'pp_rows', key => 'id');

SELECT p.run, s.model, count(*) AS rows, count(DISTINCT p.key) AS keys,
	   count(*) FILTER (WHERE p.prediction IS DISTINCT FROM s.prediction OR
							  p.label IS DISTINCT FROM s.label OR
							  (SELECT max(abs(a - b)) FROM unnest(p.outputs, s.outputs) u(a, b)) > 1e-6)
		 AS differ
  FROM (SELECT 'workers' AS run, * FROM pp_workers UNION ALL
		SELECT 'all', * FROM pp_all) p
  JOIN pp_serial s USING (model, key)
 GROUP BY p.run, s.model ORDER BY 1, 2;

-- Features of every kind (a vocabulary with NULLs, a boolean, an enum, an
-- array of text, an array of reals) encode in the workers as in the backend.
CREATE TYPE pp_mood AS ENUM ('sad', 'ok', 'happy');
CREATE TABLE pp_mixed AS
SELECT g AS id, (g % 37) * 1000.0 AS income,
	   (ARRAY['red', 'green', 'blue', NULL])[1 + g % 4] AS color,
	   g % 3 = 0 AS flag, ARRAY['t' || g % 5, 't' || g % 3] AS tags,
	   (ARRAY['sad', 'ok', 'happy'])[1 + g % 3]::pp_mood AS mood,
	   ARRAY[sin(g), cos(g)]::real[] AS v,
	   (ARRAY['yes', 'no'])[1 + (g % 4 + g % 3) % 2] AS answer
  FROM generate_series(1, 20000) g;
SELECT global_step FROM est_train('pp_mixed',
								  'SELECT income, color, flag, tags, mood, v, answer FROM pp_mixed',
								  label => 'answer', steps => 50, params => '{"seed": 1}');
SET max_parallel_workers_per_gather = 0;
CREATE TEMP TABLE pp_mixed_serial AS
SELECT * FROM est_predict_table('pp_mixed', 'pp_mixed', key => 'id');
SET max_parallel_workers_per_gather = 2;
SET parallel_leader_participation = off;
SELECT count(*) AS rows,
	   count(*) FILTER (WHERE p.prediction <> s.prediction OR p.label <> s.label OR
							  (SELECT max(abs(a - b)) FROM unnest(p.outputs, s.outputs) u(a, b)) > 1e-6)
		 AS differ
  FROM est_predict_table('pp_mixed', 'pp_mixed', key => 'id') p
  JOIN pp_mixed_serial s USING (key);
RESET parallel_leader_participation;

-- A table without an optional feature column (inferred numbers take the
-- training mean) is scored in the workers as est_predict scores its rows.
CREATE TABLE pp_part AS SELECT id, x4, x1, x2 FROM pp_rows;
SET parallel_leader_participation = off;
CREATE TEMP TABLE pp_part_scores AS
SELECT 'class' AS model, * FROM est_predict_table('pp_class', 'pp_part', key => 'id')
UNION ALL
SELECT 'reg', * FROM est_predict_table('pp_reg', 'pp_part', key => 'id');
RESET parallel_leader_participation;
SELECT p.model, count(*) AS rows,
	   count(*) FILTER (WHERE abs(p.prediction - CASE p.model
								  WHEN 'class' THEN est_predict('pp_class', t)
								  ELSE est_predict('pp_reg', t) END) > 1e-5 OR
							  (p.model = 'class' AND
							   (SELECT max(abs(a - b))
								  FROM unnest(p.outputs, est_predict_proba('pp_class', t)) u(a, b)) > 1e-5))
		 AS differ
  FROM pp_part_scores p JOIN pp_part t ON t.id::text = p.key
 GROUP BY p.model ORDER BY 1;
DROP TABLE pp_part;

-- Without a key, and with a NULL key, rows come all the same.
UPDATE pp_rows SET id = NULL WHERE id % 1000 = 0;
SELECT count(*) AS rows, count(key) AS keys
  FROM est_predict_table('pp_class', 'pp_rows', key => 'id');
SELECT count(*) AS rows, count(key) AS keys FROM est_predict_table('pp_class', 'pp_rows');

-- Keys longer than a worker's queue (1 MB), and blocks whose keys
-- together are: a worker sends a block in as many messages as it takes
-- (a block of 1,024 keys of 1 MB each, sent whole, would pass 1 GB and
-- fail where one backend scores it).
CREATE TABLE pp_keys AS
SELECT repeat(md5(i::text), CASE WHEN i % 1000 = 0 THEN 50000 ELSE 60 END) AS k,
	   sin(i * 12.9898)::real AS x1, cos(i * 78.233)::real AS x2,
	   sin(i * 3.7)::real AS x3, cos(i * 1.3)::real AS x4
  FROM generate_series(1, 3000) i;
ALTER TABLE pp_keys SET (parallel_workers = 2);
SET max_parallel_workers_per_gather = 0;
CREATE TEMP TABLE pp_keys_serial AS
SELECT * FROM est_predict_table('pp_class', 'pp_keys', key => 'k');
SET max_parallel_workers_per_gather = 2;
SET parallel_leader_participation = off;
SELECT count(*) AS rows, count(DISTINCT p.key) AS keys,
	   count(*) FILTER (WHERE length(p.key) > 1024 * 1024) AS long_keys,
	   count(*) FILTER (WHERE p.prediction <> s.prediction OR
							  (SELECT max(abs(a - b)) FROM unnest(p.outputs, s.outputs) u(a, b)) > 1e-6)
		 AS differ
  FROM est_predict_table('pp_class', 'pp_keys', key => 'k') p
  JOIN pp_keys_serial s USING (key);
RESET parallel_leader_participation;
DROP TABLE pp_keys;

-- A worker's error is the call's error: a NaN feature, read by a worker
-- (the backend reads nothing here).
SET parallel_leader_participation = off;
UPDATE pp_rows SET x2 = 'NaN' WHERE id = 15001;
SELECT count(*) FROM est_predict_table('pp_class', 'pp_rows', key => 'id');
RESET parallel_leader_participation;

-- The table's parallel_workers storage parameter and
-- max_parallel_workers_per_gather rule as for a scan: with none, the
-- backend reads alone (the error has no worker's context).
ALTER TABLE pp_rows SET (parallel_workers = 0);
SELECT count(*) FROM est_predict_table('pp_class', 'pp_rows', key => 'id');
ALTER TABLE pp_rows RESET (parallel_workers);
SET max_parallel_workers_per_gather = 0;
SELECT count(*) FROM est_predict_table('pp_class', 'pp_rows', key => 'id');
SET max_parallel_workers_per_gather = 2;
UPDATE pp_rows SET x2 = 0 WHERE id = 15001;

-- No worker to be had: the backend scores alone.
SET max_parallel_workers = 0;
SET parallel_leader_participation = off;
SELECT count(*) AS rows FROM est_predict_table('pp_class', 'pp_rows', key => 'id');
RESET max_parallel_workers;
RESET parallel_leader_participation;

-- Views, queries and called inside a parallel query: one backend.
CREATE VIEW pp_view AS SELECT * FROM pp_rows;
SELECT count(*) AS rows FROM est_predict_table('pp_class', 'pp_view', key => 'id');
SELECT count(*) AS rows FROM est_predict_table('pp_class', 'SELECT * FROM pp_rows WHERE id > 100', key => 'id');
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SELECT count(*) AS rows
  FROM pp_rows r JOIN est_predict_table('pp_class', 'pp_rows', key => 'id') p
	ON p.key = r.id::text;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;

-- A cancel stops the workers with the backend; the next call works.  (A
-- wide network, so that scoring takes long enough to be cancelled.)
SELECT global_step FROM est_train('pp_wide', 'pp_rows', label => 'label',
								  features => '{x1,x2,x3,x4}', hidden_units => '{768,768}',
								  steps => 1, params => '{"seed": 1}');
\set VERBOSITY terse
SET statement_timeout = '30ms';
SELECT count(*) FROM est_predict_table('pp_wide', 'pp_rows', key => 'id');
RESET statement_timeout;
\set VERBOSITY default
SELECT count(*) AS rows FROM est_predict_table('pp_class', 'pp_rows', key => 'id');

RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather;
DROP VIEW pp_view;
DROP TABLE pp_rows, pp_mixed;
DROP TYPE pp_mood;
SELECT count(est_drop_model(name)) FROM estimator.models WHERE name LIKE 'pp\_%';
