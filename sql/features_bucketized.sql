-- Bucketized feature columns: TensorFlow's bucket boundaries, and a model
-- equal to one on buckets that SQL computes.
SET client_min_messages = warning;

CREATE TABLE fbkt (v float8, label int);
INSERT INTO fbkt VALUES (-5, 0), (0, 0), (1, 0), (1.5, 1), (2, 1), (3, 1), (100, 1), (NULL, 0);

SELECT model, global_step
  FROM est_train('fbkt_model', 'fbkt', steps => 5, params => '{"seed": 1,
	"feature_columns": [{"type": "bucketized", "key": "v", "boundaries": [0, 1.5, 3]}]}');
SELECT ordinal, name, kind, representation, width, buckets, null_count, details
  FROM est_feature_info('fbkt_model');
SELECT n_inputs, input_width FROM estimator.models WHERE name = 'fbkt_model';

-- bucket i holds boundaries[i-1] <= v < boundaries[i]: the same model on
-- the bucket ids SQL computes (an identity column) predicts the same
CREATE VIEW fbkt_ids AS
	SELECT CASE WHEN v IS NULL THEN NULL
				WHEN v < 0 THEN 0 WHEN v < 1.5 THEN 1 WHEN v < 3 THEN 2 ELSE 3 END AS v,
		   label
	  FROM fbkt;
SELECT global_step FROM est_train('fbkt_sql', 'fbkt_ids', steps => 5, params => '{"seed": 1,
	"feature_columns": [{"type": "identity", "key": "v", "num_buckets": 4}]}');
SELECT b.v, i.v AS bucket,
	   est_predict_proba('fbkt_model', b) = est_predict_proba('fbkt_sql', i) AS same
  FROM (SELECT row_number() OVER () AS n, v FROM fbkt) b
  JOIN (SELECT row_number() OVER () AS n, v FROM fbkt_ids) i USING (n)
 ORDER BY b.n;

-- a bucketized column and the numeric column of the same source, on Iris
SELECT global_step FROM est_train('fbkt_iris', 'iris_train', steps => 1000, params => '{"seed": 1,
	"feature_columns": [{"type": "bucketized", "key": "petal_width", "boundaries": [0.6, 1.7]},
						{"type": "numeric", "key": "petal_length"}]}');
SELECT round(value::numeric, 3) AS accuracy
  FROM est_evaluate('fbkt_iris', 'iris_test') WHERE metric = 'accuracy';

-- errors
SELECT expect_error($$SELECT * FROM est_train('fbkt_bad', 'fbkt', params => '{"feature_columns": [{"type": "bucketized", "key": "v"}]}')$$);
SELECT expect_error($$SELECT * FROM est_train('fbkt_bad', 'fbkt', params => '{"feature_columns": [{"type": "bucketized", "key": "v", "boundaries": [2, 1]}]}')$$);
SELECT expect_error($$SELECT * FROM est_train('fbkt_bad', 'fbkt', params => '{"feature_columns": [{"type": "bucketized", "key": "v", "boundaries": []}]}')$$);
SELECT expect_error($$SELECT * FROM est_train('fbkt_bad', 'SELECT v::text AS v, label FROM fbkt', params => '{"feature_columns": [{"type": "bucketized", "key": "v", "boundaries": [1]}]}')$$);
SELECT expect_error($$SELECT est_predict('fbkt_model', ARRAY[1.0])$$);

SELECT count(*) AS dropped FROM
	(SELECT est_drop_model(name) FROM estimator.models WHERE name LIKE 'fbkt\_%') d;
DROP VIEW fbkt_ids;
DROP TABLE fbkt;
