-- Class names as labels (label_vocabulary), and example weights
-- (weight_column).
SET client_min_messages = warning;

CREATE TYPE lbl_species AS ENUM ('virginica', 'versicolor', 'setosa');
CREATE TABLE lbl_iris AS
	SELECT sepal_length, sepal_width, petal_length, petal_width,
		   (ARRAY['setosa', 'versicolor', 'virginica'])[label + 1] AS species,
		   (ARRAY['setosa', 'versicolor', 'virginica'])[label + 1]::lbl_species AS species_enum,
		   label = 2 AS is_virginica,
		   CASE WHEN label = 2 THEN 3.0 ELSE 1.0 END AS w
	  FROM iris_train;
CREATE TABLE lbl_test AS
	SELECT t.*, (ARRAY['setosa', 'versicolor', 'virginica'])[label + 1] AS species
	  FROM iris_test t;

-- text labels learn their vocabulary, in the collation's order
SELECT model, global_step FROM est_train('lbl_text', 'SELECT sepal_length, sepal_width, petal_length, petal_width, species FROM lbl_iris',
	label => 'species', steps => 1000, params => '{"seed": 1}');
SELECT n_classes, label_vocabulary FROM estimator.models WHERE name = 'lbl_text';
SELECT est_predict_label('lbl_text', t) AS predicted, species, count(*)
  FROM lbl_test t GROUP BY 1, 2 ORDER BY 2, 1;
SELECT metric, round(value::numeric, 3) AS value
  FROM est_evaluate('lbl_text', 'SELECT sepal_length, sepal_width, petal_length, petal_width, species FROM lbl_test')
 WHERE metric IN ('accuracy', 'auc');
SELECT * FROM est_confusion_matrix('lbl_text', 'SELECT sepal_length, sepal_width, petal_length, petal_width, species FROM lbl_test') ORDER BY 1, 2;
-- batch scoring names the classes too
SELECT label, count(*) FROM est_predict_table('lbl_text', 'lbl_test') GROUP BY label ORDER BY label;
-- a class the model does not know
SELECT expect_error($$SELECT * FROM est_evaluate('lbl_text', 'SELECT sepal_length, sepal_width, petal_length, petal_width, ''rosa'' AS species FROM lbl_test')$$);
-- est_predict gives the class id, est_predict_label its name
SELECT est_predict('lbl_text', t) AS id, est_predict_label('lbl_text', t) AS name
  FROM lbl_test t WHERE id = 1;

-- enum labels keep the enum's order; boolean labels are false, true
SELECT global_step FROM est_train('lbl_enum', 'SELECT petal_length, petal_width, species_enum FROM lbl_iris',
	label => 'species_enum', steps => 200, params => '{"seed": 1}');
SELECT label_vocabulary FROM estimator.models WHERE name = 'lbl_enum';
SELECT global_step FROM est_train('lbl_bool', 'SELECT petal_length, petal_width, is_virginica FROM lbl_iris',
	label => 'is_virginica', steps => 200, params => '{"seed": 1}');
SELECT n_classes, label_vocabulary FROM estimator.models WHERE name = 'lbl_bool';
SELECT est_predict_label('lbl_bool', t) FROM (SELECT 6.0::real AS petal_length, 2.2::real AS petal_width) t;

-- a given vocabulary fixes the ids, and may name classes the rows lack
SELECT global_step FROM est_train('lbl_given', 'SELECT petal_length, petal_width, species FROM lbl_iris WHERE species <> ''setosa''',
	label => 'species', steps => 200,
	params => '{"seed": 1, "label_vocabulary": ["virginica", "versicolor", "setosa"]}');
SELECT n_classes, label_vocabulary FROM estimator.models WHERE name = 'lbl_given';
SELECT expect_error($$SELECT * FROM est_train('lbl_given2', 'SELECT petal_length, species FROM lbl_iris', label => 'species',
	params => '{"label_vocabulary": ["virginica", "versicolor"]}')$$);
SELECT expect_error($$SELECT * FROM est_train('lbl_bad', 'lbl_iris', label => 'species', params => '{"label_vocabulary": ["a", "a"]}')$$);
SELECT expect_error($$SELECT * FROM est_train('lbl_bad', 'lbl_iris', label => 'species', params => '{"label_vocabulary": "a"}')$$);
SELECT expect_error($$SELECT * FROM est_train('lbl_bad', 'lbl_iris', label => 'species', params => '{"n_classes": 4, "label_vocabulary": ["a", "b"]}')$$);
SELECT expect_error($$SELECT * FROM est_train('lbl_bad', 'SELECT petal_length, ''one''::text AS species FROM lbl_iris', label => 'species')$$);
SELECT expect_error($$SELECT * FROM est_train('lbl_bad', 'lbl_iris', label => 'species', model_type => 'dnn_regressor', params => '{"label_vocabulary": ["a", "b"]}')$$);
SELECT expect_error($$SELECT est_predict_label('lbl_bad_none', ARRAY[1.0])$$);
SELECT global_step FROM est_train('lbl_reg', 'SELECT petal_length, petal_width FROM lbl_iris', label => 'petal_width',
	model_type => 'dnn_regressor', steps => 10, params => '{"seed": 1}');
SELECT expect_error($$SELECT est_predict_label('lbl_reg', ARRAY[1.0])$$);
-- integer labels: est_predict_label gives the id as text
SELECT global_step FROM est_train('lbl_int', 'iris_train', steps => 10, params => '{"seed": 1}');
SELECT est_predict_label('lbl_int', t) = est_predict('lbl_int', t)::text AS id_text FROM iris_test t WHERE id = 1;

-- weight_column: weighted loss, weighted metrics that SQL reproduces
SELECT global_step FROM est_train('lbl_weighted', 'SELECT petal_length, petal_width, species, w FROM lbl_iris',
	label => 'species', steps => 300, params => '{"seed": 1, "weight_column": "w"}');
SELECT n_inputs, label_vocabulary FROM estimator.models WHERE name = 'lbl_weighted';
SELECT ordinal, name FROM est_feature_info('lbl_weighted') ORDER BY ordinal;
SELECT round(e.value::numeric, 6) = round(s.acc::numeric, 6) AS weighted_accuracy_ok
  FROM est_evaluate('lbl_weighted', 'SELECT petal_length, petal_width, species, w FROM lbl_iris') e,
	   (SELECT sum(w * (est_predict_label('lbl_weighted', t) = species)::int) / sum(w) AS acc FROM lbl_iris t) s
 WHERE e.metric = 'accuracy';
-- prediction does not need the weight
SELECT est_predict_label('lbl_weighted', t) IS NOT NULL AS ok FROM (SELECT 1.0::real AS petal_length, 0.2::real AS petal_width) t;
SELECT expect_error($$SELECT * FROM est_train('lbl_weighted', 'SELECT petal_length, petal_width, species, -w AS w FROM lbl_iris', label => 'species', steps => 1)$$);
SELECT expect_error($$SELECT * FROM est_train('lbl_weighted', 'SELECT petal_length, petal_width, species, NULL::float8 AS w FROM lbl_iris', label => 'species', steps => 1)$$);
SELECT expect_error($$SELECT * FROM est_train('lbl_weighted', 'SELECT petal_length, petal_width, species FROM lbl_iris', label => 'species', steps => 1)$$);
SELECT expect_error($$SELECT * FROM est_train('lbl_w2', 'SELECT petal_length, species, species AS w FROM lbl_iris', label => 'species', params => '{"weight_column": "w"}')$$);
SELECT expect_error($$SELECT * FROM est_train('lbl_weighted', 'SELECT petal_length, petal_width, species, w FROM lbl_iris', label => 'species', steps => 1, params => '{"weight_column": "petal_width"}')$$);
-- weights so large that adagrad's accumulators overflow (the weights and
-- the loss stay finite): a divergence, once 'invalid checkpoint' (22023)
SELECT expect_error($$SELECT * FROM est_train('lbl_wbig', 'SELECT petal_length, species, 3e38::real AS w FROM lbl_iris',
	label => 'species', steps => 5, params => '{"seed": 1, "weight_column": "w"}')$$);
SELECT count(*) FROM estimator.models WHERE name = 'lbl_wbig';
-- a ROC curve counts rows by weight: weight 0 in a class is no row of it
SELECT global_step FROM est_train('lbl_wbin', 'SELECT petal_width, (petal_length > 4)::int AS big, w FROM lbl_iris',
	label => 'big', steps => 10, params => '{"seed": 1, "weight_column": "w"}');
SELECT count(*) > 2 AS roc_points
  FROM est_roc_curve('lbl_wbin', 'SELECT petal_width, (petal_length > 4)::int AS big, w FROM lbl_iris');
SELECT expect_error($$SELECT * FROM est_roc_curve('lbl_wbin', 'SELECT petal_width, (petal_length > 4)::int AS big, 0.0 AS w FROM lbl_iris')$$);
SELECT expect_error($$SELECT * FROM est_roc_curve('lbl_wbin', 'SELECT petal_width, (petal_length > 4)::int AS big, (petal_length > 4)::int AS w FROM lbl_iris')$$);
-- weights that sum to zero leave every weighted metric 0/0: an error, as a
-- source of no rows is (once est_evaluate gave a loss and accuracy of 0)
SELECT expect_error($$SELECT * FROM est_evaluate('lbl_wbin', 'SELECT petal_width, (petal_length > 4)::int AS big, 0.0 AS w FROM lbl_iris')$$);
SELECT expect_error($$SELECT * FROM est_confusion_matrix('lbl_wbin', 'SELECT petal_width, (petal_length > 4)::int AS big, 0.0 AS w FROM lbl_iris')$$);
SELECT expect_error($$SELECT est_train('lbl_wbin', 'SELECT petal_width, (petal_length > 4)::int AS big, w FROM lbl_iris', label => 'big', steps => 1, params => '{"eval_source": "SELECT petal_width, (petal_length > 4)::int AS big, 0.0 AS w FROM lbl_iris"}')$$);
-- training on them is allowed (their gradients are 0), but est_train
-- measures nothing on them (once a loss and an accuracy of 0)
SELECT global_step, loss IS NULL AS no_loss, accuracy IS NULL AS no_accuracy
  FROM est_train('lbl_wzero', 'SELECT petal_width, (petal_length > 4)::int AS big, 0.0 AS w FROM lbl_iris',
	label => 'big', steps => 5, params => '{"seed": 1, "weight_column": "w"}');
SELECT est_drop_model('lbl_wzero');
SELECT expect_error($$SELECT est_train('lbl_wzero', 'SELECT petal_width, (petal_length > 4)::int AS big, 0.0 AS w FROM lbl_iris', label => 'big', steps => 5, params => '{"seed": 1, "weight_column": "w", "eval_fraction": 0.25}')$$);
-- one row of positive weight is enough
SELECT round(value::numeric, 4) AS accuracy
  FROM est_evaluate('lbl_wbin', 'SELECT petal_width, (petal_length > 4)::int AS big, (row_number() OVER () = 1)::int AS w FROM lbl_iris')
 WHERE metric = 'accuracy';

-- char(n) labels are class names without their padding, as char(n)
-- features are: a given vocabulary names them so, and text labels match
SELECT global_step FROM est_train('lbl_char', 'SELECT petal_length, species::char(12) AS species FROM lbl_iris',
	label => 'species', steps => 10, params => '{"seed": 1}');
SELECT label_vocabulary FROM estimator.models WHERE name = 'lbl_char';
SELECT est_predict_label('lbl_char', t) FROM (SELECT 1.0::real AS petal_length) t;
SELECT metric FROM est_evaluate('lbl_char', 'SELECT petal_length, species FROM lbl_test') WHERE metric = 'accuracy';
SELECT global_step FROM est_train('lbl_char_given', 'SELECT petal_length, species::char(12) AS species FROM lbl_iris',
	label => 'species', steps => 10,
	params => '{"seed": 1, "label_vocabulary": ["setosa", "versicolor", "virginica"]}');
-- a model whose stored classes kept the padding still reads char(n) labels
UPDATE estimator.model_catalog
   SET label_vocabulary = '{"setosa      ","versicolor  ","virginica   "}'
 WHERE name = 'lbl_char';
SELECT metric FROM est_evaluate('lbl_char', 'SELECT petal_length, species::char(12) AS species FROM lbl_test') WHERE metric = 'accuracy';

-- the class names and numbers that labels and weights detoast are freed
-- block by block: 100,000 rows once took 10 MB more at the end than at
-- the start (lbl_memory records the backend's memory as rows are read)
CREATE TABLE lbl_many AS
	SELECT i, (i % 7)::real AS x, (ARRAY['small', 'large'])[1 + (i % 7 > 3)::int] AS size,
		   1.5::numeric AS w
	  FROM generate_series(1, 100000) i;
CREATE FUNCTION lbl_memory(label text, probe text) RETURNS text LANGUAGE sql AS $$
	SELECT CASE WHEN set_config(probe, (SELECT sum(total_bytes) FROM pg_backend_memory_contexts)::text, false)
				IS NOT NULL THEN label END $$;
SELECT global_step FROM est_train('lbl_many', 'SELECT x, size, w FROM lbl_many WHERE i <= 1000', label => 'size',
	steps => 1, params => '{"seed": 1, "weight_column": "w"}');
SELECT count(*) FROM est_evaluate('lbl_many',
	$$SELECT x, CASE i WHEN 1000 THEN lbl_memory(size, 'lbl.first') WHEN 100000 THEN lbl_memory(size, 'lbl.last')
					  ELSE size END AS size, w
		FROM lbl_many ORDER BY i$$) WHERE metric = 'accuracy';
SELECT current_setting('lbl.last')::bigint - current_setting('lbl.first')::bigint < 4 * 1024 * 1024 AS bounded;
DROP FUNCTION lbl_memory(text, text);
DROP TABLE lbl_many;

-- a label or weight that is not a finite number: the hint does not speak
-- of features only
SELECT * FROM est_train('lbl_inf', $$SELECT 1.0::float8 AS x, 'Infinity'::float8 AS y$$,
	label => 'y', model_type => 'dnn_regressor', hidden_units => '{2}', steps => 1);
SELECT * FROM est_train('lbl_nan_w', $$SELECT 1.0::float8 AS x, 1 AS y, 'NaN'::real AS w$$,
	label => 'y', hidden_units => '{2}', steps => 1, params => '{"weight_column": "w"}');

SELECT count(*) AS dropped FROM
	(SELECT est_drop_model(name) FROM estimator.models WHERE name LIKE 'lbl\_%') d;
DROP TABLE lbl_iris, lbl_test;
DROP TYPE lbl_species;
