-- Numeric feature columns: normalizers, shapes, NULL policies, statistics,
-- and a model whose transform SQL reproduces.
SET client_min_messages = warning;

CREATE TABLE fnum (id int, x float8, y real, a real[], label int);
INSERT INTO fnum VALUES
	(1, 10, 1, '{1,10}', 0), (2, 20, 2, '{2,20}', 0), (3, 30, NULL, '{3,30}', 1),
	(4, 40, 4, '{4,40}', 1), (5, 1000, 5, '{5,50}', 1);

-- zscore (the default), minmax, none; a default_value fills NULLs
SELECT model, global_step, rows_read
  FROM est_train('fnum_declared', 'fnum', steps => 5, params => '{"seed": 1,
	"feature_columns": [
	  {"type": "numeric", "key": "x"},
	  {"type": "numeric", "key": "x", "name": "x_minmax", "normalizer": "minmax"},
	  {"type": "numeric", "key": "y", "normalizer": "none", "default_value": -1},
	  {"type": "numeric", "key": "a", "shape": 2}]}');
SELECT ordinal, name, kind, source, representation, width, null_count,
	   round(mean::numeric, 4) AS mean, round(stddev::numeric, 4) AS stddev,
	   min, max, details
  FROM est_feature_info('fnum_declared') ORDER BY ordinal;
-- the statistics are SQL's (population standard deviation)
SELECT round(avg(x)::numeric, 4) AS mean, round(stddev_pop(x)::numeric, 4) AS stddev,
	   count(*) FILTER (WHERE y IS NULL) AS y_nulls
  FROM fnum;
SELECT n_inputs, input_width FROM estimator.models WHERE name = 'fnum_declared';

-- a declared column without default_value refuses NULLs, naming it
SELECT expect_error($$SELECT * FROM est_train('fnum_strict', 'fnum', steps => 1,
	params => '{"feature_columns": [{"type": "numeric", "key": "y"}]}')$$);
-- and so does prediction; y has a default_value
SELECT expect_error($$SELECT est_predict('fnum_declared', t) FROM (SELECT NULL::float8 AS x, NULL::real AS y, '{1,2}'::real[] AS a) t$$);
-- a row without a strict column is refused, one without an optional
-- column reads it as NULL
SELECT expect_error($$SELECT est_predict('fnum_declared', t) FROM (SELECT 1::real AS y, '{1,2}'::real[] AS a) t$$);
SELECT est_predict_proba('fnum_declared', t) = est_predict_proba('fnum_declared', u) AS missing_is_null
  FROM (SELECT 15::float8 AS x, '{1,2}'::real[] AS a) t,
	   (SELECT 15::float8 AS x, NULL::real AS y, '{1,2}'::real[] AS a) u;
-- the shape must match the arrays
SELECT expect_error($$SELECT * FROM est_train('fnum_shape', 'fnum', steps => 1,
	params => '{"feature_columns": [{"type": "numeric", "key": "a", "shape": 3}]}')$$);
-- a numeric column of text
SELECT expect_error($$SELECT * FROM est_train('fnum_text', 'SELECT x::text AS x, label FROM fnum', steps => 1,
	params => '{"feature_columns": [{"type": "numeric", "key": "x"}]}')$$);
-- bad declarations
SELECT expect_error($$SELECT * FROM est_train('fnum_bad', 'fnum', params => '{"feature_columns": [{"type": "numeric", "key": "x", "normalizer": "log"}]}')$$);
SELECT expect_error($$SELECT * FROM est_train('fnum_bad', 'fnum', params => '{"feature_columns": [{"type": "numeric"}]}')$$);
SELECT expect_error($$SELECT * FROM est_train('fnum_bad', 'fnum', params => '{"feature_columns": [{"key": "x"}]}')$$);
SELECT expect_error($$SELECT * FROM est_train('fnum_bad', 'fnum', params => '{"feature_columns": [{"type": "numeric", "key": "x", "boundaries": [1]}]}')$$);
SELECT expect_error($$SELECT * FROM est_train('fnum_bad', 'fnum', params => '{"feature_columns": [{"type": "numeric", "key": "x", "colour": 1}]}')$$);
SELECT expect_error($$SELECT * FROM est_train('fnum_bad', 'fnum', params => '{"feature_columns": [{"type": "numeric", "key": "x"}, {"type": "numeric", "key": "x"}]}')$$);
SELECT expect_error($$SELECT * FROM est_train('fnum_bad', 'fnum', params => '{"feature_columns": [{"type": "numeric", "key": "nope"}]}')$$);
SELECT expect_error($$SELECT * FROM est_train('fnum_bad', 'fnum', params => '{"feature_columns": []}')$$);
SELECT expect_error($$SELECT * FROM est_train('fnum_bad', 'fnum', features => '{x}', params => '{"feature_columns": [{"type": "numeric", "key": "x"}]}')$$);
SELECT expect_error($$SELECT * FROM est_train('fnum_bad', 'fnum', params => '{"feature_columns": [{"type": "numeric", "key": "x", "shape": 0}]}')$$);
-- a later call may repeat feature_columns, not change them
SELECT expect_error($$SELECT * FROM est_train('fnum_declared', 'fnum', steps => 1, params => '{"feature_columns": [{"type": "numeric", "key": "x"}]}')$$);

-- The transform is the one SQL computes: a model on the raw column with
-- zscore, and a model on the column z-scored in SQL with "none", train
-- alike from the same seed and predict alike.
CREATE TABLE fnum_iris AS
	SELECT sepal_length * 100 AS sl, petal_length AS pl, label FROM iris_train;
CREATE VIEW fnum_iris_z AS
	SELECT ((sl::float8 - s.m) / s.sd)::real AS sl, pl, label
	  FROM fnum_iris, (SELECT avg(sl::float8) AS m, stddev_pop(sl::float8) AS sd FROM fnum_iris) s;
SELECT global_step FROM est_train('fnum_raw', 'fnum_iris', steps => 300, params => '{"seed": 7,
	"feature_columns": [{"type": "numeric", "key": "sl"},
						{"type": "numeric", "key": "pl", "normalizer": "none"}]}');
SELECT global_step FROM est_train('fnum_sqlz', 'fnum_iris_z', steps => 300, params => '{"seed": 7,
	"feature_columns": [{"type": "numeric", "key": "sl", "normalizer": "none"},
						{"type": "numeric", "key": "pl", "normalizer": "none"}]}');
SELECT count(*) AS rows,
	   count(*) FILTER (WHERE abs((est_predict_proba('fnum_raw', r))[2] -
								   (est_predict_proba('fnum_sqlz', z))[2]) < 1e-4) AS same
  FROM (SELECT row_number() OVER () AS n, sl, pl FROM fnum_iris) r
  JOIN (SELECT row_number() OVER () AS n, sl, pl FROM fnum_iris_z) z USING (n);

SELECT count(*) AS dropped FROM
	(SELECT est_drop_model(name) FROM estimator.models WHERE name LIKE 'fnum\_%') d;
DROP VIEW fnum_iris_z;
DROP TABLE fnum, fnum_iris;
