-- est_train: the one-liner, continuation, determinism, options and errors.
SET client_min_messages = warning;

-- The one-liner of the tutorial, seeded: TF's DNNClassifier defaults
-- (hidden_units {10,10}, relu, Adagrad 0.05, batch 32, 5000 steps).
SELECT model, global_step, round(loss::numeric, 3) AS loss,
	   round(accuracy::numeric, 3) AS accuracy, rows_read, seconds > 0 AS timed
  FROM est_train('train_iris', 'iris_train', params => '{"seed": 1}');
SELECT name, model_type, features, label, n_inputs, n_classes, hidden_units,
	   activation, optimizer, learning_rate, batch_size, global_step
  FROM estimator.models WHERE name = 'train_iris';

-- It generalises: at least 0.93 on the 30 held-out rows.
SELECT metric, round(value::numeric, 3) AS value
  FROM est_evaluate('train_iris', 'iris_test');
SELECT value >= 0.93 AS good_enough FROM est_evaluate('train_iris', 'iris_test')
 WHERE metric = 'accuracy';

-- The training log has a row every 100 steps, the loss falls.
SELECT count(*), min(global_step), max(global_step)
  FROM estimator.training_log WHERE model = 'train_iris';
SELECT (SELECT loss FROM estimator.training_log
		 WHERE model = 'train_iris' AND global_step = 100) >
	   (SELECT loss FROM estimator.training_log
		 WHERE model = 'train_iris' AND global_step = 5000) AS loss_fell;

-- A second call continues from the latest checkpoint: global_step grows and
-- the training loss keeps falling.
CREATE TEMP TABLE before AS
	SELECT loss FROM estimator.checkpoints WHERE model = 'train_iris';
SELECT model, global_step, rows_read
  FROM est_train('train_iris', 'iris_train', steps => 1000);
SELECT c.loss < b.loss AS loss_still_falls
  FROM estimator.checkpoints c, before b
 WHERE c.model = 'train_iris' AND c.global_step = 6000;
SELECT global_step FROM estimator.models WHERE name = 'train_iris';

-- epochs: 2 passes over 120 rows in batches of 32 are 8 steps.
SELECT global_step FROM est_train('train_epochs', 'iris_train', epochs => 2,
								  params => '{"seed": 7}');
-- steps and epochs together: whichever ends first
SELECT global_step FROM est_train('train_epochs', 'iris_train', epochs => 100,
								  steps => 5);

-- The same seed on the same data gives bit-identical weights; another seed
-- does not.
SELECT global_step FROM est_train('train_seed_a', 'iris_train', steps => 300,
								  params => '{"seed": 42}');
SELECT global_step FROM est_train('train_seed_b', 'iris_train', steps => 300,
								  params => '{"seed": 42}');
SELECT global_step FROM est_train('train_seed_c', 'iris_train', steps => 300,
								  params => '{"seed": 43}');
SELECT a.data = b.data AS same_seed_identical,
	   a.data = c.data AS other_seed_identical
  FROM estimator.checkpoints a, estimator.checkpoints b, estimator.checkpoints c
 WHERE a.model = 'train_seed_a' AND b.model = 'train_seed_b'
   AND c.model = 'train_seed_c';
-- and so does continuing both the same way
SELECT global_step FROM est_train('train_seed_a', 'iris_train', steps => 50);
SELECT global_step FROM est_train('train_seed_b', 'iris_train', steps => 50);
SELECT a.data = b.data AS continued_identical
  FROM estimator.checkpoints a, estimator.checkpoints b
 WHERE a.model = 'train_seed_a' AND b.model = 'train_seed_b'
   AND a.global_step = 350 AND b.global_step = 350;

-- Other optimizers, network shapes and activations.
SELECT model, global_step, accuracy > 0.9 AS learned
  FROM est_train('train_sgd', 'iris_train', optimizer => 'sgd',
				 learning_rate => 0.1, params => '{"seed": 3}');
SELECT model, global_step, accuracy > 0.9 AS learned
  FROM est_train('train_adam', 'iris_train', optimizer => 'adam',
				 hidden_units => '{16, 8, 4}', batch_size => 16,
				 steps => 2000, params => '{"seed": 3, "activation_fn": "tanh"}');
SELECT optimizer, learning_rate, hidden_units, activation, batch_size
  FROM estimator.models WHERE name IN ('train_sgd', 'train_adam') ORDER BY name;

-- Explicit features and a label of another name.
CREATE TABLE train_renamed AS
	SELECT petal_length AS pl, petal_width AS pw, sepal_length AS unused,
		   label::smallint AS species
	  FROM iris_train;
SELECT global_step, accuracy > 0.9 AS learned
  FROM est_train('train_renamed', 'train_renamed', label => 'species',
				 features => '{pl,pw}', params => '{"seed": 5}');
SELECT features, label, n_inputs FROM estimator.models
 WHERE name = 'train_renamed';
-- continuing needs neither label nor features again
SELECT global_step FROM est_train('train_renamed', 'train_renamed', steps => 10);

-- Classes absent from the data can be declared with n_classes.
SELECT global_step FROM est_train('train_classes',
		'SELECT * FROM iris_train WHERE label < 2', steps => 10,
		params => '{"n_classes": 3, "seed": 1}');
SELECT n_classes FROM estimator.models WHERE name = 'train_classes';

-- Contradicting the architecture of an existing model is an error.
SELECT * FROM est_train('train_iris', 'iris_train', hidden_units => '{20}');
SELECT expect_error($$SELECT est_train('train_iris', 'iris_train', optimizer => 'sgd')$$);
SELECT expect_error($$SELECT est_train('train_iris', 'iris_train', model_type => 'dnn_classifier', label => 'petal_width')$$);
SELECT expect_error($$SELECT est_train('train_renamed', 'train_renamed', features => '{pl}')$$);
SELECT expect_error($$SELECT est_train('train_iris', 'iris_train', params => '{"activation_fn": "tanh"}')$$);

-- Bad arguments.
SELECT expect_error($$SELECT est_train(NULL, 'iris_train')$$);
SELECT expect_error($$SELECT est_train('', 'iris_train')$$);
SELECT expect_error($$SELECT est_train(repeat('m', 64), 'iris_train')$$);
SELECT expect_error($$SELECT est_train('train_bad', NULL)$$);
SELECT expect_error($$SELECT est_train('train_bad', '')$$);
SELECT expect_error($$SELECT est_train('train_bad', 'iris_train', hidden_units => '{}')$$);
SELECT expect_error($$SELECT est_train('train_bad', 'iris_train', hidden_units => '{10,0}')$$);
SELECT expect_error($$SELECT est_train('train_bad', 'iris_train', hidden_units => '{10,NULL}')$$);
SELECT expect_error($$SELECT est_train('train_bad', 'iris_train', hidden_units => '{{1,2},{3,4}}')$$);
SELECT expect_error($$SELECT est_train('train_bad', 'iris_train', hidden_units => '{100000}')$$);
SELECT expect_error($$SELECT est_train('train_bad', 'iris_train', hidden_units => array_fill(4, ARRAY[33]))$$);
SELECT * FROM est_train('train_bad', 'iris_train', hidden_units => '{65536,65536}');
SELECT expect_error($$SELECT est_train('train_bad', 'iris_train', steps => 0)$$);
SELECT expect_error($$SELECT est_train('train_bad', 'iris_train', epochs => -1)$$);
SELECT expect_error($$SELECT est_train('train_bad', 'iris_train', batch_size => 0)$$);
SELECT expect_error($$SELECT est_train('train_bad', 'iris_train', batch_size => 1000000)$$);
SELECT expect_error($$SELECT est_train('train_bad', 'iris_train', learning_rate => 0)$$);
SELECT expect_error($$SELECT est_train('train_bad', 'iris_train', learning_rate => 'NaN')$$);
SELECT expect_error($$SELECT est_train('train_bad', 'iris_train', learning_rate => 'Infinity')$$);
SELECT expect_error($$SELECT est_train('train_bad', 'iris_train', optimizer => 'lbfgs')$$);
SELECT * FROM est_train('train_bad', 'iris_train', model_type => 'svm');
SELECT * FROM est_train('train_bad', 'iris_train', params => '{"sed": 1}');
SELECT expect_error($$SELECT est_train('train_bad', 'iris_train', params => '[1]')$$);
SELECT expect_error($$SELECT est_train('train_bad', 'iris_train', params => '{"seed": -1}')$$);
SELECT expect_error($$SELECT est_train('train_bad', 'iris_train', params => '{"seed": 1.5}')$$);
SELECT expect_error($$SELECT est_train('train_bad', 'iris_train', params => '{"seed": "1"}')$$);
-- 2^63 and 1e400 are out of range, not a failed conversion; 2^63 - 1 is in it
SELECT expect_error($$SELECT est_train('train_bad', 'iris_train', params => '{"seed": 9223372036854775808}')$$);
SELECT expect_error($$SELECT est_train('train_bad', 'iris_train', params => '{"eval_every_steps": 1e400}')$$);
SELECT global_step FROM est_train('train_seed_max', 'iris_train', steps => 1,
	params => '{"seed": 9223372036854775807, "save_checkpoints_steps": 9223372036854775807}');
SELECT est_drop_model('train_seed_max');
SELECT expect_error($$SELECT est_train('train_bad', 'iris_train', params => '{"n_classes": 1}')$$);
SELECT expect_error($$SELECT est_train('train_bad', 'iris_train', params => '{"log_step_count_steps": 0}')$$);
SELECT expect_error($$SELECT est_train('train_bad', 'iris_train', params => '{"activation_fn": "swish"}')$$);
SELECT expect_error($$SELECT est_train('train_bad', 'iris_train', features => '{}')$$);
SELECT expect_error($$SELECT est_train('train_bad', 'iris_train', features => '{sepal_length,sepal_length}')$$);
SELECT expect_error($$SELECT est_train('train_bad', 'iris_train', features => '{label}')$$);
SELECT expect_error($$SELECT est_train('train_bad', 'iris_train', features => '{petal_size}')$$);
SELECT expect_error($$SELECT est_train('train_bad', 'SELECT * FROM iris_train', features => '{petal_size}')$$);
SELECT expect_error($$SELECT est_train('train_bad', 'iris_train', label => 'species')$$);
SELECT expect_error($$SELECT est_train('train_bad', 'iris_train', label => 'species', features => '{petal_width}')$$);

-- Bad data: each error names the column.
CREATE TABLE train_data (x real, y double precision, n numeric, label integer);
INSERT INTO train_data VALUES (1, 2, 3, 0), (2, 3, 4, 1);
SELECT expect_error($$SELECT est_train('train_bad', 'SELECT * FROM train_data WHERE false')$$);
SELECT * FROM est_train('train_bad', 'SELECT x, label FROM train_data WHERE label = 0');
SELECT * FROM est_train('train_bad', 'SELECT x, y, n, label + 1 AS label FROM train_data UNION ALL SELECT 0, 0, 0, -1');
SELECT expect_error($$SELECT est_train('train_bad', 'SELECT x, y, n, 70000 AS label FROM train_data')$$);
-- an inferred numeric column imputes its training mean; all NULL: 0
SELECT model, global_step, rows_read FROM est_train('train_nulls', 'SELECT x, NULL::float8 AS y, n, label FROM train_data', steps => 10);
SELECT name, null_count, mean FROM est_feature_info('train_nulls');
SELECT expect_error($$SELECT est_train('train_bad', 'SELECT x, y, n, NULL::int AS label FROM train_data')$$);
SELECT expect_error($$SELECT est_train('train_bad', 'SELECT x, ''NaN''::float8 AS y, n, label FROM train_data')$$);
SELECT expect_error($$SELECT est_train('train_bad', 'SELECT x, y, ''-Infinity''::numeric AS n, label FROM train_data')$$);
SELECT expect_error($$SELECT est_train('train_bad', 'SELECT x, 1e300::float8 AS y, n, label FROM train_data')$$);
SELECT expect_error($$SELECT est_train('train_bad', 'SELECT x, y, n, label::float8 AS label FROM train_data')$$);
SELECT expect_error($$SELECT est_train('train_bad', 'SELECT x, y, n, label, now() AS t FROM train_data')$$);
SELECT expect_error($$SELECT est_train('train_bad', 'SELECT label FROM train_data')$$);
SELECT expect_error($$SELECT est_train('train_bad', 'SELECT x, x, label FROM train_data')$$);

-- A label outside the classes of an existing model.
SELECT expect_error($$SELECT est_train('train_iris', 'SELECT sepal_length, sepal_width, petal_length, petal_width, 3 AS label FROM iris_train')$$);
-- A column whose type changed.
SELECT expect_error($$SELECT est_train('train_iris', 'SELECT ARRAY[sepal_length] AS sepal_length, sepal_width, petal_length, petal_width, label FROM iris_train')$$);

-- Training that diverges stores no checkpoint, and a new model is not kept.
SELECT expect_error($$SELECT est_train('train_diverge', 'SELECT x * 1e30 AS x, label FROM train_data', optimizer => 'sgd', learning_rate => 1e30, params => '{"seed": 1}')$$);
SELECT count(*) FROM estimator.models WHERE name = 'train_diverge';
SELECT global_step FROM estimator.models WHERE name = 'train_iris';
SELECT global_step FROM est_train('train_iris', 'iris_train', steps => 10);
SELECT expect_error($$SELECT est_train('train_iris', 'SELECT sepal_length * 1e30 AS sepal_length, sepal_width, petal_length, petal_width, label FROM iris_train', learning_rate => 1e30, steps => 100)$$);
SELECT global_step FROM estimator.models WHERE name = 'train_iris';
SELECT max(global_step) FROM estimator.checkpoints WHERE model = 'train_iris';

-- statement_timeout stops a long training, and the model stays as it was.
\set SHOW_CONTEXT never
SET statement_timeout = '300ms';
SELECT * FROM est_train('train_iris', 'iris_train', steps => 100000000);
RESET statement_timeout;
\set SHOW_CONTEXT errors
SELECT global_step FROM estimator.models WHERE name = 'train_iris';

-- ROLLBACK undoes a training.
BEGIN;
SELECT global_step FROM est_train('train_iris', 'iris_train', steps => 100);
ROLLBACK;
SELECT global_step FROM estimator.models WHERE name = 'train_iris';
SELECT count(*) FROM estimator.checkpoints
 WHERE model = 'train_iris' AND global_step > 6010;

-- The loss and accuracy est_train returns are measured on a tenth of the
-- rows the call trains on, at least 10,000, evenly spaced in the order
-- read.  A feature that says nothing and labels that alternate: one epoch
-- of 20,000 rows is scored on every second row, all of one label, so the
-- one class the model predicts is right on all or none of them; twenty
-- epochs are scored on every row, half of each label.
CREATE TABLE train_alternate AS
SELECT i AS id, 1.0::real AS x, i % 2 AS label FROM generate_series(0, 19999) i;
SELECT global_step, accuracy IN (0, 1) AS one_label
  FROM est_train('train_alt_1', 'train_alternate', features => '{x}',
				 model_type => 'linear_classifier', batch_size => 100, epochs => 1,
				 params => '{"seed": 1}');
SELECT global_step, accuracy
  FROM est_train('train_alt_20', 'train_alternate', features => '{x}',
				 model_type => 'linear_classifier', batch_size => 100, epochs => 20,
				 params => '{"seed": 1}');
DROP TABLE train_alternate;

-- A source that reaches the model under training: a nested est_train of
-- the same model once stored checkpoints the outer call did not know of,
-- which left the model at the outer call's step, below its newest
-- checkpoint, and every later est_train failed with 40001.  A nested
-- est_drop_model once failed on a foreign key at the end.
SELECT global_step FROM est_train('train_nested', 'iris_train', steps => 10,
								  params => '{"seed": 1}');
CREATE FUNCTION train_nested_fn(what text) RETURNS real
LANGUAGE plpgsql AS $$
BEGIN
	IF what = 'train' THEN
		PERFORM est_train('train_nested', 'iris_train', steps => 5);
	ELSIF what = 'drop' THEN
		PERFORM est_drop_model('train_nested');
	ELSE
		BEGIN
			PERFORM est_drop_model('train_nested');
		EXCEPTION WHEN object_in_use THEN
			RETURN 0;
		END;
	END IF;
	RETURN 0;
END $$;
SELECT global_step FROM est_train('train_nested',
	'SELECT t.*, train_nested_fn(''train'') AS z FROM iris_train t', steps => 10);
SELECT global_step FROM est_train('train_nested',
	'SELECT t.*, train_nested_fn(''drop'') AS z FROM iris_train t', steps => 10);
SELECT global_step FROM est_train('train_new_nested',
	'SELECT t.*, est_train(''train_new_nested'', ''iris_train'', steps => 1) IS NULL AS z FROM iris_train t',
	steps => 10);
SELECT global_step FROM est_train('train_nested',
	'SELECT t.*, train_nested_fn(''caught'') AS z FROM iris_train t',
	steps => 10);
SELECT global_step, (SELECT max(global_step) FROM est_checkpoints('train_nested')) AS newest
  FROM estimator.models WHERE name = 'train_nested';
SELECT global_step FROM est_train('train_nested', 'iris_train', steps => 10);
DROP FUNCTION train_nested_fn(text);

SELECT count(*) AS dropped FROM
	(SELECT est_drop_model(name) FROM estimator.models
	  WHERE name LIKE 'train\_%') d;
SELECT count(*) FROM estimator.models;
