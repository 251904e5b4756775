-- est_evaluate, est_predict and est_predict_proba.
SET client_min_messages = warning;
SELECT global_step FROM est_train('predict_iris', 'iris_train', params => '{"seed": 11}');

-- EVAL: TensorFlow's keys, on the held-out rows.
SELECT metric, round(value::numeric, 4) AS value
  FROM est_evaluate('predict_iris', 'iris_test');
-- extra columns in the source are ignored
SELECT metric, round(value::numeric, 4) AS value
  FROM est_evaluate('predict_iris', 'SELECT * FROM iris_test WHERE id <= 10');

-- PREDICT a whole row: its feature columns are picked by name.
SELECT id, label, est_predict('predict_iris', t) AS predicted,
	   est_predict_proba('predict_iris', t)::numeric(4,3)[] AS probabilities
  FROM iris_test t ORDER BY id LIMIT 8;

-- Predictions agree with est_evaluate's accuracy, with the probabilities'
-- argmax, and the probabilities sum to one.
SELECT round(avg((est_predict('predict_iris', t) = label)::int), 4) AS accuracy
  FROM iris_test t;
SELECT bool_and(abs(p[1] + p[2] + p[3] - 1) < 1e-6) AS sums_to_one,
	   bool_and(est_predict('predict_iris', t) + 1 =
				array_position(p, greatest(p[1], p[2], p[3]))) AS argmax
  FROM iris_test t, LATERAL est_predict_proba('predict_iris', t) AS p;

-- JIT does not inline the extension's code, which installs no bitcode:
-- with JIT compiling and inlining everything and not optimising, which once
-- ended the backend on a fatal LLVM error (the AVX2 variants' resolvers),
-- the probabilities are the very same.
CREATE TEMP TABLE predict_nojit AS
  SELECT id, est_predict_proba('predict_iris', t) AS p FROM iris_test t;
SET jit = on;
SET jit_above_cost = 0;
SET jit_inline_above_cost = 0;
SET jit_optimize_above_cost = -1;
SELECT count(*) AS rows, bool_and(n.p = est_predict_proba('predict_iris', t)) AS same_with_jit
  FROM iris_test t JOIN predict_nojit n USING (id);
RESET jit;
RESET jit_above_cost;
RESET jit_inline_above_cost;
RESET jit_optimize_above_cost;
DROP TABLE predict_nojit;

-- A feature array in the model's input order gives the same answers; the
-- examples of TensorFlow's tutorial are setosa, versicolor, virginica.
SELECT bool_and(est_predict('predict_iris', t) =
				est_predict('predict_iris', ARRAY[sepal_length, sepal_width,
												  petal_length, petal_width]::float8[]))
	   AS same_as_array
  FROM iris_test t;
SELECT x, est_predict('predict_iris', x) AS class
  FROM (VALUES (ARRAY[5.1, 3.3, 1.7, 0.5]), (ARRAY[5.9, 3.0, 4.2, 1.5]),
			   (ARRAY[6.9, 3.1, 5.4, 2.1])) v(x);
SELECT est_predict('predict_iris', ARRAY[5, 3, 2, 0]) AS from_integers;

-- Rows of other shapes: columns in another order, of other numeric types,
-- with extra columns.
SELECT bool_and(est_predict('predict_iris', r) = est_predict('predict_iris', t))
	   AS reordered_and_retyped
  FROM iris_test t,
	   LATERAL (SELECT t.petal_width::numeric AS petal_width,
					   'x'::text AS note,
					   t.sepal_length::float8 AS sepal_length,
					   t.petal_length::float8 AS petal_length,
					   t.sepal_width::numeric AS sepal_width) r;

-- A row without NULLs whose features are plain numbers encodes straight from
-- its data: the same probabilities as a feature array give, for a table with
-- a dropped column before the features, with a NULL in another column (the
-- general path), with rows stored before a column was added (they lack it),
-- and with features of other numeric types; a NaN is the same error.
CREATE TABLE predict_rows (gone float8, sepal_length real, sepal_width real,
						   petal_length real, id int, note int);
INSERT INTO predict_rows
SELECT 1, sepal_length, sepal_width, petal_length, id,
	   CASE WHEN id % 3 > 0 THEN id END
  FROM iris_test;
ALTER TABLE predict_rows DROP COLUMN gone;
ALTER TABLE predict_rows ADD COLUMN petal_width real DEFAULT 0.2;
INSERT INTO predict_rows
SELECT sepal_length, sepal_width, petal_length, id + 100,
	   CASE WHEN id % 3 > 0 THEN id END, petal_width
  FROM iris_test;
CREATE TABLE predict_mixed AS
SELECT id, sepal_length::float8 AS sepal_length, sepal_width::float8 AS sepal_width,
	   (petal_length * 10)::int AS petal_length, petal_width::float8 AS petal_width
  FROM iris_test;
SELECT source, count(*) AS rows,
	   bool_and(p = est_predict_proba('predict_iris', a)) AS same_as_array
  FROM (SELECT 'rows' AS source, est_predict_proba('predict_iris', r) AS p,
			   ARRAY[sepal_length, sepal_width, petal_length, petal_width]::float8[] AS a
		  FROM predict_rows r
		UNION ALL
		SELECT 'mixed', est_predict_proba('predict_iris', m),
			   ARRAY[sepal_length, sepal_width, petal_length, petal_width]::float8[]
		  FROM predict_mixed m) s
 GROUP BY source ORDER BY source;
INSERT INTO predict_rows VALUES (5, 'NaN', 1, 1000, 7, 1);
SELECT expect_error($$SELECT est_predict('predict_iris', r) FROM predict_rows r WHERE id = 1000$$);
DROP TABLE predict_rows, predict_mixed;

-- A call site that outlives a statement (a PL/pgSQL expression) matches a
-- row type again when ALTER TYPE changes it: it once kept the layout it had
-- matched and read the new rows by it, a bigint as the bits of a double
-- precision (a petal length of 5 as 2.5e-323) and text as a number.
CREATE TYPE predict_feat AS (sepal_length float8, sepal_width float8,
							 petal_length float8, petal_width float8);
CREATE FUNCTION predict_altered(new_type text) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
	v predict_feat;
	p float8[];
BEGIN
	FOR i IN 1..2 LOOP
		IF i = 2 THEN
			EXECUTE format('ALTER TYPE predict_feat ALTER ATTRIBUTE petal_length TYPE %s',
						   new_type);
		END IF;
		EXECUTE 'SELECT 6.9, 3.1, 5, 2.1' INTO v;
		p := est_predict_proba('predict_iris', v);
	END LOOP;
	RETURN p = est_predict_proba('predict_iris', ARRAY[6.9, 3.1, 5, 2.1]);
END $$;
SELECT predict_altered('bigint') AS same_after_alter;
SELECT expect_error($$SELECT predict_altered('text')$$);
DROP FUNCTION predict_altered(text);
DROP TYPE predict_feat;

-- NULL in, NULL out; bad rows and arrays are errors that say what is wrong.
SELECT est_predict('predict_iris', NULL::float8[]) IS NULL AS null_array,
	   est_predict(NULL, ARRAY[1, 2, 3, 4]) IS NULL AS null_model,
	   est_predict_proba('predict_iris', NULL::iris_test) IS NULL AS null_row;
SELECT est_predict('predict_iris', ROW(1, 2)::record);
-- an inferred numeric column is optional: a row without it, or with a
-- NULL, takes the training mean (z-score 0)
SELECT est_predict('predict_iris', t) = est_predict('predict_iris', ARRAY[sepal_length, sepal_width, petal_length, m.mean]) AS missing_is_mean
  FROM (SELECT sepal_length, sepal_width, petal_length FROM iris_test LIMIT 3) t,
       (SELECT mean FROM est_feature_info('predict_iris') WHERE name = 'petal_width') m;
SELECT expect_error($$SELECT est_predict('predict_iris', t) FROM (SELECT ARRAY[sepal_length] AS sepal_length, sepal_width, petal_length, petal_width FROM iris_test) t$$);
SELECT expect_error($$SELECT est_predict('predict_iris', t) FROM (SELECT 'x'::text AS sepal_length, sepal_width, petal_length, petal_width FROM iris_test) t$$);
-- a feature named twice in the row is ambiguous, as in est_predict_table's
-- source (once est_predict took the first); a column that the model does
-- not read may repeat in both
SELECT expect_error($$SELECT est_predict('predict_iris', t) FROM (SELECT sepal_length, 9.0::real AS sepal_length, sepal_width, petal_length, petal_width FROM iris_test) t$$);
SELECT expect_error($$SELECT est_predict_proba('predict_iris', t) FROM (SELECT sepal_length, sepal_width, petal_length, petal_width, petal_width FROM iris_test) t$$);
SELECT expect_error($$SELECT * FROM est_predict_table('predict_iris', 'SELECT sepal_length, 9.0::real AS sepal_length, sepal_width, petal_length, petal_width FROM iris_test')$$);
SELECT expect_error($$SELECT * FROM est_evaluate('predict_iris', 'SELECT sepal_length, 9.0::real AS sepal_length, sepal_width, petal_length, petal_width, label FROM iris_test')$$);
SELECT bool_and(est_predict('predict_iris', t) = est_predict('predict_iris', ARRAY[sepal_length, sepal_width, petal_length, petal_width])) AS unused_twice
  FROM (SELECT sepal_length, sepal_width, petal_length, petal_width, 1 AS z, 2 AS z FROM iris_test) t;
SELECT count(*) AS unused_twice_table
  FROM est_predict_table('predict_iris', 'SELECT sepal_length, sepal_width, petal_length, petal_width, 1 AS z, 2 AS z FROM iris_test');
SELECT est_predict('predict_iris', t) = est_predict('predict_iris', ARRAY[m.mean, sepal_width, petal_length, petal_width]) AS null_is_mean
  FROM (SELECT NULL::real AS sepal_length, sepal_width, petal_length, petal_width FROM iris_test LIMIT 3) t,
       (SELECT mean FROM est_feature_info('predict_iris') WHERE name = 'sepal_length') m;
SELECT expect_error($$SELECT est_predict('predict_iris', t) FROM (SELECT 'NaN'::real AS sepal_length, sepal_width, petal_length, petal_width FROM iris_test) t$$);
-- a numeric beyond double precision is out of range, not infinite (which
-- 'Infinity' is)
SELECT expect_error($$SELECT est_predict('predict_iris', t) FROM (SELECT 1e400::numeric AS sepal_length, sepal_width, petal_length, petal_width FROM iris_test) t$$);
SELECT expect_error($$SELECT est_predict('predict_iris', t) FROM (SELECT '-Infinity'::numeric AS sepal_length, sepal_width, petal_length, petal_width FROM iris_test) t$$);
SELECT expect_error($$SELECT est_predict('predict_iris', ARRAY[1, 2, 3])$$);
SELECT expect_error($$SELECT est_predict('predict_iris', ARRAY[[1, 2], [3, 4]])$$);
SELECT expect_error($$SELECT est_predict('predict_iris', ARRAY[1, 2, 3, NULL])$$);
SELECT expect_error($$SELECT est_predict('predict_iris', ARRAY[1, 2, 3, 'Infinity'::float8])$$);
SELECT expect_error($$SELECT est_predict_proba('predict_iris', ARRAY[1, 2, 3, 1e39])$$);
SELECT expect_error($$SELECT est_predict('no_such_model', ARRAY[1, 2, 3, 4])$$);
SELECT expect_error($$SELECT est_predict('', ARRAY[1, 2, 3, 4])$$);
SELECT expect_error($$SELECT * FROM est_evaluate('no_such_model', 'iris_test')$$);
SELECT expect_error($$SELECT * FROM est_evaluate('predict_iris', NULL)$$);
SELECT expect_error($$SELECT * FROM est_evaluate('predict_iris', 'SELECT * FROM iris_test WHERE false')$$);
SELECT expect_error($$SELECT * FROM est_evaluate('predict_iris', 'SELECT sepal_length, sepal_width, petal_length, petal_width, 5 AS label FROM iris_test')$$);
SELECT expect_error($$SELECT * FROM est_evaluate('predict_iris', 'SELECT sepal_length, sepal_width, petal_length, label FROM iris_test')$$);
SELECT expect_error($$SELECT * FROM est_evaluate('predict_iris', 'SELECT sepal_length, sepal_width, petal_length, petal_width FROM iris_test')$$);

-- A new checkpoint is decoded once, whatever the rows and call sites that
-- use it, and stays decoded for the queries that follow.
SELECT global_step FROM est_train('predict_iris', 'iris_train', steps => 1);
SET client_min_messages = debug1;
SELECT count(*) FROM iris_test t
 WHERE (est_predict_proba('predict_iris', t))[1] >= 0
   AND est_predict('predict_iris', t) >= 0;
SELECT count(est_predict('predict_iris', t)) FROM iris_test t;
SET client_min_messages = warning;

-- est_predict_table scores a whole source in blocks, with the same
-- answers as est_predict row by row.
SELECT key, prediction, outputs::numeric(4,3)[] AS outputs
  FROM est_predict_table('predict_iris', 'iris_test', key => 'id')
 ORDER BY key::int LIMIT 3;
-- (probabilities agree to float32 precision: blocks go through sgemm)
SELECT count(*) AS rows,
	   bool_and(p.prediction = est_predict('predict_iris', t)) AS same_class,
	   max((SELECT max(abs(a - b))
			  FROM unnest(p.outputs, est_predict_proba('predict_iris', t)) u(a, b))) < 1e-5
	   AS same_probabilities
  FROM est_predict_table('predict_iris', 'iris_test', key => 'id') p
  JOIN iris_test t ON t.id::text = p.key;
SELECT count(*) AS rows, bool_and(key IS NULL) AS no_keys
  FROM est_predict_table('predict_iris', 'SELECT * FROM iris_test WHERE id <= 5');
SELECT expect_error($$SELECT * FROM est_predict_table('predict_iris', 'iris_test', key => 'nope')$$);
SELECT expect_error($$SELECT * FROM est_predict_table('predict_iris', 'SELECT id FROM iris_test', key => 'id')$$);
SELECT expect_error($$SELECT * FROM est_predict_table('predict_iris', NULL)$$);
SELECT expect_error($$SELECT * FROM est_predict_table('no_such_model', 'iris_test')$$);

-- A source may lack a feature column that takes NULLs, as est_predict's
-- row may: it reads as NULL (here as the default_value, or the OOV
-- bucket), for a query, a view and a table alike, and the scores are
-- est_predict's of the same rows; it once was an error.  A column that
-- refuses NULLs must be there.
CREATE TABLE predict_opt (id int, x float8, y real, color text, z real);
INSERT INTO predict_opt
SELECT g, g % 10, g % 7, (ARRAY['red', 'green', 'blue'])[1 + g % 3], g % 5
  FROM generate_series(1, 300) g;
SELECT global_step FROM est_train('predict_opt',
	'SELECT x, y, color, z, (x + y + z > 10)::int AS label FROM predict_opt',
	steps => 50, params => '{"seed": 1, "feature_columns": [
		{"type": "numeric", "key": "x"},
		{"type": "numeric", "key": "y", "default_value": -1},
		{"type": "vocabulary", "key": "color", "vocabulary": ["red", "green"]},
		{"type": "numeric", "key": "z", "default_value": 2}]}');
CREATE VIEW predict_opt_x AS SELECT id, x FROM predict_opt;
CREATE TABLE predict_opt_xz AS SELECT z, id, x FROM predict_opt;
SELECT 'query' AS source, count(*) AS rows,
	   bool_and(p.prediction = est_predict('predict_opt', t)) AS same_class,
	   max((SELECT max(abs(a - b))
			  FROM unnest(p.outputs, est_predict_proba('predict_opt', t)) u(a, b))) < 1e-5
	   AS same_probabilities,
	   count(*) FILTER (WHERE p.outputs <> est_predict_proba('predict_opt', o)) > 0
	   AS not_the_whole_rows
  FROM est_predict_table('predict_opt', 'SELECT id, y, x FROM predict_opt', key => 'id') p
  JOIN (SELECT id, y, x FROM predict_opt) t ON t.id::text = p.key
  JOIN predict_opt o ON o.id = t.id;
SELECT 'view' AS source, count(*) AS rows,
	   bool_and(p.prediction = est_predict('predict_opt', t)) AS same_class,
	   max((SELECT max(abs(a - b))
			  FROM unnest(p.outputs, est_predict_proba('predict_opt', t)) u(a, b))) < 1e-5
	   AS same_probabilities
  FROM est_predict_table('predict_opt', 'predict_opt_x', key => 'id') p
  JOIN predict_opt_x t ON t.id::text = p.key;
SELECT 'table' AS source, count(*) AS rows,
	   bool_and(p.prediction = est_predict('predict_opt', t)) AS same_class,
	   max((SELECT max(abs(a - b))
			  FROM unnest(p.outputs, est_predict_proba('predict_opt', t)) u(a, b))) < 1e-5
	   AS same_probabilities
  FROM est_predict_table('predict_opt', 'predict_opt_xz', key => 'id') p
  JOIN predict_opt_xz t ON t.id::text = p.key;
-- x refuses NULLs: a source must have it, as est_predict's row must
SELECT expect_error($$SELECT * FROM est_predict_table('predict_opt', 'SELECT id, y, z FROM predict_opt')$$);
SELECT expect_error($$SELECT est_predict('predict_opt', t) FROM (SELECT id, y, z FROM predict_opt) t$$);
DROP VIEW predict_opt_x;
DROP TABLE predict_opt, predict_opt_xz;

-- A regressor's values go back to the label's units in double precision
-- in est_predict_table as in est_predict: a value beyond float32 (3.4e38)
-- is the same number in both, where est_predict_table once reported it as
-- an overflow.
CREATE TABLE predict_huge AS
SELECT sepal_length, sepal_width, petal_length * 4.5e37::float8 AS y
  FROM iris_train;
SELECT global_step FROM est_train('predict_huge', 'predict_huge', label => 'y',
								  features => '{sepal_length,sepal_width}',
								  model_type => 'linear_regressor', steps => 300,
								  params => '{"seed": 1}');
CREATE TABLE predict_huge_rows AS
SELECT i AS id, (4 + i)::real AS sepal_length, 3::real AS sepal_width
  FROM generate_series(0, 16, 4) i;
SELECT p.key, est_predict('predict_huge', t) > 3.4e38 AS beyond_real,
	   abs(p.prediction / est_predict('predict_huge', t) - 1) < 1e-6 AS same_value,
	   p.outputs[1] = p.prediction AS same_output
  FROM est_predict_table('predict_huge', 'predict_huge_rows', key => 'id') p
  JOIN predict_huge_rows t ON t.id::text = p.key
 ORDER BY t.id;
-- est_evaluate scores the same values: its prediction/mean and mae are
-- those of est_predict's values, where they once were Infinity.
CREATE TABLE predict_huge_eval AS
SELECT sepal_length, sepal_width, 1e38::real AS y FROM predict_huge_rows;
SELECT e.metric, abs(e.value / p.value - 1) < 1e-6 AS same_as_est_predict
  FROM est_evaluate('predict_huge', 'predict_huge_eval') e
  JOIN (SELECT 'prediction/mean' AS metric, avg(est_predict('predict_huge', t)) AS value
		  FROM predict_huge_eval t
		UNION ALL
		SELECT 'mae', avg(abs(y - est_predict('predict_huge', t)))
		  FROM predict_huge_eval t) p USING (metric)
 ORDER BY 1;
DROP TABLE predict_huge, predict_huge_rows, predict_huge_eval;

-- A row for which the network overflows is est_predict's error in
-- est_evaluate and est_confusion_matrix too, where it once counted as
-- predicted right (an accuracy of 1 and a NULL loss).
CREATE VIEW predict_overflow AS
SELECT -3e38::real AS sepal_length, -3e38::real AS sepal_width,
	   -3e38::real AS petal_length, -3e38::real AS petal_width, 0 AS label;
SELECT expect_error($$SELECT est_predict('predict_iris', t) FROM predict_overflow t$$);
SELECT expect_error($$SELECT * FROM est_predict_table('predict_iris', 'predict_overflow')$$);
SELECT expect_error($$SELECT * FROM est_evaluate('predict_iris', 'predict_overflow')$$);
SELECT expect_error($$SELECT * FROM est_confusion_matrix('predict_iris', 'predict_overflow')$$);
DROP VIEW predict_overflow;

-- The model argument may change from row to row.
SELECT global_step FROM est_train('predict_other', 'iris_train', steps => 1,
								  params => '{"seed": 1}');
SELECT m, est_predict(m, ARRAY[6.9, 3.1, 5.4, 2.1]) IS NOT NULL AS scored
  FROM (VALUES ('predict_iris'), ('predict_other'), ('predict_iris')) v(m);
-- A call site keeps what it needs of one model and row type at a time: a
-- model that changed from call to call once left a row encoder behind each
-- time, for as long as the call site lived (a query, or a transaction for
-- a PL/pgSQL expression).
CREATE FUNCTION predict_switching() RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
	r iris_test;
	c float8;
BEGIN
	SELECT * INTO r FROM iris_test WHERE id = 1;
	FOR i IN 1..20 LOOP
		c := est_predict(CASE WHEN i % 2 = 0 THEN 'predict_iris'
						 ELSE 'predict_other' END, r);
	END LOOP;
	RETURN (SELECT count(*) FROM pg_backend_memory_contexts
			 WHERE name = 'estimator row encoding');
END $$;
SELECT predict_switching() AS encoders;
DROP FUNCTION predict_switching();

-- STABLE and PARALLEL SAFE, so parallel scans score in their workers and
-- agree with a serial scan.
SELECT proname, provolatile, proparallel, proisstrict FROM pg_proc
 WHERE proname LIKE 'est\_predict%' ORDER BY proname, pg_get_function_arguments(oid);
CREATE TABLE predict_big AS
	SELECT t.*, g FROM iris_test t, generate_series(1, 2000) g;
ANALYZE predict_big;
CREATE TEMP TABLE predict_serial AS
	SELECT est_predict('predict_iris', b) AS class, count(*)
	  FROM predict_big b GROUP BY 1;
SET parallel_setup_cost = 0;
SET parallel_tuple_cost = 0;
SET min_parallel_table_scan_size = 0;
SET max_parallel_workers_per_gather = 2;
EXPLAIN (COSTS OFF)
	SELECT count(*) FROM predict_big b WHERE est_predict('predict_iris', b) = 2;
SELECT count(*) = (SELECT count FROM predict_serial WHERE class = 2) AS parallel_agrees
  FROM predict_big b WHERE est_predict('predict_iris', b) = 2;
RESET parallel_setup_cost;
RESET parallel_tuple_cost;
RESET min_parallel_table_scan_size;
RESET max_parallel_workers_per_gather;

-- A query keeps the checkpoint it started with; the next statement sees a
-- newer one.
SELECT metric, value FROM est_evaluate('predict_iris', 'iris_test')
 WHERE metric = 'global_step';
SELECT global_step FROM est_train('predict_iris', 'iris_train', steps => 100);
SELECT metric, value FROM est_evaluate('predict_iris', 'iris_test')
 WHERE metric = 'global_step';

-- Many classes: from 8 classes on, softmax's exponentials are one vector
-- loop (EstExpInPlace) in the loss, the metrics and the probabilities, and
-- a row's logits are summed 16 at a time.  40 classes of points on a
-- circle: est_train's figures are est_evaluate's on the same rows, the
-- probabilities sum to one, the class is their argmax, and a batch agrees
-- with the rows.
CREATE TABLE predict_many AS
SELECT g AS id, cos(g * 0.7) + g % 7 * 0.01 AS x1, sin(g * 0.7) AS x2,
	   (floor((atan2(sin(g * 0.7), cos(g * 0.7)) + pi()) / (2 * pi()) * 40))::int % 40
	   AS label
  FROM generate_series(1, 2000) g;
SELECT global_step, round(loss::numeric, 3) AS loss,
	   round(accuracy::numeric, 4) AS accuracy
  FROM est_train('predict_many', 'predict_many', features => '{x1,x2}',
				 hidden_units => '{32,32}', steps => 400,
				 learning_rate => 0.2, params => '{"seed": 3}');
SELECT metric, round(value::numeric, 3) AS value
  FROM est_evaluate('predict_many', 'predict_many')
 WHERE metric IN ('loss', 'average_loss', 'accuracy');
SELECT bool_and(abs((SELECT sum(v) FROM unnest(p) v) - 1) < 1e-12) AS sums_to_one,
	   bool_and(est_predict('predict_many', t) + 1 =
				array_position(p, (SELECT max(v) FROM unnest(p) v))) AS argmax,
	   bool_and(cardinality(p) = 40) AS all_classes
  FROM predict_many t, LATERAL est_predict_proba('predict_many', t) AS p;
SELECT count(*) AS rows,
	   bool_and(p.prediction = est_predict('predict_many', t)) AS same_class,
	   max((SELECT max(abs(a - b))
			  FROM unnest(p.outputs, est_predict_proba('predict_many', t)) u(a, b))) < 1e-5
	   AS same_probabilities
  FROM est_predict_table('predict_many', 'predict_many', key => 'id') p
  JOIN predict_many t ON t.id::text = p.key;
DROP TABLE predict_many;

-- The planner prices a call by the network of the model a constant names
-- (est_predict_support): per row, 30 operators for the call and one for
-- every 130 multiply-adds.  A model that is not a constant, or that does
-- not exist, costs the functions' COST, 100 operators.
CREATE FUNCTION predict_cost(call text) RETURNS float8 LANGUAGE plpgsql AS $$
DECLARE
	plan json;
	bare json;
BEGIN
	EXECUTE 'EXPLAIN (FORMAT JSON) SELECT ' || call || ' FROM iris_test t' INTO plan;
	EXECUTE 'EXPLAIN (FORMAT JSON) SELECT 0 FROM iris_test t' INTO bare;
	RETURN round((((plan->0->'Plan'->>'Total Cost')::float8 -
				   (bare->0->'Plan'->>'Total Cost')::float8) /
				  (plan->0->'Plan'->>'Plan Rows')::float8 /
				  current_setting('cpu_operator_cost')::float8)::numeric, 1);
END $$;
SELECT global_step FROM est_train('predict_narrow', 'iris_train', hidden_units => '{8}',
								  steps => 1, params => '{"seed": 1}');
SELECT global_step FROM est_train('predict_wide', 'iris_train', hidden_units => '{256,256}',
								  steps => 1, params => '{"seed": 1}');
-- operators a row: 4*8 + 8*3 = 56 multiply-adds, 4*256 + 256*256 + 256*3 =
-- 67,328, an unknown model, a name that is not a constant (and the two
-- functions of its cast), the array form
SELECT predict_cost('est_predict(''predict_narrow'', t)') AS narrow,
	   predict_cost('est_predict(''predict_wide'', t)') AS wide,
	   predict_cost('est_predict_proba(''predict_nosuch'', t)') AS unknown,
	   predict_cost('est_predict_values(t.label::text, t)') AS not_constant,
	   predict_cost('est_predict_label(''predict_wide'', ARRAY[1, 2, 3, 4])') AS array_form;
DROP FUNCTION predict_cost(text);

DROP TABLE predict_big;
SELECT count(*) AS dropped FROM
	(SELECT est_drop_model(name) FROM estimator.models
	  WHERE name LIKE 'predict\_%') d;
