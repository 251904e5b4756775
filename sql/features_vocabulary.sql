-- Vocabulary and identity feature columns: given and learned vocabularies,
-- OOV buckets, NULLs, and a model equal to one on ids that SQL computes.
SET client_min_messages = warning;

CREATE TABLE fvoc (color text, size int, label int);
INSERT INTO fvoc VALUES
	('red', 0, 1), ('red', 1, 1), ('red', 2, 1), ('green', 0, 0), ('green', 1, 0),
	('blue', 2, 0), ('blue', 2, 1), ('blue', 0, 0), (NULL, 1, 1), ('teal', 3, 0);

-- a given vocabulary with one OOV bucket (the default): teal and NULL go there
SELECT global_step FROM est_train('fvoc_given', 'fvoc', steps => 5, params => '{"seed": 1,
	"feature_columns": [{"type": "vocabulary", "key": "color", "vocabulary": ["red", "green", "blue"]},
						{"type": "identity", "key": "size", "num_buckets": 3, "default_value": 2}]}');
SELECT ordinal, name, kind, representation, width, buckets, vocabulary_size, top_values, details
  FROM est_feature_info('fvoc_given') ORDER BY ordinal;

-- the same model on the ids SQL computes (identity columns)
CREATE VIEW fvoc_ids AS
	SELECT coalesce(array_position(ARRAY['red', 'green', 'blue'], color) - 1, 3) AS color,
		   CASE WHEN size BETWEEN 0 AND 2 THEN size ELSE 2 END AS size, label
	  FROM fvoc;
SELECT global_step FROM est_train('fvoc_sql', 'fvoc_ids', steps => 5, params => '{"seed": 1,
	"feature_columns": [{"type": "identity", "key": "color", "num_buckets": 4},
						{"type": "identity", "key": "size", "num_buckets": 3}]}');
SELECT v.color, v.size, i.color AS color_id, i.size AS size_id,
	   est_predict_proba('fvoc_given', v) = est_predict_proba('fvoc_sql', i) AS same
  FROM (SELECT row_number() OVER () AS n, color, size FROM fvoc) v
  JOIN (SELECT row_number() OVER () AS n, color, size FROM fvoc_ids) i USING (n)
 ORDER BY v.n;
-- an unseen category at prediction takes the OOV bucket, like NULL
SELECT est_predict_proba('fvoc_given', t) = est_predict_proba('fvoc_given', u) AS unseen_is_oov
  FROM (SELECT 'purple'::text AS color, 1 AS size) t, (SELECT NULL::text AS color, 1 AS size) u;
-- a row without the categorical column reads it as NULL
SELECT est_predict_proba('fvoc_given', t) = est_predict_proba('fvoc_given', u) AS missing_is_null
  FROM (SELECT 1 AS size) t, (SELECT NULL::text AS color, 1 AS size) u;

-- a learned vocabulary: most frequent first, ties in byte order, max_size
SELECT global_step FROM est_train('fvoc_learned', 'fvoc', steps => 5, params => '{"seed": 1,
	"feature_columns": [{"type": "vocabulary", "key": "color", "max_size": 2, "num_oov_buckets": 2},
						{"type": "vocabulary", "key": "size"}]}');
SELECT ordinal, name, width, buckets, null_count, vocabulary_size, top_values
  FROM est_feature_info('fvoc_learned') ORDER BY ordinal;
-- without OOV buckets, unseen values and NULLs have no id (all zeros)
SELECT global_step FROM est_train('fvoc_nooov', 'fvoc', steps => 5, params => '{"seed": 1,
	"feature_columns": [{"type": "vocabulary", "key": "color", "vocabulary": ["red", "green"], "num_oov_buckets": 0}]}');
SELECT width, buckets FROM est_feature_info('fvoc_nooov');
SELECT est_predict_proba('fvoc_nooov', t) = est_predict_proba('fvoc_nooov', u) AS blue_is_null
  FROM (SELECT 'blue'::text AS color) t, (SELECT NULL::text AS color) u;

-- identity: out of range without default_value is an error naming it
SELECT global_step FROM est_train('fvoc_ident', 'SELECT size, label FROM fvoc WHERE size < 3', steps => 5,
	params => '{"seed": 1, "feature_columns": [{"type": "identity", "key": "size", "num_buckets": 3}]}');
SELECT expect_error($$SELECT est_predict('fvoc_ident', t) FROM (SELECT 7 AS size) t$$);
SELECT expect_error($$SELECT est_predict('fvoc_ident', t) FROM (SELECT -1 AS size) t$$);
SELECT est_predict('fvoc_ident', t) IS NOT NULL AS null_has_no_id FROM (SELECT NULL::int AS size) t;

-- errors
SELECT expect_error($$SELECT * FROM est_train('fvoc_bad', 'fvoc', params => '{"feature_columns": [{"type": "vocabulary", "key": "color", "vocabulary": ["a", "a"]}]}')$$);
SELECT expect_error($$SELECT * FROM est_train('fvoc_bad', 'fvoc', params => '{"feature_columns": [{"type": "vocabulary", "key": "color", "vocabulary": ["a"], "max_size": 3}]}')$$);
SELECT expect_error($$SELECT * FROM est_train('fvoc_bad', 'fvoc', params => '{"feature_columns": [{"type": "identity", "key": "color", "num_buckets": 3}]}')$$);
SELECT expect_error($$SELECT * FROM est_train('fvoc_bad', 'fvoc', params => '{"feature_columns": [{"type": "identity", "key": "size"}]}')$$);
SELECT expect_error($$SELECT * FROM est_train('fvoc_bad', 'fvoc', params => '{"feature_columns": [{"type": "identity", "key": "size", "num_buckets": 100000000}]}')$$);
SELECT expect_error($$SELECT * FROM est_train('fvoc_bad', 'fvoc', params => '{"feature_columns": [{"type": "identity", "key": "size", "num_buckets": 3, "default_value": 5}]}')$$);
SELECT expect_error($$SELECT * FROM est_train('fvoc_bad', 'fvoc', params => '{"feature_columns": [{"type": "vocabulary", "key": "color", "combiner": "sum"}]}')$$);
SELECT expect_error($$SELECT * FROM est_train('fvoc_bad', 'fvoc', params => '{"feature_columns": [{"type": "vocabulary", "key": "color", "max_values": 3}]}')$$);
SELECT expect_error($$SELECT * FROM est_train('fvoc_bad', 'SELECT NULL::text AS color, label FROM fvoc', params => '{"feature_columns": [{"type": "vocabulary", "key": "color", "num_oov_buckets": 0}]}')$$);
-- a misspelt key of a categorical column is refused, not ignored
SELECT expect_error($$SELECT * FROM est_train('fvoc_bad', 'fvoc', params => '{"feature_columns": [{"type": "vocabulary", "key": "color", "num_oov_bucket": 2}]}')$$);
SELECT expect_error($$SELECT * FROM est_train('fvoc_bad', 'fvoc', params => '{"feature_columns": [{"type": "identity", "key": "size", "num_buckets": 3, "default": 0}]}')$$);
-- params stored by a version that ignored such a key still load and train
UPDATE estimator.model_catalog
   SET params = jsonb_set(params, '{feature_columns,0,num_oov_bucket}', '2')
 WHERE name = 'fvoc_given';
SELECT est_predict('fvoc_given', t) IS NOT NULL AS stored_key_loads FROM (SELECT 'red'::text AS color, 1 AS size) t;
SELECT global_step FROM est_train('fvoc_given', 'fvoc', steps => 1);
-- a column whose type changed since training
SELECT expect_error($$SELECT est_predict('fvoc_given', t) FROM (SELECT 1 AS color, 1 AS size) t$$);
-- an integer column given as another kind of number: refused, not read as
-- text (identity, vocabulary and crossed columns read integers)
SELECT expect_error($$SELECT est_predict('fvoc_ident', t) FROM (SELECT 1.5::float8 AS size) t$$);
SELECT expect_error($$SELECT * FROM est_evaluate('fvoc_ident', 'SELECT size::numeric AS size, label FROM fvoc WHERE size < 3')$$);
SELECT expect_error($$SELECT est_predict('fvoc_learned', t) FROM (SELECT 'red'::text AS color, 1.0::numeric AS size) t$$);
SELECT est_predict('fvoc_ident', t) IS NOT NULL AS bigint_ok FROM (SELECT 2::bigint AS size) t;

SELECT count(*) AS dropped FROM
	(SELECT est_drop_model(name) FROM estimator.models WHERE name LIKE 'fvoc\_%') d;
DROP VIEW fvoc_ids;
DROP TABLE fvoc;
