-- A source larger than estimator.max_memory: training keeps a uniform
-- sample to fit the transform on, then streams the source once an epoch
-- through a shuffle buffer.
SET client_min_messages = warning;

CREATE TABLE st_rows AS
SELECT i AS id, x[1] AS x1, x[2] AS x2, x[3] AS x3, x[4] AS x4,
	   x[5] AS x5, x[6] AS x6, x[7] AS x7, x[8] AS x8,
	   CASE WHEN x[1] + x[2] * x[3] > 0.3 THEN 0
			WHEN x[4] - x[5] > 0 THEN 1 ELSE 2 END AS label,
	   (ARRAY['low', 'mid', 'high'])[1 + (i * 7) % 3] AS band,
	   CASE WHEN x[1] + x[2] * x[3] > 0.3 THEN 'zero'
			WHEN x[4] - x[5] > 0 THEN 'one' ELSE 'two' END AS kind,
	   1 + (i % 2) AS w,
	   x[1] * 2 - x[6] AS target
  FROM (SELECT i, ARRAY(SELECT sin(i * 12.9898 + k * 78.233) FROM generate_series(1, 8) k) AS x
		  FROM generate_series(1, 120000) i) s;

-- 120,000 rows of 8 inputs and a label are about 6 MB as training data.
SET estimator.max_memory = '4MB';
SELECT global_step, rows_read, accuracy > 0.97 AS learned
  FROM est_train('st_a', 'st_rows', features => '{x1,x2,x3,x4,x5,x6,x7,x8}',
				 hidden_units => '{32,32}', epochs => 2, params => '{"seed": 1}');
RESET estimator.max_memory;
SELECT global_step, rows_read, accuracy > 0.97 AS learned
  FROM est_train('st_b', 'st_rows', features => '{x1,x2,x3,x4,x5,x6,x7,x8}',
				 hidden_units => '{32,32}', epochs => 2, params => '{"seed": 1}');
-- est_train measured st_b's accuracy on 10,000 of its 120,000 rows,
-- evenly spaced: within a point of all of them
SELECT abs(t.accuracy - e.value) < 0.01 AS sample_close
  FROM est_train('st_b', 'st_rows', steps => 1) t, est_evaluate('st_b', 'st_rows') e
 WHERE e.metric = 'accuracy';
-- the same rows, as the fingerprints say; about as good a model
SELECT a.rows_read, a.fingerprint = b.fingerprint AS same_rows
  FROM est_checkpoints('st_a') a, est_checkpoints('st_b') b;
SELECT abs(a.value - b.value) < 0.01 AS same_accuracy
  FROM est_evaluate('st_a', 'st_rows') a, est_evaluate('st_b', 'st_rows') b
 WHERE a.metric = 'accuracy' AND b.metric = 'accuracy';

-- Streaming is deterministic; it continues where it stopped.
SET estimator.max_memory = '4MB';
SELECT global_step FROM est_train('st_c', 'st_rows', features => '{x1,x2,x3,x4,x5,x6,x7,x8}',
								  hidden_units => '{32,32}', epochs => 2, params => '{"seed": 1}');
SELECT bool_and(a."values" = c."values") AS identical
  FROM est_weights('st_a') a JOIN est_weights('st_c') c USING (layer, kind, name);
SELECT global_step, rows_read FROM est_train('st_a', 'st_rows', steps => 100);
-- A later call continues the training but not the pass: it scans the
-- source anew into an empty shuffle buffer, so that two calls of 100
-- steps are not one of 200, as they are for rows held in memory.
SELECT global_step FROM est_train('st_d', 'st_rows', features => '{x1,x2,x3,x4,x5,x6,x7,x8}',
								  hidden_units => '{32,32}', steps => 100, params => '{"seed": 1}');
SELECT global_step FROM est_train('st_d', 'st_rows', steps => 100);
SELECT global_step FROM est_train('st_e', 'st_rows', features => '{x1,x2,x3,x4,x5,x6,x7,x8}',
								  hidden_units => '{32,32}', steps => 200, params => '{"seed": 1}');
SELECT bool_and(a."values" = e."values") AS identical
  FROM est_weights('st_d') a JOIN est_weights('st_e') e USING (layer, kind, name);

-- A weighted regressor; text labels, whose classes are learned from every
-- row, and a text feature, whose vocabulary is the sample's.
SELECT global_step, loss < 0.1 AS learned
  FROM est_train('st_reg', 'st_rows', model_type => 'dnn_regressor', label => 'target',
				 features => '{x1,x2,x6}', hidden_units => '{16}', epochs => 1,
				 params => '{"seed": 2, "weight_column": "w"}');
SELECT global_step, accuracy > 0.9 AS learned
  FROM est_train('st_text', 'st_rows', label => 'kind', features => '{x1,x2,x3,x4,x5,band}',
				 hidden_units => '{32,32}', epochs => 2, params => '{"seed": 3}');
SELECT label_vocabulary FROM estimator.models WHERE name = 'st_text';
SELECT est_predict_label('st_text', t) = t.kind AS right, count(*) > 0 AS some
  FROM (SELECT * FROM st_rows ORDER BY id LIMIT 200) t GROUP BY 1 ORDER BY 1;

-- Evaluation rows from another source, and early stopping, still work.
CREATE TABLE st_eval AS SELECT * FROM st_rows WHERE id % 50 = 0;
SELECT global_step > 0 AS trained
  FROM est_train('st_eval_model', 'st_rows', features => '{x1,x2,x3,x4,x5}', epochs => 1,
				 params => '{"seed": 4, "eval_source": "st_eval", "eval_every_steps": 500,
							 "early_stopping": {"metric": "loss", "patience": 3}}');
SELECT count(*) > 0 AS evaluated FROM estimator.training_log
 WHERE model = 'st_eval_model' AND eval_metrics IS NOT NULL;

-- A model that takes more than the half of estimator.max_memory that the
-- sample leaves: the shuffle buffer takes what is left (about 15,500 rows
-- here, against the sample's 21,845), and the memory stays within the
-- setting; a model that leaves less than a batch is refused.
SELECT global_step, rows_read, accuracy > 0.9 AS learned
  FROM est_train('st_wide', 'st_rows', features => '{x1,x2,x3,x4,x5,x6,x7,x8}',
				 hidden_units => '{128,128}', epochs => 1, params => '{"seed": 5}');
SELECT est_train('st_wider', 'st_rows', features => '{x1,x2,x3,x4,x5,x6,x7,x8}',
				 hidden_units => '{160,160}', steps => 10);

-- What needs the rows in memory says so.
SELECT est_train('st_bad', 'st_rows', features => '{x1,x2,x3,x4,x5,x6,x7,x8}', steps => 10,
				 params => '{"eval_fraction": 0.1}');
CALL est_train_procedure('st_bad', 'st_rows', features => '{x1,x2,x3,x4,x5,x6,x7,x8}', steps => 10);
SELECT count(*) AS left_behind FROM estimator.models WHERE name = 'st_bad';
-- parallel workers give way to one backend (a NOTICE says so)
SELECT global_step FROM est_train('st_par', 'st_rows', features => '{x1,x2,x3,x4,x5,x6,x7,x8}', steps => 10,
								  params => '{"parallel_workers": 1}');

-- A cancel in the middle of a streamed epoch; the next call works.
\set VERBOSITY terse
SET statement_timeout = '200ms';
SELECT est_train('st_cancel', 'st_rows', features => '{x1,x2,x3,x4,x5,x6,x7,x8}', epochs => 1000);
RESET statement_timeout;
\set VERBOSITY default
SELECT global_step FROM est_train('st_cancel', 'st_rows', features => '{x1,x2,x3,x4,x5,x6,x7,x8}', steps => 10);
RESET estimator.max_memory;

SELECT count(est_drop_model(name)) FROM estimator.models WHERE name LIKE 'st\_%';
DROP TABLE st_rows, st_eval;
