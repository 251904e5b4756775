-- Training with parallel workers: every batch is shared between the
-- backend and its workers, and the update is the same in all of them.
SET client_min_messages = warning;

-- A larger source than Iris: 4,000 rows of 8 numbers, 3 classes from a
-- fixed rule, in a temporary table (the workers never read the source).
CREATE TEMP TABLE par_rows AS
SELECT i AS id, x[1] AS x1, x[2] AS x2, x[3] AS x3, x[4] AS x4,
	   x[5] AS x5, x[6] AS x6, x[7] AS x7, x[8] AS x8,
	   CASE WHEN x[1] + x[2] * x[3] > 0.3 THEN 0
			WHEN x[4] - x[5] > 0 THEN 1 ELSE 2 END AS label,
	   1 + (i % 3) AS w,
	   x[1] * 2 - x[6] + 0.5 * x[7] * x[8] AS target
  FROM (SELECT i, ARRAY(SELECT sin(i * 12.9898 + k * 78.233) FROM generate_series(1, 8) k) AS x
		  FROM generate_series(1, 4000) i) s;

-- The same training in one backend and with one worker: both learn, to
-- within a point of each other.
SELECT est_train('par_serial', 'SELECT x1, x2, x3, x4, x5, x6, x7, x8, label FROM par_rows',
				 hidden_units => '{32,32}', batch_size => 64, epochs => 4,
				 params => '{"seed": 7}') IS NOT NULL AS trained;
SELECT global_step, rows_read, accuracy > 0.85 AS learned
  FROM est_train('par_one', 'SELECT x1, x2, x3, x4, x5, x6, x7, x8, label FROM par_rows',
				 hidden_units => '{32,32}', batch_size => 64, epochs => 4,
				 params => '{"seed": 7, "parallel_workers": 1}');
SET client_min_messages = warning;
SELECT abs(s.value - p.value) < 0.01 AS same_accuracy
  FROM est_evaluate('par_serial', 'SELECT * FROM par_rows') s,
	   est_evaluate('par_one', 'SELECT * FROM par_rows') p
 WHERE s.metric = 'accuracy' AND p.metric = 'accuracy';

-- The losses it logs are those of whole batches, like the backend's.
SELECT count(*) AS logs, bool_and(abs(s.loss - p.loss) < 0.02) AS same_losses
  FROM estimator.training_log s JOIN estimator.training_log p USING (global_step)
 WHERE s.model = 'par_serial' AND p.model = 'par_one';

-- The workers' sums are added in a fixed order: the same call gives the
-- same weights, bit for bit.
SELECT est_train('par_two', 'SELECT x1, x2, x3, x4, x5, x6, x7, x8, label FROM par_rows',
				 hidden_units => '{32,32}', batch_size => 64, epochs => 4,
				 params => '{"seed": 7, "parallel_workers": 1}') IS NOT NULL AS trained;
SELECT bool_and(a."values" = b."values") AS identical
  FROM est_weights('par_one') a JOIN est_weights('par_two') b USING (layer, kind, name);

-- More workers than rows in a share, weights, regularisation, clipping, a
-- schedule and a regressor: every share adds up.
SELECT global_step, accuracy > 0.8 AS learned
  FROM est_train('par_three', 'par_rows', features => '{x1,x2,x3,x4,x5,x6,x7,x8}',
				 hidden_units => '{16}', batch_size => 2, steps => 300,
				 optimizer => 'adam', learning_rate => 0.01,
				 params => '{"seed": 3, "parallel_workers": 3, "weight_column": "w",
							 "l2_regularization": 0.0001, "clip_norm": 5,
							 "learning_rate_schedule": {"type": "cosine", "decay_steps": 300}}');
SELECT global_step, loss < 1 AS learned
  FROM est_train('par_reg', 'par_rows', model_type => 'dnn_regressor', label => 'target',
				 features => '{x1,x2,x6,x7,x8}', hidden_units => '{16,16}',
				 optimizer => 'adam', learning_rate => 0.01, steps => 600,
				 params => '{"seed": 5, "parallel_workers": 1}');
SELECT value > 0.8 AS r2_above_080
  FROM est_evaluate('par_reg', 'par_rows') WHERE metric = 'r2';
SELECT global_step, accuracy > 0.6 AS learned
  FROM est_train('par_lin', 'par_rows', model_type => 'linear_classifier',
				 features => '{x1,x2,x3,x4,x5}', steps => 300,
				 params => '{"seed": 5, "parallel_workers": 1}');

-- Evaluation during training and early stopping: the backend evaluates
-- between steps while the workers wait, and an early stop ends them.
SELECT est_train('par_es_one', 'SELECT x1, x2, x3, x4, x5, x6, x7, x8, label FROM par_rows',
				 hidden_units => '{32,32}', batch_size => 64, steps => 3000,
				 params => '{"seed": 7, "eval_fraction": 0.2, "eval_every_steps": 50,
							 "early_stopping": {"metric": "loss", "patience": 3}}') IS NOT NULL AS trained;
SELECT global_step < 3000 AS stopped_early, accuracy > 0.85 AS learned
  FROM est_train('par_es_two', 'SELECT x1, x2, x3, x4, x5, x6, x7, x8, label FROM par_rows',
				 hidden_units => '{32,32}', batch_size => 64, steps => 3000,
				 params => '{"seed": 7, "eval_fraction": 0.2, "eval_every_steps": 50,
							 "early_stopping": {"metric": "loss", "patience": 3},
							 "parallel_workers": 1}');
-- the same evaluations, to within the last bits of the weights
SELECT count(*) > 3 AS evaluations,
	   bool_and(abs((s.eval_metrics->>'loss')::float8 - (p.eval_metrics->>'loss')::float8) < 0.01) AS same_losses
  FROM estimator.training_log s JOIN estimator.training_log p USING (global_step)
 WHERE s.model = 'par_es_one' AND p.model = 'par_es_two' AND s.eval_metrics IS NOT NULL;
-- the checkpoint kept is the best evaluation's
SELECT global_step % 50 = 0 AND global_step < 3000 AS at_an_evaluation
  FROM estimator.models WHERE name = 'par_es_two';
SELECT count(*) AS workers_left FROM pg_stat_activity WHERE backend_type = 'parallel worker';

-- A parallel call continues where one backend stopped, and back.
SELECT global_step FROM est_train('par_serial', 'SELECT x1, x2, x3, x4, x5, x6, x7, x8, label FROM par_rows',
								  steps => 50, params => '{"parallel_workers": 1}');
SELECT global_step FROM est_train('par_serial', 'SELECT x1, x2, x3, x4, x5, x6, x7, x8, label FROM par_rows',
								  steps => 50);

-- A table (not a temporary one, which workers cannot read) is read by the
-- backend and its workers, each a range of blocks, put together in the
-- order of a sequential scan: the same rows in the same order.  Dropout
-- trains in one backend, so the weights show it bit for bit.
CREATE TABLE par_table AS
SELECT *, (ARRAY['north', 'south', 'east'])[1 + id % 3] AS city FROM par_rows;
SELECT pg_relation_size('par_table') >= 16 * current_setting('block_size')::int AS enough_blocks;
SELECT est_train('par_read_one', 'par_table', features => '{x1,x2,x3,x4,w}', steps => 200,
				 params => '{"seed": 2, "dropout": 0.1}') IS NOT NULL AS trained;
SELECT est_train('par_read_two', 'par_table', features => '{x1,x2,x3,x4,w}', steps => 200,
				 params => '{"seed": 2, "dropout": 0.1, "parallel_workers": 2}') IS NOT NULL AS trained;
SELECT bool_and(a."values" = b."values") AS identical
  FROM est_weights('par_read_one') a JOIN est_weights('par_read_two') b USING (layer, kind, name);
SELECT a.rows_read, a.fingerprint = b.fingerprint AS same_rows
  FROM est_checkpoints('par_read_one') a, est_checkpoints('par_read_two') b;
-- continuing (the checkpoint's transform, a learned vocabulary included),
-- a weighted regressor, and a class vocabulary
SELECT est_train('par_read_city', 'par_table', features => '{x1,x2,x3,city}', steps => 10,
				 params => '{"seed": 2}') IS NOT NULL AS trained;
SELECT global_step, rows_read FROM est_train('par_read_city', 'par_table', steps => 10,
											 params => '{"parallel_workers": 1}');
SELECT global_step, rows_read FROM est_train('par_read_reg', 'par_table', features => '{x1,x2,x3}',
											 model_type => 'dnn_regressor', label => 'target', steps => 10,
											 params => '{"weight_column": "w", "parallel_workers": 1}');
CREATE TABLE par_named AS
SELECT x1, x2, x3, x4, (ARRAY['a', 'b', 'c'])[label + 1] AS species FROM par_rows;
SELECT global_step, rows_read FROM est_train('par_read_voc', 'par_named', label => 'species', steps => 10,
											 params => '{"label_vocabulary": ["a", "b", "c"], "parallel_workers": 1}');
SELECT est_predict_label('par_read_voc', t) IS NOT NULL AS predicts FROM par_named t LIMIT 1;
-- est_train_procedure reads in parallel too, but keeps the rows in the
-- backend's memory: its commits would unmap a segment of shared memory
CALL est_train_procedure('par_read_proc', 'par_table', features => '{x1,x2,x3}', steps => 30,
						 params => '{"seed": 2, "parallel_workers": 1, "save_checkpoints_steps": 10}');
SELECT count(*) AS checkpoints, max(global_step) AS last, max(rows_read) AS rows_read
  FROM est_checkpoints('par_read_proc');
-- a bad row in a worker's range is the call's error
INSERT INTO par_table (x1, x2, x3, city, label) VALUES (0, 0, 0, 'north', NULL);
SELECT est_train('par_read_bad', 'par_table', features => '{x1,x2,x3}', steps => 10,
				 params => '{"parallel_workers": 1}');
DROP TABLE par_table, par_named;

-- A classifier's unweighted numeric rows stay where they were read: each
-- member trains on the rows it holds and gathers from each batch those it
-- has (a shard).  The rows and their fingerprint are those of one backend,
-- the transform is fitted from the members' statistics (NULLs left out),
-- the same call gives the same weights bit for bit, and it learns as one
-- backend does.
CREATE TABLE par_shard AS
SELECT x1, x2, x3, x4, x5, x6, x7, CASE WHEN id % 7 = 0 THEN NULL ELSE x8 END AS x8, label
  FROM par_rows;
SELECT est_train('par_sh_serial', 'par_shard', hidden_units => '{32,32}', batch_size => 64,
				 epochs => 4, params => '{"seed": 7}') IS NOT NULL AS trained;
SELECT global_step, rows_read, accuracy > 0.85 AS learned
  FROM est_train('par_sh_one', 'par_shard', hidden_units => '{32,32}', batch_size => 64,
				 epochs => 4, params => '{"seed": 7, "parallel_workers": 1}');
SELECT est_train('par_sh_two', 'par_shard', hidden_units => '{32,32}', batch_size => 64,
				 epochs => 4, params => '{"seed": 7, "parallel_workers": 1}') IS NOT NULL AS trained;
SELECT bool_and(a."values" = b."values") AS identical
  FROM est_weights('par_sh_one') a JOIN est_weights('par_sh_two') b USING (layer, kind, name);
SELECT a.rows_read, a.fingerprint = b.fingerprint AS same_rows
  FROM est_checkpoints('par_sh_serial') a, est_checkpoints('par_sh_one') b;
SELECT count(*) AS columns,
	   bool_and(abs(a.mean - b.mean) < 1e-12 AND abs(a.stddev - b.stddev) < 1e-12) AS same_fit
  FROM est_feature_info('par_sh_serial') a JOIN est_feature_info('par_sh_one') b USING (name);
SELECT round(mean::numeric, 6) = round(avg(x8)::numeric, 6) AS mean_without_nulls,
	   round(stddev::numeric, 6) = round(stddev_pop(x8)::numeric, 6) AS stddev_without_nulls
  FROM est_feature_info('par_sh_one'), par_shard WHERE name = 'x8' GROUP BY mean, stddev;
SELECT abs(s.value - p.value) < 0.01 AS same_accuracy
  FROM est_evaluate('par_sh_serial', 'par_shard') s, est_evaluate('par_sh_one', 'par_shard') p
 WHERE s.metric = 'accuracy' AND p.metric = 'accuracy';
SELECT count(*) AS logs, bool_and(abs(s.loss - p.loss) < 0.02) AS same_losses
  FROM estimator.training_log s JOIN estimator.training_log p USING (global_step)
 WHERE s.model = 'par_sh_serial' AND p.model = 'par_sh_one';
-- continuing with the model's transform, and training anew after a reset
SELECT global_step, rows_read FROM est_train('par_sh_one', 'par_shard', steps => 50,
											 params => '{"parallel_workers": 1}');
SELECT global_step, rows_read FROM est_train('par_sh_two', 'par_shard', reset => true, steps => 30,
											 params => '{"seed": 7, "parallel_workers": 2}');
SELECT global_step, (SELECT count(*) FROM est_checkpoints('par_sh_two')) AS checkpoints
  FROM estimator.models WHERE name = 'par_sh_two';
-- batches of two among four members: most hold none of a batch's rows
SELECT global_step, accuracy > 0.6 AS learned
  FROM est_train('par_sh_tiny', 'par_shard', hidden_units => '{16}', batch_size => 2,
				 steps => 600, optimizer => 'adam', learning_rate => 0.01,
				 params => '{"seed": 3, "parallel_workers": 3}');
-- a label that n_classes does not allow, in any member's rows
SELECT est_train('par_sh_bad', 'par_shard', steps => 10,
				 params => '{"n_classes": 2, "parallel_workers": 1}');
SELECT est_train('par_sh_bad', 'par_shard', steps => 10, params => '{"n_classes": 2}');
-- a cancel stops the members that hold the rows, and nothing is left
\set VERBOSITY terse
SET statement_timeout = '300ms';
SELECT est_train('par_sh_cancel', 'par_shard', hidden_units => '{256,256}', batch_size => 512,
				 steps => 1000000, params => '{"seed": 1, "parallel_workers": 1}');
RESET statement_timeout;
\set VERBOSITY default
SELECT count(*) AS left_behind FROM estimator.models WHERE name IN ('par_sh_bad', 'par_sh_cancel');
-- Weights and a regressor's labels stay with their rows too: the members
-- put their weights in one array, for the weight sums of batches that
-- loss_reduction "mean" divides by, and a new regressor's label statistics
-- are merged like the fit's.  A few steps in one backend and with workers
-- give the same figures and predictions, to within the last bits.
CREATE TABLE par_shard_w AS SELECT * FROM par_rows;
SELECT abs(a.loss - b.loss) < 1e-5 AS same_loss, abs(a.accuracy - b.accuracy) < 1e-3 AS same_accuracy
  FROM est_train('par_shw_serial', 'par_shard_w', features => '{x1,x2,x3,x4}', steps => 20,
				 params => '{"seed": 3, "weight_column": "w", "loss_reduction": "mean"}') a,
	   est_train('par_shw_two', 'par_shard_w', features => '{x1,x2,x3,x4}', steps => 20,
				 params => '{"seed": 3, "weight_column": "w", "loss_reduction": "mean",
							 "parallel_workers": 2}') b;
SELECT a.fingerprint = b.fingerprint AS same_rows
  FROM est_checkpoints('par_shw_serial') a, est_checkpoints('par_shw_two') b;
SELECT max(abs(est_predict('par_shw_serial', t) - est_predict('par_shw_two', t))) < 1e-4
	   AS same_predictions
  FROM par_shard_w t;
SELECT abs(a.loss - b.loss) < 1e-5 * a.loss AS same_loss, a.rows_read, b.rows_read
  FROM est_train('par_shr_serial', 'par_shard_w', model_type => 'dnn_regressor', label => 'target',
				 features => '{x1,x2,x3,x4}', steps => 20,
				 params => '{"seed": 3, "weight_column": "w"}') a,
	   est_train('par_shr_two', 'par_shard_w', model_type => 'dnn_regressor', label => 'target',
				 features => '{x1,x2,x3,x4}', steps => 20,
				 params => '{"seed": 3, "weight_column": "w", "parallel_workers": 2}') b;
SELECT max(abs(est_predict('par_shr_serial', t) - est_predict('par_shr_two', t))) < 1e-4
	   AS same_predictions
  FROM par_shard_w t;
-- and a regressor learns as well as par_reg, the same training with the
-- rows in one place
SELECT est_train('par_shr_fit', 'par_shard_w', model_type => 'dnn_regressor', label => 'target',
				 features => '{x1,x2,x6,x7,x8}', hidden_units => '{16,16}', optimizer => 'adam',
				 learning_rate => 0.01, steps => 600,
				 params => '{"seed": 5, "parallel_workers": 1}') IS NOT NULL AS trained;
SELECT b.value > 0.8 AS r2_above_080, abs(a.value - b.value) < 0.02 AS same_r2
  FROM est_evaluate('par_reg', 'par_rows') a, est_evaluate('par_shr_fit', 'par_shard_w') b
 WHERE a.metric = 'r2' AND b.metric = 'r2';
DROP TABLE par_shard_w;
-- Categorical columns with a given vocabulary or buckets: each member
-- turns its NULLs into the column's NULL id, and their counts add up.
CREATE TABLE par_shard_c AS
SELECT id, x1, x2, label,
	   CASE WHEN id % 5 = 0 THEN NULL ELSE (ARRAY['north', 'south', 'east'])[1 + id % 3] END AS city,
	   CASE WHEN id % 7 = 0 THEN NULL ELSE id % 4 END AS zone
  FROM par_rows;
SELECT abs(a.loss - b.loss) < 1e-5 AS same_loss
  FROM est_train('par_shc_serial', 'par_shard_c', steps => 20,
				 params => '{"seed": 3, "feature_columns": [
					 {"type": "numeric", "key": "x1"}, {"type": "numeric", "key": "x2"},
					 {"type": "vocabulary", "key": "city", "vocabulary": ["north", "south"]},
					 {"type": "identity", "key": "zone", "num_buckets": 4, "default_value": 0,
					  "embedding_dimension": 2}]}') a,
	   est_train('par_shc_two', 'par_shard_c', steps => 20,
				 params => '{"seed": 3, "parallel_workers": 2, "feature_columns": [
					 {"type": "numeric", "key": "x1"}, {"type": "numeric", "key": "x2"},
					 {"type": "vocabulary", "key": "city", "vocabulary": ["north", "south"]},
					 {"type": "identity", "key": "zone", "num_buckets": 4, "default_value": 0,
					  "embedding_dimension": 2}]}') b;
SELECT a.name, a.null_count, a.null_count = b.null_count AS same_nulls
  FROM est_feature_info('par_shc_serial') a JOIN est_feature_info('par_shc_two') b USING (name)
 ORDER BY a.ordinal;
SELECT a.fingerprint = b.fingerprint AS same_rows
  FROM est_checkpoints('par_shc_serial') a, est_checkpoints('par_shc_two') b;
SELECT max(abs(est_predict('par_shc_serial', t) - est_predict('par_shc_two', t))) < 1e-4
	   AS same_predictions
  FROM par_shard_c t;
-- a transform of categorical columns only is fitted as soon as it is made
SELECT abs(a.loss - b.loss) < 1e-5 AS same_loss
  FROM est_train('par_shc_cat_serial', 'par_shard_c', steps => 20,
				 params => '{"seed": 3, "feature_columns": [
					 {"type": "bucketized", "key": "x1", "boundaries": [-0.5, 0, 0.5]},
					 {"type": "identity", "key": "zone", "num_buckets": 4, "default_value": 0}]}') a,
	   est_train('par_shc_cat_two', 'par_shard_c', steps => 20,
				 params => '{"seed": 3, "parallel_workers": 1, "feature_columns": [
					 {"type": "bucketized", "key": "x1", "boundaries": [-0.5, 0, 0.5]},
					 {"type": "identity", "key": "zone", "num_buckets": 4, "default_value": 0}]}') b;
-- continuing such a model, and one whose vocabulary was learned
SELECT global_step, rows_read FROM est_train('par_shc_two', 'par_shard_c', steps => 10,
											 params => '{"parallel_workers": 1}');
SELECT est_train('par_shc_learned', 'par_shard_c', features => '{x1,x2,city}', steps => 10,
				 params => '{"seed": 3}') IS NOT NULL AS trained;
SELECT global_step, rows_read FROM est_train('par_shc_learned', 'par_shard_c', steps => 10,
											 params => '{"parallel_workers": 1}');
DROP TABLE par_shard_c;
-- est_train's loss and accuracy on a sample of a large source, each member
-- scoring the sample's rows it holds: those of one backend, to within the
-- last bits of the weights
CREATE TABLE par_sample AS
SELECT sin(i * 0.7) AS x1, cos(i * 1.3) AS x2, (i % 3) AS label
  FROM generate_series(1, 120000) i;
SELECT abs(a.loss - b.loss) < 1e-4 AS same_loss, abs(a.accuracy - b.accuracy) < 1e-3 AS same_accuracy,
	   a.rows_read, b.rows_read
  FROM est_train('par_sample_one', 'par_sample', steps => 5, params => '{"seed": 4}') a,
	   est_train('par_sample_two', 'par_sample', steps => 5,
				 params => '{"seed": 4, "parallel_workers": 1}') b;
SELECT count(*) AS workers_left FROM pg_stat_activity WHERE backend_type = 'parallel worker';
DROP TABLE par_shard, par_sample;

-- Row-level security may call what parallel mode forbids (nextval): such a
-- table is read by the backend alone, and trains with workers all the same.
CREATE TABLE par_rls AS SELECT * FROM par_rows;
CREATE SEQUENCE par_rls_seq;
CREATE ROLE par_rls_user;
GRANT SELECT ON par_rls TO par_rls_user;
GRANT USAGE ON SEQUENCE par_rls_seq TO par_rls_user;
ALTER TABLE par_rls ENABLE ROW LEVEL SECURITY;
CREATE POLICY par_rls_odd ON par_rls FOR SELECT USING (nextval('par_rls_seq') > 0 AND id % 2 = 1);
SET ROLE par_rls_user;
SELECT global_step, rows_read FROM est_train('par_rls_model', 'par_rls', features => '{x1,x2,x3}',
											 steps => 10, params => '{"parallel_workers": 1}');
SELECT est_drop_model('par_rls_model');
RESET ROLE;
DROP TABLE par_rls;
DROP SEQUENCE par_rls_seq;
DROP ROLE par_rls_user;

-- A table with inheritance children: its query reads their rows too, in
-- one backend and with workers, and so does scoring it.
CREATE TABLE par_parent AS SELECT x1, x2, x3, label FROM par_rows WHERE id <= 2500;
CREATE TABLE par_child () INHERITS (par_parent);
INSERT INTO par_child SELECT x1, x2, x3, label FROM par_rows WHERE id > 2500;
SELECT rows_read FROM est_train('par_inh_one', 'par_parent', steps => 10);
SELECT rows_read FROM est_train('par_inh_two', 'par_parent', steps => 10,
								params => '{"parallel_workers": 1}');
SELECT count(*) FROM est_predict_table('par_inh_one', 'par_parent');
DROP TABLE par_parent CASCADE;

-- Rows that take more room as training data than in the table (a NULL
-- becomes four bytes): the table's blocks fit in half of
-- estimator.max_memory, its rows do not, and a parallel call streams the
-- source in one backend as a call without workers does, the same model
-- bit for bit.
DO $$
BEGIN
	EXECUTE format('CREATE TABLE par_wide AS SELECT i %% 3 AS label, %s FROM generate_series(1, 6000) i',
				   (SELECT string_agg(format('CASE WHEN i %% 50 = %s THEN i %% 7 END::float8 AS c%s',
											 k % 50, k), ', ')
					  FROM generate_series(1, 100) k));
END
$$;
SELECT pg_relation_size('par_wide') BETWEEN 12 * 8192 AND 1024 * 1024 AS blocks_fit;
SET estimator.max_memory = '2MB';
SELECT global_step, rows_read FROM est_train('par_wide_one', 'par_wide', hidden_units => '{4}',
											 steps => 20, params => '{"seed": 1}');
SELECT global_step, rows_read FROM est_train('par_wide_two', 'par_wide', hidden_units => '{4}',
											 steps => 20, params => '{"seed": 1, "parallel_workers": 2}');
SELECT bool_and(a."values" = b."values") AS identical
  FROM est_weights('par_wide_one') a JOIN est_weights('par_wide_two') b USING (layer, kind, name);
-- continuing, and with dropout (whose rows would go to shared memory)
SELECT global_step, rows_read FROM est_train('par_wide_two', 'par_wide', steps => 10,
											 params => '{"parallel_workers": 2}');
SELECT global_step, rows_read FROM est_train('par_wide_drop', 'par_wide', hidden_units => '{4}', steps => 10,
											 params => '{"seed": 1, "dropout": 0.1, "parallel_workers": 2}');
RESET estimator.max_memory;
DROP TABLE par_wide;

-- estimator.parallel_workers is the default; params overrides it.  What
-- only one backend does trains in one backend.  (The NOTICEs that say
-- which are checked in test/t/008_parallel.pl.)
SET estimator.parallel_workers = 1;
SELECT global_step FROM est_train('par_guc', 'iris_train', steps => 20,
								  params => '{"seed": 1}');
SELECT global_step FROM est_train('par_guc', 'iris_train', steps => 20,
								  params => '{"parallel_workers": 0}');
RESET estimator.parallel_workers;
SELECT m.name, t.global_step
  FROM (VALUES ('par_drop', '{"dropout": 0.1}'::jsonb), ('par_bn', '{"batch_norm": true}'),
			   ('par_eval', '{"eval_fraction": 0.2}'), ('par_save', '{"save_checkpoints_steps": 10}')) m(name, p),
	   LATERAL est_train(m.name, 'iris_train', steps => 20,
						 params => m.p || '{"seed": 1, "parallel_workers": 1}') t
 ORDER BY 1;
CALL est_train_procedure('par_proc', 'iris_train', steps => 20,
						 params => '{"seed": 1, "parallel_workers": 1}');
SET max_parallel_workers = 0;
SELECT global_step FROM est_train('par_none', 'iris_train', steps => 20,
								  params => '{"seed": 1, "parallel_workers": 2}');
RESET max_parallel_workers;

-- Bad values.
SELECT est_train('par_bad', 'iris_train', params => '{"parallel_workers": -1}');
SELECT est_train('par_bad', 'iris_train', params => '{"parallel_workers": 65}');
SELECT est_train('par_bad', 'iris_train', params => '{"parallel_workers": "two"}');
SET estimator.parallel_workers = 65;

-- A divergence and a cancel stop the workers with the backend; the model
-- stays as it was and the next call works.
SELECT est_train('par_div', 'par_rows', features => '{x1,x2,x3}', optimizer => 'sgd',
				 learning_rate => 1e30, steps => 100,
				 params => '{"seed": 1, "parallel_workers": 1}');
\set VERBOSITY terse
SET statement_timeout = '300ms';
SELECT est_train('par_cancel', 'par_rows', features => '{x1,x2,x3,x4,x5,x6,x7,x8}',
				 hidden_units => '{256,256}', batch_size => 512, steps => 1000000,
				 params => '{"seed": 1, "parallel_workers": 1}');
RESET statement_timeout;
\set VERBOSITY default
SELECT count(*) AS left_behind FROM estimator.models WHERE name IN ('par_div', 'par_cancel');
SELECT global_step FROM est_train('par_cancel', 'par_rows', features => '{x1,x2,x3}',
								  steps => 10, params => '{"seed": 1, "parallel_workers": 1}');

SELECT count(est_drop_model(name)) FROM estimator.models WHERE name LIKE 'par\_%';
