-- Optimizers, schedules, regularisation, network options, evaluation
-- during training and early stopping.
SET client_min_messages = warning;

-- Every optimizer learns Iris, with Keras' defaults or TF's names.
SELECT o.optimizer, t.global_step, t.accuracy > 0.9 AS learned
  FROM (VALUES ('sgd', NULL::float8, '{}'::jsonb),
			   ('momentum', 0.05, '{"momentum": 0.9, "nesterov": true}'),
			   ('adagrad', NULL, '{}'),
			   ('adam', 0.01, '{"beta_1": 0.8}'),
			   ('rmsprop', 0.005, '{"rho": 0.95, "centered": true, "momentum": 0.5}'),
			   ('ftrl', 0.2, '{"l2_regularization_strength": 0.001}')) o(optimizer, lr, p),
	   LATERAL est_train('opt_' || o.optimizer, 'iris_train', optimizer => o.optimizer,
						 learning_rate => o.lr, steps => 2000,
						 params => o.p || '{"seed": 10}') t
 ORDER BY o.optimizer;
SELECT name, optimizer, learning_rate FROM estimator.models
 WHERE name LIKE 'opt\_%' ORDER BY name;

-- Continuing is the same as not stopping: 2 x 500 steps equal 1000 steps
-- bit for bit, slots, schedules, dropout and batch statistics included.
DO $$
DECLARE
	o record;
BEGIN
	FOR o IN SELECT * FROM (VALUES
			('sgd', '{"seed": 1, "dropout": 0.2, "batch_norm": true}'::jsonb),
			('momentum', '{"seed": 1, "learning_rate_schedule": {"type": "cosine", "decay_steps": 800}}'),
			('adagrad', '{"seed": 1}'),
			('adam', '{"seed": 1, "learning_rate_schedule": {"type": "exponential_decay", "decay_steps": 100, "decay_rate": 0.9}}'),
			('rmsprop', '{"seed": 1, "centered": true}'),
			('ftrl', '{"seed": 1, "l1_regularization_strength": 0.01}')) v(optimizer, p)
	LOOP
		PERFORM est_train('optx_a_' || o.optimizer, 'iris_train',
						  optimizer => o.optimizer, steps => 500, params => o.p);
		PERFORM est_train('optx_a_' || o.optimizer, 'iris_train', steps => 500);
		PERFORM est_train('optx_b_' || o.optimizer, 'iris_train',
						  optimizer => o.optimizer, steps => 1000, params => o.p);
	END LOOP;
END
$$;
SELECT substr(a.model, 8) AS optimizer, a.data = b.data AS identical
  FROM estimator.checkpoints a
  JOIN estimator.checkpoints b
	ON b.model = 'optx_b_' || substr(a.model, 8) AND b.global_step = a.global_step
 WHERE a.model LIKE 'optx\_a\_%' AND a.global_step = 1000
 ORDER BY 1;

-- Learning-rate schedules.
SELECT s.type, t.global_step, t.accuracy > 0.9 AS learned
  FROM (VALUES ('constant', '{"type": "constant"}'::jsonb),
			   ('exponential_decay', '{"type": "exponential_decay", "decay_steps": 500, "decay_rate": 0.5, "staircase": true}'),
			   ('step', '{"type": "step", "decay_steps": 1000, "decay_rate": 0.5}'),
			   ('cosine', '{"type": "cosine", "decay_steps": 2000, "alpha": 0.1}')) s(type, sched),
	   LATERAL est_train('sched_' || s.type, 'iris_train', steps => 2000,
						 params => jsonb_build_object('seed', 11, 'learning_rate_schedule', s.sched)) t
 ORDER BY s.type;

-- FTRL's L1 makes sparse linear models: with a strong L1 every weight is
-- exactly zero, so every row gets the same probabilities.
SELECT global_step FROM est_train('opt_sparse', 'iris_train', model_type => 'linear_classifier',
	steps => 300, params => '{"seed": 12, "l1_regularization_strength": 1000}');
SELECT count(DISTINCT est_predict_proba('opt_sparse', t)::text) AS distinct_outputs
  FROM iris_test t;

-- Network options: activations, dropout, batch normalisation, kernel
-- penalties, gradient clipping and loss reductions.
SELECT n.name, t.accuracy > 0.9 AS learned
  FROM (VALUES ('elu', '{"activation_fn": "elu"}'::jsonb),
			   ('leaky_relu', '{"activation_fn": "leaky_relu"}'),
			   ('gelu', '{"activation_fn": "gelu"}'),
			   ('sigmoid', '{"activation_fn": "sigmoid"}'),
			   ('dropout', '{"dropout": 0.3}'),
			   ('batch_norm', '{"batch_norm": true}'),
			   ('l1_l2', '{"l1_regularization": 0.0001, "l2_regularization": 0.001}'),
			   ('clip', '{"clip_norm": 0.5}'),
			   ('sum', '{"loss_reduction": "sum"}'),
			   ('mean', '{"loss_reduction": "mean"}')) n(name, p),
	   LATERAL est_train('net_' || n.name, 'iris_train', steps => 2000,
						 optimizer => 'adam', learning_rate => 0.01,
						 params => n.p || '{"seed": 13}') t
 ORDER BY n.name;
-- dropout and batch statistics are for training only: predictions are
-- deterministic
SELECT count(DISTINCT est_predict_proba('net_dropout', ARRAY[5.9, 3.0, 4.2, 1.5])::text) AS dropout_outputs,
	   count(DISTINCT est_predict_proba('net_batch_norm', ARRAY[5.9, 3.0, 4.2, 1.5])::text) AS bn_outputs
  FROM generate_series(1, 5);
-- a network option cannot change once the model exists
SELECT expect_error($$SELECT est_train('net_dropout', 'iris_train', params => '{"dropout": 0.5}')$$);
SELECT expect_error($$SELECT est_train('net_batch_norm', 'iris_train', params => '{"batch_norm": false}')$$);
SELECT expect_error($$SELECT est_train('opt_momentum', 'iris_train', params => '{"momentum": 0.5}')$$);
SELECT expect_error($$SELECT est_train('net_sum', 'iris_train', params => '{"loss_reduction": "mean"}')$$);
-- but repeating it is fine
SELECT global_step FROM est_train('net_dropout', 'iris_train', steps => 1, params => '{"dropout": 0.3}');

-- Evaluation during training: eval_fraction holds out a stratified, seeded
-- share of the rows, scored every eval_every_steps and logged.
SELECT global_step, rows_read
  FROM est_train('eval_frac', 'iris_train', steps => 300,
				 params => '{"seed": 14, "eval_fraction": 0.25, "eval_every_steps": 100}');
SELECT global_step, eval_metrics ? 'accuracy' AS has_accuracy,
	   eval_metrics ? 'auc' AS has_auc
  FROM estimator.training_log
 WHERE model = 'eval_frac' AND eval_metrics IS NOT NULL ORDER BY global_step;
-- eval_source scores another source
SELECT global_step FROM est_train('eval_src', 'iris_train', steps => 200,
	params => '{"seed": 15, "eval_source": "iris_test", "eval_every_steps": 100}');
SELECT global_step, round((eval_metrics ->> 'accuracy')::numeric, 2) >= 0.6 AS scored
  FROM estimator.training_log
 WHERE model = 'eval_src' AND eval_metrics IS NOT NULL ORDER BY global_step;

-- Early stopping stops when the metric stops improving and keeps the best
-- checkpoint: a wide network overfits labels that are noise, so the held
-- out loss soon rises.
CREATE TABLE opt_noisy AS
	SELECT g AS id, (g % 11) / 10.0 AS a, (g * 7 % 13) / 12.0 AS b,
		   ((g * 2654435761) % 97 < 48)::int AS label
	  FROM generate_series(1, 300) g;
SELECT global_step < 20000 AS stopped_early
  FROM est_train('es_noisy', 'SELECT a, b, label FROM opt_noisy',
				 hidden_units => '{64, 64}', optimizer => 'adam',
				 learning_rate => 0.01, steps => 20000,
				 params => '{"seed": 16, "eval_fraction": 0.3, "eval_every_steps": 50,
							 "early_stopping": {"metric": "loss", "patience": 3}}');
-- the kept step is the evaluation with the lowest loss
SELECT m.global_step = (SELECT global_step FROM estimator.training_log
						 WHERE model = 'es_noisy' AND eval_metrics IS NOT NULL
						 ORDER BY (eval_metrics ->> 'loss')::float8, global_step LIMIT 1)
	   AS kept_best,
	   m.global_step < (SELECT max(global_step) FROM estimator.training_log
						 WHERE model = 'es_noisy') AS stopped_after_best
  FROM estimator.models m WHERE m.name = 'es_noisy';
SELECT count(*) = 1 AS one_checkpoint FROM estimator.checkpoints WHERE model = 'es_noisy';

-- Bad options.
SELECT expect_error($$SELECT est_train('opt_bad', 'iris_train', params => '{"momentum": 1.5}')$$);
SELECT expect_error($$SELECT est_train('opt_bad', 'iris_train', params => '{"epsilon": 0}')$$);
-- positive values that float32, in which training computes, makes 0 or infinite
SELECT expect_error($$SELECT est_train('opt_bad', 'iris_train', params => '{"epsilon": 1e-320}')$$);
SELECT expect_error($$SELECT est_train('opt_bad', 'iris_train', params => '{"linear_learning_rate": 1e-50}')$$);
SELECT expect_error($$SELECT est_train('opt_bad', 'iris_train', learning_rate => 1e-320)$$);
SELECT expect_error($$SELECT est_train('opt_bad', 'iris_train', learning_rate => 1e39)$$);
-- nor below float32's smallest normal number: a denormal learning rate or
-- epsilon trained nothing or diverged
SELECT expect_error($$SELECT est_train('opt_bad', 'iris_train', learning_rate => 1e-40)$$);
SELECT expect_error($$SELECT est_train('opt_bad', 'iris_train', params => '{"epsilon": 1e-40}')$$);
SELECT expect_error($$SELECT est_train('opt_bad', 'iris_train', params => '{"l2_regularization": -1e-40}')$$);
SELECT expect_error($$SELECT est_train('opt_bad', 'iris_train', params => '{"l2_regularization": 1e-40}')$$);
SELECT expect_error($$SELECT est_train('opt_bad', 'iris_train', model_type => 'dnn_linear_combined_classifier', params => '{"linear_learning_rate": 1e-40}')$$);
SELECT expect_error($$SELECT est_train('opt_bad', 'iris_train', params => '{"learning_rate_schedule": {"type": "exponential_decay", "decay_steps": 10, "decay_rate": 1e-40}}')$$);
-- 0 and float32's smallest normal number are allowed where the range has them
SELECT global_step FROM est_train('opt_tiny', 'iris_train', steps => 1,
	learning_rate => 1.1754943508222875e-38,
	params => '{"seed": 1, "epsilon": 1.1754943508222875e-38, "l2_regularization": 0}');
SELECT est_drop_model('opt_tiny');
-- a model stored before the check, with such a value in its params, still
-- loads and trains
SELECT global_step FROM est_train('opt_tiny', 'iris_train', steps => 1,
	params => '{"seed": 1, "l2_regularization": 0}');
UPDATE estimator.model_catalog SET params = '{"seed": 1, "l2_regularization": 1e-40}'
 WHERE name = 'opt_tiny';
SELECT global_step FROM est_train('opt_tiny', 'iris_train', steps => 1);
SELECT count(*) AS listed FROM estimator.models WHERE name = 'opt_tiny';
SELECT est_drop_model('opt_tiny');
SELECT expect_error($$SELECT est_train('opt_bad', 'iris_train', params => '{"learning_rate_power": 0.5}')$$);
SELECT expect_error($$SELECT est_train('opt_bad', 'iris_train', params => '{"nesterov": 1}')$$);
SELECT expect_error($$SELECT est_train('opt_bad', 'iris_train', params => '{"dropout": 1}')$$);
SELECT expect_error($$SELECT est_train('opt_bad', 'iris_train', params => '{"loss_reduction": "median"}')$$);
SELECT expect_error($$SELECT est_train('opt_bad', 'iris_train', params => '{"learning_rate_schedule": {"type": "linear"}}')$$);
SELECT expect_error($$SELECT est_train('opt_bad', 'iris_train', params => '{"learning_rate_schedule": {"type": "cosine"}}')$$);
SELECT expect_error($$SELECT est_train('opt_bad', 'iris_train', params => '{"learning_rate_schedule": {"type": "step", "decay_steps": 10, "rate": 1}}')$$);
-- a key that the type of schedule does not read is refused, not ignored
SELECT expect_error($$SELECT est_train('opt_bad', 'iris_train', params => '{"learning_rate_schedule": {"type": "constant", "decay_rate": 0.5}}')$$);
SELECT expect_error($$SELECT est_train('opt_bad', 'iris_train', params => '{"learning_rate_schedule": {"type": "cosine", "decay_steps": 10, "decay_rate": 0.5}}')$$);
SELECT expect_error($$SELECT est_train('opt_bad', 'iris_train', params => '{"learning_rate_schedule": {"type": "step", "decay_steps": 10, "decay_rate": 0.5, "staircase": true}}')$$);
SELECT expect_error($$SELECT est_train('opt_bad', 'iris_train', params => '{"learning_rate_schedule": {"type": "exponential_decay", "decay_steps": 10, "decay_rate": 0.5, "alpha": 0.1}}')$$);
-- numbers beyond double precision name the parameter
SELECT expect_error($$SELECT est_train('opt_bad', 'iris_train', params => '{"clip_norm": 1e400}')$$);
SELECT expect_error($$SELECT est_train('opt_bad', 'iris_train', params => '{"learning_rate_schedule": {"type": "cosine", "decay_steps": 1e400}}')$$);
SELECT expect_error($$SELECT est_train('opt_bad', 'iris_train', params => '{"clip_norm": -1}')$$);
SELECT expect_error($$SELECT est_train('opt_bad', 'iris_train', params => '{"eval_fraction": 1}')$$);
SELECT expect_error($$SELECT est_train('opt_bad', 'iris_train', params => '{"eval_fraction": 0.2, "eval_source": "iris_test"}')$$);
SELECT expect_error($$SELECT est_train('opt_bad', 'iris_train', params => '{"early_stopping": {"metric": "loss"}}')$$);
SELECT expect_error($$SELECT est_train('opt_bad', 'iris_train', params => '{"eval_fraction": 0.2, "early_stopping": {"metric": "r2"}}')$$);
SELECT expect_error($$SELECT est_train('opt_bad', 'iris_train', params => '{"eval_fraction": 0.2, "early_stopping": {"metric": "loss", "patience": 0}}')$$);
SELECT expect_error($$SELECT est_train('opt_bad', 'iris_train', params => '{"eval_fraction": 0.2, "early_stopping": {"metric": "loss", "wait": 3}}')$$);
SELECT expect_error($$SELECT est_train('opt_bad', 'iris_train', params => '{"eval_source": "no_such_table"}')$$);
SELECT expect_error($$SELECT est_train('opt_bad', 'SELECT * FROM iris_train LIMIT 2', params => '{"eval_fraction": 0.1}')$$);
SELECT expect_error($$SELECT est_train('opt_bad', 'iris_train', optimizer => 'adam', params => '{"rho": 0.5}')$$);
SELECT expect_error($$SELECT est_train('opt_bad', 'iris_train', params => '{"nesterov": true}')$$);
SELECT expect_error($$SELECT est_train('opt_bad', 'iris_train', model_type => 'linear_classifier', params => '{"dropout": 0.2}')$$);
SELECT expect_error($$SELECT est_train('opt_bad', 'iris_train', model_type => 'linear_classifier', params => '{"activation_fn": "tanh"}')$$);
SELECT expect_error($$SELECT est_train('opt_bad', 'iris_train', params => '{"linear_learning_rate": 0.1}')$$);
SELECT expect_error($$SELECT est_train('opt_bad', 'iris_train', model_type => 'dnn_linear_combined_classifier', params => '{"linear_rho": 0.5}')$$);
SELECT expect_error($$SELECT est_train('opt_bad', 'iris_train', model_type => 'dnn_linear_combined_classifier', params => '{"linear_optimizer": "adam", "linear_l1_regularization_strength": 0.1}')$$);
SELECT count(*) FROM estimator.models WHERE name = 'opt_bad';

-- A wide & deep model keeps its column lists and, under a schedule,
-- continues exactly too.
SELECT global_step FROM est_train('opt_wd_a', 'iris_train', model_type => 'dnn_linear_combined_classifier', steps => 300,
	params => '{"seed": 17, "linear_feature_columns": ["petal_width"], "learning_rate_schedule": {"type": "exponential_decay", "decay_steps": 50, "decay_rate": 0.5}}');
SELECT global_step FROM est_train('opt_wd_a', 'iris_train', steps => 300);
SELECT global_step FROM est_train('opt_wd_b', 'iris_train', model_type => 'dnn_linear_combined_classifier', steps => 600,
	params => '{"seed": 17, "linear_feature_columns": ["petal_width"], "learning_rate_schedule": {"type": "exponential_decay", "decay_steps": 50, "decay_rate": 0.5}}');
SELECT a.data = b.data AS identical
  FROM estimator.checkpoints a, estimator.checkpoints b
 WHERE a.model = 'opt_wd_a' AND b.model = 'opt_wd_b' AND a.global_step = 600 AND b.global_step = 600;
SELECT expect_error($$SELECT est_train('opt_wd_a', 'iris_train', params => '{"linear_feature_columns": ["petal_length"]}')$$);
SELECT global_step FROM est_train('opt_wd_a', 'iris_train', steps => 1, params => '{"linear_feature_columns": ["petal_width"]}');

SELECT count(*) AS dropped FROM
	(SELECT est_drop_model(name) FROM estimator.models
	  WHERE name ~ '^(opt|optx|sched|net|eval|es)_') d;
DROP TABLE opt_noisy;
