-- Sources: relation kinds, names as SQL parses them, queries, arrays,
-- privileges and row-level security, and sources that are refused.
SET client_min_messages = warning;

-- A view, a materialized view and a partitioned table train alike.
CREATE VIEW source_view AS SELECT * FROM iris_train;
CREATE MATERIALIZED VIEW source_matview AS SELECT * FROM iris_train;
CREATE TABLE source_parted (LIKE iris_train) PARTITION BY LIST (label);
CREATE TABLE source_parted_0 PARTITION OF source_parted FOR VALUES IN (0);
CREATE TABLE source_parted_12 PARTITION OF source_parted FOR VALUES IN (1, 2);
INSERT INTO source_parted SELECT * FROM iris_train;
SELECT model, global_step, rows_read
  FROM est_train('source_view', 'source_view', steps => 10, params => '{"seed": 1}');
SELECT model, global_step, rows_read
  FROM est_train('source_matview', 'source_matview', steps => 10);
SELECT model, global_step, rows_read
  FROM est_train('source_parted', 'source_parted', steps => 10);

-- Quoted and schema-qualified names are honoured exactly as in SQL.
CREATE SCHEMA "Source Schema";
CREATE TABLE "Source Schema"."Iris Data" AS SELECT * FROM iris_train LIMIT 50;
CREATE TABLE "Source Schema".iris_train AS SELECT * FROM iris_train LIMIT 20;
SELECT rows_read FROM est_train('source_quoted', '"Source Schema"."Iris Data"', steps => 1);
SELECT rows_read FROM est_train('source_qualified', '"Source Schema".iris_train', steps => 1);
SELECT rows_read FROM est_train('source_public', 'public.iris_train', steps => 1);
SELECT rows_read FROM est_train('source_upper', 'PUBLIC.IRIS_TRAIN', steps => 1);
SELECT expect_error($$SELECT est_train('source_bad', '"source schema"."Iris Data"', steps => 1)$$);
SELECT expect_error($$SELECT est_train('source_bad', '"Source Schema"."iris data"', steps => 1)$$);

-- Queries: SELECT, WITH, VALUES, parenthesised, with any case and spacing.
SELECT rows_read FROM est_train('source_query',
	'SELECT * FROM iris_train WHERE sepal_length > 5', steps => 1);
SELECT rows_read FROM est_train('source_with',
	'  WITH t AS (SELECT * FROM iris_train) SELECT * FROM t LIMIT 7', steps => 1);
SELECT rows_read FROM est_train('source_values',
	'VALUES (1.0, 0), (2.0, 1), (3.0, 1)', label => 'column2', steps => 1);
SELECT features FROM estimator.models WHERE name = 'source_values';
SELECT rows_read FROM est_train('source_paren',
	'(select * from iris_train) union all (select * from iris_train)', steps => 1);

-- Fixed-length real[] and float8[] arrays are features of that width.
CREATE TABLE source_arrays AS
	SELECT ARRAY[sepal_length, sepal_width] AS sepal,
		   ARRAY[petal_length, petal_width]::float8[] AS petal, label
	  FROM iris_train;
SELECT global_step, accuracy > 0.9 AS learned
  FROM est_train('source_arrays', 'source_arrays', params => '{"seed": 2}');
SELECT features, n_inputs FROM estimator.models WHERE name = 'source_arrays';
SELECT expect_error($$SELECT est_train('source_arrays', 'SELECT ARRAY[1,2,3]::real[] AS sepal, petal, label FROM source_arrays')$$);
SELECT expect_error($$SELECT est_train('source_arrays', 'SELECT ARRAY[[1,2]]::real[] AS sepal, petal, label FROM source_arrays')$$);
SELECT expect_error($$SELECT est_train('source_arrays_bad', 'SELECT ARRAY[[1,2],[3,4]]::real[] AS a, 0 AS label')$$);
-- a NULL element takes the element's training mean
SELECT model, global_step, rows_read FROM est_train('source_arrays_null', 'SELECT ARRAY[1,NULL]::real[] AS a, label FROM iris_train', steps => 10);
SELECT name, null_count, details->'mean' AS mean FROM est_feature_info('source_arrays_null');
SELECT expect_error($$SELECT est_train('source_arrays_bad', 'SELECT ''{}''::real[] AS a, label FROM iris_train')$$);
SELECT expect_error($$SELECT est_train('source_arrays_bad', 'SELECT NULL::real[] AS a, label FROM iris_train')$$);
SELECT expect_error($$SELECT est_train('source_arrays_bad', 'SELECT ARRAY[1]::int[] AS a, label FROM iris_train')$$);

-- Sources that are not a single read-only query, or not a relation.
SELECT expect_error($$SELECT est_train('source_bad', 'iris_train; DROP TABLE iris_test')$$);
SELECT expect_error($$SELECT est_train('source_bad', 'SELECT * FROM iris_train; SELECT 1')$$);
SELECT expect_error($$SELECT est_train('source_bad', 'SELECT * INTO source_copy FROM iris_train')$$);
SELECT expect_error($$SELECT est_train('source_bad', 'WITH d AS (DELETE FROM iris_test RETURNING *) SELECT * FROM d')$$);
SELECT expect_error($$SELECT est_train('source_bad', 'SELECT * FROM iris_train FOR UPDATE')$$);
SELECT expect_error($$SELECT est_train('source_bad', 'SELECT * FROM iris_train FOR SHARE')$$);
SELECT expect_error($$SELECT est_train('source_bad', 'SELECT * FROM no_such_table')$$);
SELECT expect_error($$SELECT est_train('source_bad', 'SELEC * FROM iris_train')$$);
SELECT expect_error($$SELECT est_train('source_bad', 'DELETE FROM iris_test')$$);
SELECT expect_error($$SELECT est_train('source_bad', 'no_such_table')$$);
SELECT expect_error($$SELECT est_train('source_bad', 'no_schema.iris_train')$$);
SELECT expect_error($$SELECT est_train('source_bad', 'a.b.c.d')$$);
CREATE SEQUENCE source_seq;
CREATE TYPE source_type AS (x real, label integer);
CREATE INDEX source_index ON iris_train (label);
SELECT expect_error($$SELECT est_train('source_bad', 'source_seq')$$);
SELECT expect_error($$SELECT est_train('source_bad', 'source_type')$$);
SELECT expect_error($$SELECT est_train('source_bad', 'source_index')$$);
DROP INDEX source_index;
-- nothing was written by the refused sources
SELECT count(*) FROM iris_test;
SELECT to_regclass('source_copy') IS NULL AS no_copy;
SELECT count(*) FROM estimator.models WHERE name = 'source_bad';

-- The source is read as the calling role: table privileges, column
-- privileges and row-level security apply.
CREATE ROLE regress_source_reader;
GRANT USAGE ON SCHEMA public TO regress_source_reader;
CREATE TABLE source_secret AS SELECT * FROM iris_train;
CREATE TABLE source_columns AS SELECT * FROM iris_train;
GRANT SELECT (sepal_length, petal_length, label) ON source_columns TO regress_source_reader;
CREATE TABLE source_rls AS SELECT * FROM iris_train;
GRANT SELECT ON source_rls TO regress_source_reader;
ALTER TABLE source_rls ENABLE ROW LEVEL SECURITY;
CREATE POLICY source_rls_policy ON source_rls FOR SELECT TO regress_source_reader
	USING (label < 2);
SET ROLE regress_source_reader;
SELECT expect_error($$SELECT est_train('source_secret', 'source_secret', steps => 1)$$);
SELECT expect_error($$SELECT est_train('source_secret', 'SELECT * FROM source_secret', steps => 1)$$);
SELECT expect_error($$SELECT est_train('source_columns', 'source_columns', steps => 1)$$);
SELECT rows_read FROM est_train('source_columns', 'source_columns',
	features => '{sepal_length,petal_length}', steps => 1);
SELECT rows_read FROM est_train('source_rls', 'source_rls', steps => 1);
-- the catalog is written by the extension, not by its users
SELECT expect_error($$DELETE FROM estimator.model_catalog$$);
SELECT expect_error($$UPDATE estimator.checkpoints SET data = ''$$);
SELECT expect_error($$INSERT INTO estimator.training_log VALUES ('x', 1, 1, 1)$$);
SELECT count(*) AS others_checkpoints FROM estimator.checkpoints WHERE model = 'source_view';
SELECT name, owner FROM estimator.models WHERE name LIKE 'source\_%' AND owner = 'regress_source_reader'::regrole ORDER BY name;
-- others' models are neither used nor changed without a grant
SELECT expect_error($$SELECT est_train('source_view', 'source_rls', steps => 1)$$);
SELECT expect_error($$SELECT est_drop_model('source_view')$$);
SELECT expect_error($$SELECT est_predict('source_view', ARRAY[5.1, 3.5, 1.4, 0.2])$$);
SELECT count(*) AS visible FROM estimator.models WHERE name = 'source_view';
RESET ROLE;
SELECT est_grant('source_view', 'regress_source_reader', 'predict');
SET ROLE regress_source_reader;
SELECT est_predict('source_view', ARRAY[5.1, 3.5, 1.4, 0.2]);
SELECT count(*) AS visible FROM estimator.models WHERE name = 'source_view';
SELECT expect_error($$SELECT est_train('source_view', 'source_rls', steps => 1)$$);
SELECT est_drop_model('source_rls');
SELECT est_drop_model('source_columns');
RESET ROLE;
SELECT n_classes FROM estimator.models WHERE name = 'source_view';

-- A table's own scan reads a row without NULLs at fixed offsets when every
-- attribute up to the last one read has a fixed length.  Rows stored before
-- a column was dropped (which keep its bytes), rows stored before a column
-- was added (with a default: they lack it), and NULLs in a column that is
-- not read (rows with a NULL take the general path) give the rows that a
-- query over the table gives, read by the cursor.
CREATE TABLE source_layout (a int2, gone float8, x1 real, x2 float8, label int, extra int4);
INSERT INTO source_layout
SELECT i % 7, i, i * 0.5, i * 0.25, i % 3, CASE WHEN i % 5 > 0 THEN i END
  FROM generate_series(1, 300) i;
ALTER TABLE source_layout DROP COLUMN gone;
CREATE TABLE source_added (a int2, x1 real, x2 float8, label int);
INSERT INTO source_added SELECT i % 7, i * 0.5, i * 0.25, i % 3 FROM generate_series(1, 300) i;
ALTER TABLE source_added ADD COLUMN x3 int4 DEFAULT 5;
INSERT INTO source_added SELECT i % 7, i * 0.5, i * 0.25, i % 3, i FROM generate_series(301, 600) i;
-- real features only: encoded straight from the row, but for a NULL
CREATE TABLE source_reals (x1 real, x2 real, label int, w real);
INSERT INTO source_reals
SELECT i * 0.5, CASE WHEN i % 50 > 0 THEN i * 0.25 END, i % 3, 1 + i % 3
  FROM generate_series(1, 300) i;
-- reals side by side are copied at once: features in another order than
-- the columns (runs break where offsets or slots do not follow), a real
-- between other types, and the reals that stay as they are (-0, the
-- smallest subnormal, the largest real)
CREATE TABLE source_runs (x1 real, x2 real, x3 real, n int4, x4 real, x5 real, label int);
INSERT INTO source_runs
SELECT CASE i % 4 WHEN 0 THEN '-0'::real WHEN 1 THEN '1.4e-45'::real
			WHEN 2 THEN '3.4028235e38'::real ELSE i * 0.5 END,
	   i * 0.25, -i * 0.125, i % 9, i * 1e-3, (i % 13) - 6.5, i % 3
  FROM generate_series(1, 300) i;
SELECT count(*) AS trained
  FROM (VALUES ('source_layout_t', 'source_layout', '{a,x1,x2}'::text[]),
			   ('source_layout_q', 'SELECT * FROM source_layout', '{a,x1,x2}'),
			   ('source_added_t', 'source_added', '{a,x1,x2,x3}'),
			   ('source_added_q', 'SELECT * FROM source_added', '{a,x1,x2,x3}'),
			   ('source_reals_t', 'source_reals', '{x1,x2}'),
			   ('source_reals_q', 'SELECT * FROM source_reals', '{x1,x2}'),
			   ('source_runs_t', 'source_runs', '{x3,x1,x2,n,x4,x5}'),
			   ('source_runs_q', 'SELECT * FROM source_runs', '{x3,x1,x2,n,x4,x5}')) s(m, src, f),
	   LATERAL est_train(m, src, features => f, steps => 20, params => '{"seed": 4}');
SELECT s.source, t.rows_read, t.fingerprint = q.fingerprint AS same_rows,
	   (SELECT bool_and(a."values" = b."values")
		  FROM est_weights('source_' || s.source || '_t') a
		  JOIN est_weights('source_' || s.source || '_q') b USING (layer, kind, name)) AS same_weights
  FROM (VALUES ('layout'), ('added'), ('reals'), ('runs')) s(source),
	   est_checkpoints('source_' || s.source || '_t') t,
	   est_checkpoints('source_' || s.source || '_q') q;
-- a value a feature cannot take is the same error either way
INSERT INTO source_reals VALUES (1, 'Infinity', 0, 1);
SELECT expect_error($$SELECT est_train('source_reals_t', 'source_reals', steps => 1)$$);
SELECT expect_error($$SELECT est_train('source_reals_q', 'SELECT * FROM source_reals', steps => 1)$$);
INSERT INTO source_runs VALUES (1, 'NaN', 0, 1, 2, 3, 0);
SELECT expect_error($$SELECT est_train('source_runs_t', 'source_runs', steps => 1)$$);
SELECT expect_error($$SELECT est_train('source_runs_q', 'SELECT * FROM source_runs', steps => 1)$$);
DROP TABLE source_layout, source_added, source_reals, source_runs;

SELECT count(*) AS dropped FROM
	(SELECT est_drop_model(name) FROM estimator.models
	  WHERE name LIKE 'source\_%') d;
DROP TABLE source_secret, source_columns, source_rls, source_arrays;
DROP VIEW source_view;
DROP MATERIALIZED VIEW source_matview;
DROP TABLE source_parted;
DROP SCHEMA "Source Schema" CASCADE;
DROP SEQUENCE source_seq;
DROP TYPE source_type;
REVOKE ALL ON SCHEMA public FROM regress_source_reader;
DROP ROLE regress_source_reader;
