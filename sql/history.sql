-- Checkpoint history and deployment: save_checkpoints_steps with lineage,
-- est_checkpoints, est_deploy and est_rollback, promote_if, warm start,
-- reset, and est_train_procedure in a transaction block.
SET client_min_messages = warning;

-- A checkpoint every 100 steps, the newest 3 kept, with the rows' lineage.
SELECT model, global_step, serving_step
  FROM est_train('history_iris', 'iris_train', steps => 500,
                 params => '{"seed": 5, "save_checkpoints_steps": 100,
                             "keep_checkpoint_max": 3, "eval_fraction": 0.2,
                             "eval_every_steps": 100}');
SELECT global_step, round(loss::numeric, 2) > 0 AS has_loss,
       metrics ? 'accuracy' AS has_metrics, bytes > 0 AS has_bytes, source,
       rows_read, length(fingerprint) AS fp_len, serving
  FROM est_checkpoints('history_iris');
SELECT count(DISTINCT fingerprint) AS fingerprints
  FROM est_checkpoints('history_iris');

-- The fingerprint does not depend on the order of the rows, but on their
-- values.
SELECT global_step FROM est_train('history_fp1', 'iris_train', steps => 1,
                                  params => '{"seed": 1}');
SELECT global_step FROM est_train('history_fp2',
    'SELECT * FROM iris_train ORDER BY petal_length DESC, sepal_length',
    steps => 1, params => '{"seed": 1}');
SELECT global_step FROM est_train('history_fp3',
    'SELECT sepal_length + (ctid = ''(0,1)'')::int * 0.5 AS sepal_length, sepal_width, petal_length, petal_width, label FROM iris_train',
    steps => 1, params => '{"seed": 1}');
SELECT (SELECT fingerprint FROM est_checkpoints('history_fp1')) =
       (SELECT fingerprint FROM est_checkpoints('history_fp2')) AS same_rows_same_fingerprint,
       (SELECT fingerprint FROM est_checkpoints('history_fp1')) <>
       (SELECT fingerprint FROM est_checkpoints('history_fp3')) AS changed_row_other_fingerprint;

-- Deploying an older step: predictions switch to it exactly.
CREATE TABLE history_expected AS
  SELECT 500 AS step, t.id, est_predict_proba('history_iris', t) AS proba
    FROM iris_test t;
SELECT * FROM est_deploy('history_iris', 300);
SELECT global_step, serving FROM est_checkpoints('history_iris');
-- step 300 now serves: compare with a model trained to exactly 300 steps
SELECT global_step FROM est_train('history_300', 'iris_train', steps => 300,
                                  params => '{"seed": 5, "eval_fraction": 0.2,
                                              "eval_every_steps": 100}');
SELECT count(*) FILTER (WHERE est_predict_proba('history_iris', t) =
                              est_predict_proba('history_300', t)) AS same_as_step_300,
       count(*) FILTER (WHERE est_predict_proba('history_iris', t) = e.proba) AS same_as_step_500
  FROM iris_test t JOIN history_expected e USING (id);
SELECT (SELECT value FROM est_evaluate('history_iris', 'iris_test') WHERE metric = 'global_step') AS evaluated_step;
SELECT count(*) AS features FROM est_feature_info('history_iris');

-- Training continues from the newest checkpoint; the pin stays, and the
-- pinned checkpoint outlives keep_checkpoint_max.
SELECT global_step, serving_step FROM est_train('history_iris', 'iris_train', steps => 300);
SELECT global_step, serving FROM est_checkpoints('history_iris');

-- Rolling back undoes the newest change not yet undone: here the deploy
-- of step 400, then that of step 300; then nothing is left to undo.
SELECT * FROM est_deploy('history_iris', 400);
SELECT * FROM est_rollback('history_iris');
SELECT * FROM est_rollback('history_iris');
SELECT count(*) FILTER (WHERE est_predict_proba('history_iris', t) = e.proba) AS same_as_step_500
  FROM iris_test t JOIN history_expected e USING (id);
SELECT expect_error($$SELECT est_rollback('history_iris')$$);
-- NULL: the newest serves again, after every training
SELECT * FROM est_deploy('history_iris');
SELECT global_step, previous_step, action, by_role, detail
  FROM estimator.deployments WHERE model = 'history_iris'
 ORDER BY deployed_at;
SELECT expect_error($$SELECT est_deploy('history_iris', 12345)$$);
SELECT expect_error($$SELECT est_deploy('history_none', 1)$$);
SELECT expect_error($$SELECT est_rollback('history_300')$$);
SELECT expect_error($$SELECT est_checkpoints('history_none')$$);

-- promote_if: training on wrong labels does not replace a good checkpoint.
CREATE TABLE history_wrong AS
  SELECT sepal_length, sepal_width, petal_length, petal_width,
         (label + 1) % 3 AS label
    FROM iris_train;
SELECT global_step, serving_step
  FROM est_train('history_iris', 'history_wrong', steps => 300,
                 params => '{"promote_if": {"metric": "accuracy", "source": "iris_test"}}');
SELECT global_step, serving FROM est_checkpoints('history_iris') WHERE serving;
SELECT action, global_step, previous_step, detail->>'decision' AS decision,
       (detail->>'candidate')::float < (detail->>'serving')::float AS worse
  FROM estimator.deployments WHERE model = 'history_iris'
 ORDER BY deployed_at DESC LIMIT 1;
SELECT global_step, eval_metrics->'promote_if'->>'decision' AS decision
  FROM estimator.training_log
 WHERE model = 'history_iris' AND eval_metrics ? 'promote_if';
-- training goes on from the newest (rejected) checkpoint; on the right
-- labels it recovers and is promoted, within a tolerance of 0.01
SELECT global_step, serving_step
  FROM est_train('history_iris', 'iris_train', steps => 2000,
                 params => '{"promote_if": {"metric": "loss", "source": "holdout", "min_delta": -0.01}, "eval_fraction": 0.2}');
SELECT action, global_step, previous_step, detail->>'decision' AS decision
  FROM estimator.deployments WHERE model = 'history_iris'
 ORDER BY deployed_at DESC LIMIT 1;
SELECT expect_error($$SELECT est_train('history_fp1', 'iris_train', steps => 1, params => '{"promote_if": {"metric": "accuracy"}}')$$);
SELECT expect_error($$SELECT est_train('history_iris', 'iris_train', steps => 1, params => '{"promote_if": {"metric": "r2", "source": "iris_test"}}')$$);
SELECT expect_error($$SELECT est_train('history_iris', 'iris_train', steps => 1, params => '{"promote_if": {"source": "iris_test"}}')$$);
SELECT expect_error($$SELECT est_train('history_iris', 'iris_train', steps => 1, params => '{"promote_if": {"metric": "loss", "when": 1}}')$$);
SELECT expect_error($$SELECT est_train('history_iris', 'iris_train', steps => 1, params => '{"save_checkpoints_steps": 0}')$$);

-- Warm start: every layer fits, and the same rows and split give the same
-- normalisation, so a step at a negligible learning rate predicts what the
-- source model's serving checkpoint predicts.
SELECT global_step FROM est_train('history_warm', 'iris_train',
                                  warm_start_from => 'history_300', steps => 1,
                                  learning_rate => 1e-12,
                                  params => '{"seed": 9, "eval_fraction": 0.2}');
SELECT count(*) FILTER (WHERE (SELECT bool_and(round(a::numeric, 5) = round(b::numeric, 5))
                                 FROM unnest(est_predict_proba('history_300', t),
                                             est_predict_proba('history_warm', t)) AS u(a, b))) AS same
  FROM iris_test t;
-- other hidden units: the output layer does not fit, nothing is copied
SELECT global_step FROM est_train('history_warm2', 'iris_train', hidden_units => '{8}',
                                  warm_start_from => 'history_300', steps => 1);
SELECT expect_error($$SELECT est_train('history_warm', 'iris_train', warm_start_from => 'history_300')$$);
SELECT expect_error($$SELECT est_train('history_warm3', 'iris_train', warm_start_from => 'history_none')$$);
SELECT expect_error($$SELECT est_train('history_warm3', 'iris_train', warm_start_from => 'history_warm3')$$);

-- Reset: the history goes, the definition stays, global_step restarts.
SELECT global_step, serving_step FROM est_train('history_iris', 'iris_train', steps => 50,
                                  reset => true, params => '{"seed": 5}');
SELECT global_step, serving FROM est_checkpoints('history_iris');
SELECT count(*) AS deployments FROM estimator.deployments WHERE model = 'history_iris';
SELECT count(*) AS log_rows FROM estimator.training_log WHERE model = 'history_iris' AND global_step > 50;
SELECT hidden_units, optimizer FROM estimator.models WHERE name = 'history_iris';
SELECT expect_error($$SELECT est_train('history_iris', 'iris_train', reset => true, hidden_units => '{3}')$$);

-- est_train_procedure in a transaction block cannot commit: it is est_train.
BEGIN;
CALL est_train_procedure('history_proc', 'iris_train', steps => 1500,
                         params => '{"seed": 2}');
SELECT global_step, serving FROM est_checkpoints('history_proc');
ROLLBACK;
SELECT count(*) AS models FROM estimator.models WHERE name = 'history_proc';
-- called outside, it stores a checkpoint every 1000 steps by default
CALL est_train_procedure('history_proc', 'iris_train', steps => 1500,
                         params => '{"seed": 2}');
SELECT global_step, serving FROM est_checkpoints('history_proc');
CALL est_train_procedure('history_proc', 'iris_train', steps => 10, nowait => true);
SELECT global_step FROM estimator.models WHERE name = 'history_proc';

-- The 0.1.0 shape of est_train's arguments still works.
SELECT model, global_step FROM est_train('history_proc', 'iris_train', NULL, NULL, NULL, NULL, 10::bigint);

SELECT est_drop_model(name) FROM estimator.models
 WHERE name LIKE 'history\_%' ORDER BY name;
DROP TABLE history_expected, history_wrong;
RESET client_min_messages;
