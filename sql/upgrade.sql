-- The update path: models trained by estimator 0.1.0 (checkpoint format 1)
-- predict exactly as before after ALTER EXTENSION estimator UPDATE, and
-- train on in format 2.
SET client_min_messages = warning;

DROP EXTENSION estimator CASCADE;
CREATE EXTENSION estimator VERSION '0.1.0';
SELECT extversion FROM pg_extension WHERE extname = 'estimator';
CREATE TABLE upgrade_expected (id int, proba float8[], value float8);
\i test/data/upgrade_0.1.0.sql
SELECT model, global_step, get_byte(data, 8) AS format FROM estimator.checkpoints ORDER BY model;
-- this library refuses the old catalog until the update, and says so
SELECT expect_error($$SELECT est_predict('upgrade_iris', t) FROM iris_test t$$);

ALTER EXTENSION estimator UPDATE;
SELECT extversion FROM pg_extension WHERE extname = 'estimator';
SELECT name, n_inputs, input_width, label_vocabulary FROM estimator.models ORDER BY name;

-- the same predictions, to the bit
SELECT count(*) AS rows,
	   count(*) FILTER (WHERE est_predict_proba('upgrade_iris', t) = e.proba) AS same_proba,
	   count(*) FILTER (WHERE est_predict('upgrade_reg', t) = e.value) AS same_value
  FROM iris_test t JOIN upgrade_expected e USING (id);
-- the old z-scores are numeric feature columns now; NULLs stay errors
SELECT ordinal, name, kind, round(mean::numeric, 4) AS mean, details->>'null_policy' AS null_policy
  FROM est_feature_info('upgrade_iris') ORDER BY ordinal;
SELECT expect_error($$SELECT est_predict('upgrade_iris', t) FROM (SELECT NULL::real AS sepal_length, 1::real AS sepal_width, 1::real AS petal_length, 1::real AS petal_width) t$$);
SELECT metric, round(value::numeric, 3) AS value
  FROM est_evaluate('upgrade_iris', 'iris_test') WHERE metric IN ('accuracy', 'loss');

-- a bundle of the old checkpoint imports: its params declare no feature
-- columns, and its checkpoint's are the numeric ones that 0.1.0 inferred
SELECT i.* FROM est_import('upgrade_iris_copy', est_export('upgrade_iris')) i;
SELECT i.* FROM est_import('upgrade_reg_copy', est_export('upgrade_reg')) i;

-- training continues from the old checkpoint and writes format 2
SELECT global_step FROM est_train('upgrade_iris', 'iris_train', steps => 100);
SELECT model, global_step, get_byte(data, 8) AS format
  FROM estimator.checkpoints WHERE model = 'upgrade_iris' ORDER BY global_step;
SELECT count(*) FILTER (WHERE est_predict('upgrade_iris', t) = label) >= 28 AS still_good
  FROM iris_test t;
-- and so does one of format 2, whose NULLs stay errors
SELECT i.* FROM est_import('upgrade_iris_trained', est_export('upgrade_iris')) i;
SELECT est_drop_model(m) FROM unnest(ARRAY['upgrade_iris_copy', 'upgrade_reg_copy', 'upgrade_iris_trained']) m;

DROP TABLE upgrade_expected;
DROP EXTENSION estimator CASCADE;
CREATE EXTENSION estimator;
SELECT extversion FROM pg_extension WHERE extname = 'estimator';
