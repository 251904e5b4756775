-- Exact values on tiny data: every model type, optimizer and metric after
-- a few seeded full-batch steps, so that any change to the arithmetic shows.
SET client_min_messages = warning;
SET extra_float_digits = 0;

CREATE TABLE exact_data (a float8, b float8, y float8, c integer, bin integer);
INSERT INTO exact_data VALUES
	(0.0, 1.0, 0.5, 0, 0), (1.0, 0.0, 1.5, 1, 1), (2.0, 2.0, 3.0, 2, 1),
	(3.0, 1.0, 3.5, 1, 0), (4.0, 3.0, 5.0, 2, 1), (5.0, 0.5, 5.5, 0, 0);

-- every model type, three steps of its default optimizer
CREATE TABLE exact_types (model_type text, label text);
INSERT INTO exact_types VALUES
	('dnn_classifier', 'c'), ('dnn_regressor', 'y'), ('linear_classifier', 'bin'),
	('linear_regressor', 'y'), ('dnn_linear_combined_classifier', 'c'),
	('dnn_linear_combined_regressor', 'y');
SELECT t.model_type, r.global_step
  FROM exact_types t,
	   LATERAL est_train('exact_' || t.model_type,
						 'SELECT a, b, ' || t.label || ' FROM exact_data',
						 label => t.label, model_type => t.model_type,
						 hidden_units => CASE WHEN t.model_type LIKE 'linear%' THEN NULL ELSE '{3}'::int[] END,
						 steps => 3, batch_size => 6, params => '{"seed": 1}') r
 ORDER BY 1;
SELECT model_type, label,
	   round(est_predict('exact_' || model_type, ARRAY[1.0, 2.0])::numeric, 6) AS at_1_2,
	   round(est_predict('exact_' || model_type, ARRAY[4.0, 0.0])::numeric, 6) AS at_4_0
  FROM exact_types ORDER BY 1;
SELECT round(p::numeric, 6) AS probability
  FROM unnest(est_predict_proba('exact_dnn_classifier', ARRAY[1.0, 2.0])) p;
SELECT round(p::numeric, 6) AS probability
  FROM unnest(est_predict_proba('exact_linear_classifier', ARRAY[1.0, 2.0])) p;

-- every optimizer, three steps of a linear regressor
SELECT o.optimizer, r.global_step
  FROM (VALUES ('sgd'), ('momentum'), ('adagrad'), ('adam'), ('rmsprop'),
			   ('ftrl')) o(optimizer),
	   LATERAL est_train('exact_opt_' || o.optimizer, 'SELECT a, b, y FROM exact_data',
						 label => 'y', model_type => 'linear_regressor',
						 optimizer => o.optimizer, learning_rate => 0.1,
						 steps => 3, batch_size => 6, params => '{"seed": 1}') r
 ORDER BY 1;
SELECT o.optimizer,
	   round(est_predict('exact_opt_' || o.optimizer, ARRAY[1.0, 2.0])::numeric, 6) AS at_1_2
  FROM (VALUES ('sgd'), ('momentum'), ('adagrad'), ('adam'), ('rmsprop'),
			   ('ftrl')) o(optimizer)
 ORDER BY 1;

-- every metric of a classifier and a regressor on the same six rows
SELECT metric, round(value::numeric, 6) AS value
  FROM est_evaluate('exact_linear_classifier', 'SELECT a, b, bin FROM exact_data');
SELECT metric, round(value::numeric, 6) AS value
  FROM est_evaluate('exact_dnn_classifier', 'SELECT a, b, c FROM exact_data');
SELECT metric, round(value::numeric, 6) AS value
  FROM est_evaluate('exact_dnn_regressor', 'SELECT a, b, y FROM exact_data');
SELECT label, predicted, count
  FROM est_confusion_matrix('exact_dnn_classifier', 'SELECT a, b, c FROM exact_data');
SELECT round(threshold::numeric, 6) AS threshold, round(fpr::numeric, 6) AS fpr,
	   round(tpr::numeric, 6) AS tpr
  FROM est_roc_curve('exact_linear_classifier', 'SELECT a, b, bin FROM exact_data');

SELECT count(*) AS dropped FROM
	(SELECT est_drop_model(name) FROM estimator.models
	  WHERE name LIKE 'exact\_%') d;
DROP TABLE exact_data, exact_types;
