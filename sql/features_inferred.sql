-- Feature columns inferred from the source's types: a mixed table of
-- numbers on unnormalised scales, text, booleans, enums, arrays and NULLs,
-- with a text label, learned end to end by the one-liner.
SET client_min_messages = warning;

CREATE TYPE finf_plan AS ENUM ('basic', 'plus', 'pro');
SELECT setseed(0.42);
CREATE TABLE finf_all AS
	SELECT g AS id,
		   round(exp(9 + 4 * random()))::float8 AS income,
		   (18 + floor(62 * random()))::int AS age,
		   (ARRAY['paris', 'oslo', 'lima', 'kyiv', 'quito', 'bern'])[1 + floor(6 * random())::int] AS city,
		   random() < 0.5 AS member,
		   (ARRAY['basic', 'plus', 'pro'])[1 + floor(3 * random())::int]::finf_plan AS plan,
		   ARRAY[random(), random()]::real[] AS scores,
		   ARRAY['t' || floor(4 * random())::int, 't' || floor(4 * random())::int] AS tags,
		   random() AS noise
	  FROM generate_series(1, 2000) g;
-- the label: a logistic rule of all of them, plus noise
CREATE TABLE finf AS
	SELECT id,
		   CASE WHEN random() < 0.05 THEN NULL ELSE income END AS income,
		   age,
		   CASE WHEN random() < 0.05 THEN NULL ELSE city END AS city,
		   CASE WHEN random() < 0.05 THEN NULL ELSE member END AS member,
		   plan, scores, tags,
		   CASE WHEN 1.5 * (ln(income) - 11) - 0.08 * (age - 49)
					 + CASE city WHEN 'paris' THEN 1.5 WHEN 'oslo' THEN -1.5 WHEN 'lima' THEN 1 ELSE 0 END
					 + CASE WHEN member THEN 1 ELSE -1 END
					 + CASE plan WHEN 'pro' THEN 1 WHEN 'basic' THEN -1 ELSE 0 END
					 + 3 * (scores[1] - 0.5)
					 + CASE WHEN 't0' = ANY (tags) THEN 1 ELSE 0 END
					 + 1.5 * ln(noise / (1 - noise)) * 0.3 > 0
				THEN 'churn' ELSE 'stay' END AS outcome
	  FROM finf_all;
CREATE VIEW finf_train AS SELECT * FROM finf WHERE id <= 1500;
CREATE VIEW finf_test AS SELECT * FROM finf WHERE id > 1500;
SELECT outcome, count(*) FROM finf GROUP BY outcome ORDER BY outcome;
SELECT count(*) FILTER (WHERE income IS NULL) AS income_nulls,
	   count(*) FILTER (WHERE city IS NULL) AS city_nulls,
	   count(*) FILTER (WHERE member IS NULL) AS member_nulls
  FROM finf;

-- the one-liner (the key column left out)
SELECT model, global_step, rows_read
  FROM est_train('finf_model', 'SELECT income, age, city, member, plan, scores, tags, outcome FROM finf_train',
				 label => 'outcome', params => '{"seed": 11}');
SELECT ordinal, name, kind, representation, width, null_count,
	   round(mean::numeric, 2) AS mean, vocabulary_size, top_values
  FROM est_feature_info('finf_model') ORDER BY ordinal;
SELECT model_type, n_classes, label_vocabulary, n_inputs, input_width
  FROM estimator.models WHERE name = 'finf_model';
-- accuracy on the held-out rows, by est_evaluate and by est_predict_label
SELECT round(value::numeric, 2) AS accuracy
  FROM est_evaluate('finf_model', 'finf_test') WHERE metric = 'accuracy';
SELECT round(avg((est_predict_label('finf_model', t) = outcome)::int), 2) AS accuracy,
	   round(avg((est_predict_label('finf_model', t) = outcome)::int), 2) >= 0.8 AS good
  FROM finf_test t;
-- a model of the numbers alone does worse: the text, booleans and arrays
-- carry signal
SELECT global_step FROM est_train('finf_numbers', 'SELECT income, age, outcome FROM finf_train',
								  label => 'outcome', params => '{"seed": 11}');
SELECT round(value::numeric, 2) AS numbers_only
  FROM est_evaluate('finf_numbers', 'SELECT income, age, outcome FROM finf_test') WHERE metric = 'accuracy';

-- many distinct values switch a text column to a hashed embedding
SELECT global_step FROM est_train('finf_ids', 'SELECT ''user'' || (id % 300) AS usr, outcome FROM finf_train',
								  label => 'outcome', steps => 10, params => '{"seed": 1}');
SELECT name, kind, representation, width, buckets, details->'embedding_dimension' AS dimension
  FROM est_feature_info('finf_ids');

-- the values a vocabulary learns count against estimator.max_memory
SET estimator.max_memory = 2048;
SELECT expect_error($$SELECT * FROM est_train('finf_big', 'SELECT md5(g::text) || repeat(''x'', 100) AS t, g % 2 AS label FROM generate_series(1, 50000) g', steps => 1)$$);
RESET estimator.max_memory;
-- columns of other types are refused, naming them
SELECT expect_error($$SELECT * FROM est_train('finf_bad', 'SELECT now() AS t, outcome FROM finf', label => 'outcome')$$);
SELECT expect_error($$SELECT * FROM est_train('finf_bad', 'SELECT ''{"a": 1}''::jsonb AS j, outcome FROM finf', label => 'outcome')$$);
-- a column whose kind changed since training: the model says what it expects
SELECT expect_error($$SELECT est_predict('finf_model', t) FROM (SELECT income::text AS income, age, city, member, plan, scores, tags FROM finf_test) t$$);
SELECT expect_error($$SELECT est_predict('finf_model', t) FROM (SELECT income, age, city, member::int AS member, plan, scores, tags FROM finf_test) t$$);
-- batch scoring applies the same transform
SELECT count(*) AS rows, count(*) FILTER (WHERE s.prediction = est_predict('finf_model', t)) AS same
  FROM est_predict_table('finf_model', 'finf_test', key => 'id') s
  JOIN finf_test t ON t.id = s.key::int;
-- extra columns are ignored
SELECT count(*) FILTER (WHERE est_predict('finf_model', t) = est_predict('finf_model', u)) AS same
  FROM finf_test t
  JOIN (SELECT id, income, age, city, member, plan, scores, tags FROM finf_test) u USING (id);

SELECT count(*) AS dropped FROM
	(SELECT est_drop_model(name) FROM estimator.models WHERE name LIKE 'finf\_%') d;
DROP VIEW finf_train, finf_test;
DROP TABLE finf, finf_all;
DROP TYPE finf_plan;
