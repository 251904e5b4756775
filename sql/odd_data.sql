-- Odd data: empty, one-row and one-class sources, constant columns,
-- extreme and denormal values, NULLs everywhere, huge text values, and
-- huge shapes.  Each trains, or fails with an error that says why.
SET client_min_messages = warning;

-- empty sources
SELECT expect_error($$SELECT * FROM est_train('odd_empty', 'SELECT 1.0::float8 AS x, 1 AS label WHERE false')$$);
SELECT expect_error($$SELECT * FROM est_train('odd_empty', 'SELECT ''a''::text AS t, ''b''::text AS label WHERE false')$$);
SELECT global_step FROM est_train('odd_iris', 'iris_train', steps => 5, params => '{"seed": 1}');
SELECT expect_error($$SELECT * FROM est_evaluate('odd_iris', 'SELECT * FROM iris_test WHERE false')$$);
SELECT count(*) FROM est_predict_table('odd_iris', 'SELECT * FROM iris_test WHERE false');

-- one row, one class
SELECT global_step, rows_read FROM est_train('odd_one_row', 'SELECT 1.0::float8 AS x, 1 AS label', steps => 3,
	params => '{"seed": 1, "n_classes": 2}');
SELECT expect_error($$SELECT * FROM est_train('odd_one_class', 'SELECT g::float8 AS x, 0 AS label FROM generate_series(1, 10) g')$$);
SELECT expect_error($$SELECT * FROM est_train('odd_one_class', 'SELECT g::float8 AS x, ''yes''::text AS label FROM generate_series(1, 10) g')$$);

-- constant columns: scale 1, and the model still learns from the others
SELECT global_step FROM est_train('odd_const', 'SELECT 7.0::float8 AS c, ''same''::text AS s, true AS b, petal_length, label FROM iris_train',
	steps => 500, params => '{"seed": 1}');
SELECT name, mean, stddev, vocabulary_size FROM est_feature_info('odd_const') ORDER BY ordinal;
SELECT count(*) FILTER (WHERE est_predict('odd_const', t) = label) >= 27 AS learns
  FROM (SELECT 7.0::float8 AS c, 'same'::text AS s, true AS b, petal_length, label FROM iris_test) t;

-- extreme and denormal values train to finite weights
SELECT global_step FROM est_train('odd_extreme',
	$$SELECT (CASE WHEN g % 2 = 0 THEN 3e38 ELSE -3e38 END)::real AS big,
			 (CASE WHEN g % 3 = 0 THEN 1e-44 ELSE 1.4e-45 END)::real AS tiny,
			 g % 2 AS label FROM generate_series(1, 40) g$$, steps => 50, params => '{"seed": 1}');
SELECT name, stddev > 0 AS scaled FROM est_feature_info('odd_extreme') ORDER BY ordinal;
SELECT est_predict('odd_extreme', t) AS prediction
  FROM (SELECT 3e38::real AS big, 1e-44::real AS tiny) t;
SELECT expect_error($$SELECT * FROM est_train('odd_bad', 'SELECT 1e300::float8 AS x, 1 AS label')$$);

-- NULLs everywhere: inferred columns impute, so the model trains and
-- predicts its prior
SELECT global_step FROM est_train('odd_nulls',
	$$SELECT NULL::float8 AS x, NULL::text AS t, NULL::boolean AS b, g % 2 AS label
		FROM generate_series(1, 20) g$$, steps => 20, params => '{"seed": 1}');
SELECT name, null_count, mean FROM est_feature_info('odd_nulls') ORDER BY ordinal;
SELECT (est_predict_proba('odd_nulls', r))[1] BETWEEN 0.3 AND 0.7 AS near_prior
  FROM (SELECT NULL::float8 AS x, NULL::text AS t, NULL::boolean AS b) r;

-- huge text values: a hash column takes them, an inferred column hashes
-- them (too long for a vocabulary), a declared vocabulary refuses them
SELECT global_step FROM est_train('odd_text', 'SELECT repeat(''x'', 100000 + g) AS t, g % 2 AS label FROM generate_series(1, 20) g',
	steps => 5, params => '{"seed": 1, "feature_columns": [{"type": "hash", "key": "t", "hash_bucket_size": 10}]}');
SELECT est_predict('odd_text', r) IS NOT NULL AS predicts FROM (SELECT repeat('y', 1000000) AS t) r;
SELECT global_step FROM est_train('odd_text_inferred', 'SELECT repeat(''x'', 100000 + g) AS t, g % 2 AS label FROM generate_series(1, 20) g',
	steps => 5, params => '{"seed": 1}');
SELECT name, kind, representation, buckets FROM est_feature_info('odd_text_inferred');
SELECT est_predict('odd_text_inferred', r) IS NOT NULL AS predicts FROM (SELECT repeat('y', 1000000) AS t) r;
SELECT expect_error($$SELECT * FROM est_train('odd_bad', 'SELECT repeat(''x'', 100000 + g) AS t, g % 2 AS label FROM generate_series(1, 20) g',
	params => '{"feature_columns": [{"type": "vocabulary", "key": "t"}]}')$$);
-- a text value with the zero code point cannot exist; one of every other
-- code point hashes
SELECT global_step FROM est_train('odd_unicode', $$SELECT chr(g) AS t, g % 2 AS label FROM generate_series(1, 300) g$$,
	steps => 5, params => '{"seed": 1}');
SELECT name, kind, representation FROM est_feature_info('odd_unicode');

-- huge shapes and counts are refused before allocating
SELECT expect_error($$SELECT * FROM est_train('odd_bad', 'iris_train', model_type => 'dnn_regressor', label => 'label', params => '{"label_dimension": 70000}')$$);
SELECT expect_error($$SELECT * FROM est_train('odd_bad', 'SELECT array_fill(1.0::real, ARRAY[70000]) AS a, 1 AS label')$$);
SELECT expect_error($$SELECT * FROM est_train('odd_bad', 'iris_train', hidden_units => (SELECT array_agg(10) FROM generate_series(1, 1000000)))$$);

-- a model whose feature's enum was dropped after training is still listed,
-- described and dropped (the catalog's views looked the type up and failed
-- for every model); a column of a new enum of the same values scores, row
-- by row as in blocks
CREATE TYPE odd_mood AS ENUM ('sad', 'ok', 'happy');
CREATE TABLE odd_moods AS
SELECT g AS id, (ARRAY['sad', 'ok', 'happy'])[1 + g % 3]::odd_mood AS mood, g % 2 AS label
  FROM generate_series(1, 60) g;
SELECT global_step FROM est_train('odd_mood', 'odd_moods', features => '{mood}', steps => 5,
								  params => '{"seed": 1}');
DROP TABLE odd_moods;
DROP TYPE odd_mood;
SELECT count(*) AS listed FROM estimator.models WHERE name LIKE 'odd\_%';
SELECT name, kind, vocabulary_size FROM est_feature_info('odd_mood');
CREATE TYPE odd_mood AS ENUM ('sad', 'ok', 'happy');
CREATE TABLE odd_moods AS
SELECT g AS id, (ARRAY['sad', 'ok', 'happy'])[1 + g % 3]::odd_mood AS mood, g % 2 AS label
  FROM generate_series(1, 60) g;
SELECT count(*) AS rows, count(*) FILTER (WHERE est_predict('odd_mood', t) = p.prediction) AS same
  FROM odd_moods t JOIN est_predict_table('odd_mood', 'odd_moods', key => 'id') p
	ON p.key = t.id::text;
DROP TABLE odd_moods;
DROP TYPE odd_mood;

-- a row that lacks a feature whose enum or domain was dropped reads it as
-- NULL, as it reads any other optional feature it lacks (a cache lookup
-- error before); a column of that name decides the kind, as above, and a
-- kind no feature column reads is refused
CREATE TYPE odd_mood AS ENUM ('sad', 'ok', 'happy');
CREATE DOMAIN odd_score AS real;
CREATE TABLE odd_moods AS
SELECT (ARRAY['sad', 'ok', 'happy'])[1 + g % 3]::odd_mood AS mood, (g % 7)::odd_score AS score,
	   g::real AS x, g % 2 AS label
  FROM generate_series(1, 60) g;
SELECT global_step FROM est_train('odd_lacks', 'odd_moods', steps => 5, params => '{"seed": 1}');
CREATE TABLE odd_lacks AS
SELECT x, est_predict('odd_lacks', t) AS before, NULL::float8 AS after
  FROM (SELECT g::real AS x FROM generate_series(1, 60, 7) g) t;
DROP TABLE odd_moods;
DROP TYPE odd_mood;
DROP DOMAIN odd_score;
UPDATE odd_lacks SET after = est_predict('odd_lacks', t) FROM (SELECT x FROM odd_lacks) t
 WHERE t.x = odd_lacks.x;
SELECT count(*) AS rows, count(*) FILTER (WHERE before = after) AS same, sum(after) AS classes
  FROM odd_lacks;
SELECT est_predict('odd_lacks', t) AS p FROM (SELECT 3.0::real AS x, 'ok'::text AS mood) t;
SELECT expect_error($$SELECT est_predict('odd_lacks', t) FROM (SELECT 3.0::real AS x, point '(1,2)' AS mood) t$$);
DROP TABLE odd_lacks;

SELECT count(*) AS dropped FROM
	(SELECT est_drop_model(name) FROM estimator.models WHERE name LIKE 'odd\_%') d;
