-- The Iris tutorial of TensorFlow's Estimator API, inside PostgreSQL.
--
-- TensorFlow's premade-estimator tutorial classifies iris flowers into three
-- species from four measurements: it writes an input_fn that reads the CSV,
-- declares feature columns, builds a DNNClassifier with two hidden layers of
-- 10 units, then calls train, evaluate and predict.  Here the same steps are
-- a handful of SQL statements.  Run it with: make demo

-- Step 0: install the extension into this database.
CREATE EXTENSION estimator;

-- Step 1, the input_fn: the data is just a table.  120 flowers to train on
-- and 30 held out to test with; label is the species as a class id
-- (0 setosa, 1 versicolor, 2 virginica).
-- (test/scripts/load_iris.sql copies test/data/iris.csv into them.)
\set ECHO none
\i test/scripts/load_iris.sql
\set ECHO all

SELECT * FROM iris_train LIMIT 5;

SELECT label, count(*) FROM iris_train GROUP BY label ORDER BY label;

-- Step 2, feature columns and the model: est_train creates a model named
-- iris_model the first time it sees the name.  Feature columns are inferred
-- from the column types (four numeric_columns), the label column is "label",
-- and the defaults are those of the tutorial's DNNClassifier: hidden_units
-- {10,10}, ReLU, Adagrad with learning rate 0.05, batches of 32.
--
-- Step 3, train: est_train reads the table in shuffled mini-batches inside
-- the server and stores checkpoints in the database (the model_dir).  Like
-- TensorFlow it reports the loss every 100 steps; this demo asks for every
-- 1000 of the 5000 steps.
SET estimator.log_step_count_steps = 1000;
SELECT * FROM est_train('iris_model', 'iris_train');

-- The same figures are kept in a table, as TensorBoard summaries would be.
SELECT global_step, round(loss::numeric, 4) AS loss
  FROM estimator.training_log WHERE model = 'iris_model' ORDER BY global_step;

-- Step 4, evaluate: like estimator.evaluate(input_fn=test_input_fn), on the
-- 30 flowers the model has never seen.
SELECT * FROM est_evaluate('iris_model', 'iris_test');

-- Step 5, predict: pass a whole row; columns the model was not trained on
-- (id) and the label are ignored.  est_predict gives the class id,
-- est_predict_proba the probability of each class (rounded for display).
SELECT id, label,
       est_predict('iris_model', t) AS predicted,
       est_predict_proba('iris_model', t)::numeric(4,3)[] AS probabilities
FROM iris_test t
ORDER BY id
LIMIT 10;

-- Or pass the four measurements of new flowers as arrays: the tutorial's
-- predict_x (sepal length, sepal width, petal length, petal width), which
-- TensorFlow classifies as Setosa, Versicolor and Virginica.
SELECT x AS measurements, est_predict('iris_model', x) AS class,
       (ARRAY['Setosa', 'Versicolor', 'Virginica'])[est_predict('iris_model', x) + 1] AS species,
       round(100 * (est_predict_proba('iris_model', x))[est_predict('iris_model', x) + 1]) AS "probability %"
FROM (VALUES (ARRAY[5.1, 3.3, 1.7, 0.5]), (ARRAY[5.9, 3.0, 4.2, 1.5]),
             (ARRAY[6.9, 3.1, 5.4, 2.1])) AS predict_x(x);

-- Step 6: every model, its definition and training state live in the
-- schema "estimator"; \x shows the one row as a list of fields.
\x on
SELECT * FROM estimator.models;
