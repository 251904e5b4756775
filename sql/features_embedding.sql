-- Embedding columns and multi-valued (text[]) columns: tables trained by
-- backpropagation, combiners, and what a wide & deep model may read.
SET client_min_messages = warning;

-- the label is a function of the user (20 users) and of the tags
CREATE TABLE femb (usr text, tags text[], label int);
INSERT INTO femb
	SELECT 'u' || (g % 20), ARRAY['t' || (g % 3), 't' || (g % 4 + 3)],
		   CASE WHEN g % 20 < 10 THEN 1 ELSE 0 END
	  FROM generate_series(1, 400) g;

SELECT global_step FROM est_train('femb_model', 'femb', steps => 300, params => '{"seed": 5,
	"feature_columns": [{"type": "vocabulary", "key": "usr", "embedding_dimension": 4},
						{"type": "vocabulary", "key": "tags", "embedding_dimension": 3,
						 "combiner": "sqrtn", "max_values": 4}]}');
SELECT ordinal, name, representation, width, buckets, vocabulary_size, details
  FROM est_feature_info('femb_model') ORDER BY ordinal;
SELECT n_inputs, input_width FROM estimator.models WHERE name = 'femb_model';
SELECT round(value::numeric, 3) AS accuracy
  FROM est_evaluate('femb_model', 'femb') WHERE metric = 'accuracy';
-- the embedding is trained: an untrained user (OOV) is less certain
SELECT abs((est_predict_proba('femb_model', t))[2] - 0.5) <
	   abs((est_predict_proba('femb_model', u))[2] - 0.5) AS oov_less_sure
  FROM (SELECT 'stranger'::text AS usr, '{t0,t3}'::text[] AS tags) t,
	   (SELECT 'u1'::text AS usr, '{t0,t3}'::text[] AS tags) u;
-- a multi-valued column: order does not matter, an empty array is no id,
-- a NULL element takes the OOV bucket, more than max_values is an error
SELECT est_predict_proba('femb_model', a) = est_predict_proba('femb_model', b) AS order_free
  FROM (SELECT 'u1'::text AS usr, '{t1,t5}'::text[] AS tags) a,
	   (SELECT 'u1'::text AS usr, '{t5,t1}'::text[] AS tags) b;
SELECT est_predict('femb_model', t) IS NOT NULL AS empty_ok
  FROM (SELECT 'u1'::text AS usr, '{}'::text[] AS tags) t;
SELECT est_predict('femb_model', t) IS NOT NULL AS null_element_ok
  FROM (SELECT 'u1'::text AS usr, '{t1,NULL}'::text[] AS tags) t;
SELECT expect_error($$SELECT est_predict('femb_model', t) FROM (SELECT 'u1'::text AS usr, '{a,b,c,d,e}'::text[] AS tags) t$$);

-- multi-hot indicators (the default) count the values
SELECT global_step FROM est_train('femb_multihot', 'SELECT tags, label FROM femb', steps => 50,
	params => '{"seed": 5, "feature_columns": [{"type": "vocabulary", "key": "tags"}]}');
SELECT name, representation, width, vocabulary_size, top_values, details->'max_values' AS max_values
  FROM est_feature_info('femb_multihot');

-- in a wide & deep model the linear part may not read an embedding
SELECT expect_error($$SELECT * FROM est_train('femb_wide', 'femb', model_type => 'dnn_linear_combined_classifier',
	params => '{"feature_columns": [{"type": "vocabulary", "key": "usr", "embedding_dimension": 2},
									{"type": "vocabulary", "key": "usr", "name": "usr_onehot"}],
				"linear_feature_columns": ["usr"]}')$$);
SELECT global_step FROM est_train('femb_wide', 'femb', model_type => 'dnn_linear_combined_classifier', steps => 50,
	params => '{"seed": 5, "feature_columns": [{"type": "vocabulary", "key": "usr", "embedding_dimension": 2},
									{"type": "vocabulary", "key": "usr", "name": "usr_onehot"}],
				"linear_feature_columns": ["usr_onehot"], "dnn_feature_columns": ["usr_embedding"]}');
SELECT round(value::numeric, 3) AS accuracy
  FROM est_evaluate('femb_wide', 'femb') WHERE metric = 'accuracy';

-- limits: a table of more weights than a network may have
SELECT expect_error($$SELECT * FROM est_train('femb_bad', 'femb', params => '{"feature_columns": [{"type": "hash", "key": "usr", "hash_bucket_size": 16777216, "embedding_dimension": 1024}]}')$$);
SELECT expect_error($$SELECT * FROM est_train('femb_bad', 'femb', params => '{"feature_columns": [{"type": "hash", "key": "usr", "hash_bucket_size": 100, "embedding_dimension": 2000}]}')$$);
-- the detail counts the weights of the table, and names the limit a
-- one-hot column of as many buckets exceeds (it once said 141 parameters)
SELECT * FROM est_train('femb_bad', 'femb', params => '{"feature_columns": [{"type": "hash", "key": "usr", "hash_bucket_size": 16777216, "embedding_dimension": 1024}]}');
SELECT * FROM est_train('femb_bad', 'femb', params => '{"feature_columns": [{"type": "hash", "key": "usr", "hash_bucket_size": 16777216}]}');

SELECT expect_error($$SELECT * FROM est_train('femb_bad', 'femb', params => '{"feature_columns": [{"type": "hash", "key": "usr", "hash_bucket_size": 100, "combiner": "max", "embedding_dimension": 2}]}')$$);

SELECT count(*) AS dropped FROM
	(SELECT est_drop_model(name) FROM estimator.models WHERE name LIKE 'femb\_%') d;
DROP TABLE femb;
