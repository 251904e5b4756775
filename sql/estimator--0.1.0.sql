/* sql/estimator--0.1.0.sql */

-- complain if script is sourced in psql, rather than via CREATE EXTENSION
\echo Use "CREATE EXTENSION estimator" to load this file. \quit

-- The catalog lives in the schema "estimator"; the functions live where
-- CREATE EXTENSION puts them.  Users do not write the catalog tables: the
-- functions do, as the owner of the schema, after checking that the caller
-- owns the model.
CREATE SCHEMA estimator;
COMMENT ON SCHEMA estimator IS 'catalog of the estimator extension: models, checkpoints, training log';

CREATE TABLE estimator.model_catalog (
	name text PRIMARY KEY
		CHECK (name <> '' AND octet_length(name) <= 63),
	owner regrole NOT NULL,
	model_type text NOT NULL,
	label text NOT NULL,
	features text[] NOT NULL,
	feature_types regtype[] NOT NULL,
	feature_widths integer[] NOT NULL,
	n_inputs integer NOT NULL CHECK (n_inputs > 0),
	n_classes integer CHECK (n_classes >= 2),		-- classifiers
	label_dimension integer CHECK (label_dimension >= 1),	-- regressors
	hidden_units integer[] NOT NULL,
	activation text NOT NULL,
	optimizer text NOT NULL,
	learning_rate double precision NOT NULL,
	batch_size integer NOT NULL,
	params jsonb NOT NULL DEFAULT '{}',
	global_step bigint NOT NULL DEFAULT 0,
	created timestamptz NOT NULL DEFAULT now(),
	updated timestamptz NOT NULL DEFAULT now()
);
COMMENT ON TABLE estimator.model_catalog IS 'one row per model: its definition and owner';

CREATE TABLE estimator.checkpoints (
	model text NOT NULL REFERENCES estimator.model_catalog (name)
		ON UPDATE CASCADE ON DELETE CASCADE,
	global_step bigint NOT NULL,
	created timestamptz NOT NULL DEFAULT now(),
	loss double precision,
	data bytea NOT NULL,
	PRIMARY KEY (model, global_step)
);
-- float32 weights do not compress: store them out of line as they are
ALTER TABLE estimator.checkpoints ALTER COLUMN data SET STORAGE EXTERNAL;
COMMENT ON TABLE estimator.checkpoints IS 'serialized networks, optimizer slots and feature state; the newest keep_checkpoint_max of each model';

CREATE TABLE estimator.training_log (
	model text NOT NULL REFERENCES estimator.model_catalog (name)
		ON UPDATE CASCADE ON DELETE CASCADE,
	global_step bigint NOT NULL,
	loss double precision NOT NULL,
	seconds double precision NOT NULL,
	eval_metrics jsonb,
	logged_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX ON estimator.training_log (model, global_step);
COMMENT ON TABLE estimator.training_log IS 'the training loss every log_step_count_steps, like TensorFlow''s summaries, and the metrics of each evaluation during training';

-- No foreign key: evaluating reads a model under the query's snapshot and
-- must neither wait for its trainer nor fail when it was dropped since;
-- est_drop_model deletes the model's evaluations itself.
CREATE TABLE estimator.evaluations (
	model text NOT NULL,
	global_step bigint NOT NULL,
	source text NOT NULL,
	metrics jsonb NOT NULL,
	evaluated_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX ON estimator.evaluations (model, global_step);
COMMENT ON TABLE estimator.evaluations IS 'the metrics of every est_evaluate, with the checkpoint they scored';

SELECT pg_catalog.pg_extension_config_dump('estimator.model_catalog', '');
SELECT pg_catalog.pg_extension_config_dump('estimator.checkpoints', '');
SELECT pg_catalog.pg_extension_config_dump('estimator.training_log', '');
SELECT pg_catalog.pg_extension_config_dump('estimator.evaluations', '');

CREATE VIEW estimator.models AS
	SELECT m.name, m.owner, m.model_type, m.features, m.label, m.n_inputs,
		   m.n_classes, m.label_dimension, m.hidden_units, m.activation,
		   m.optimizer,
		   m.learning_rate, m.batch_size, m.global_step, m.created, m.updated
	  FROM estimator.model_catalog m;
COMMENT ON VIEW estimator.models IS 'one row per model';

REVOKE ALL ON ALL TABLES IN SCHEMA estimator FROM PUBLIC;
GRANT USAGE ON SCHEMA estimator TO PUBLIC;
GRANT SELECT ON estimator.models TO PUBLIC;
GRANT SELECT ON estimator.training_log TO PUBLIC;
GRANT SELECT ON estimator.evaluations TO PUBLIC;

CREATE FUNCTION est_train(
	model text,
	source text,
	label text DEFAULT NULL,
	features text[] DEFAULT NULL,
	model_type text DEFAULT NULL,
	hidden_units integer[] DEFAULT NULL,
	steps bigint DEFAULT NULL,
	epochs integer DEFAULT NULL,
	batch_size integer DEFAULT NULL,
	learning_rate double precision DEFAULT NULL,
	optimizer text DEFAULT NULL,
	params jsonb DEFAULT NULL)
RETURNS TABLE (model text, global_step bigint, loss double precision,
			   accuracy double precision, rows_read bigint,
			   seconds double precision)
AS 'MODULE_PATHNAME', 'est_train'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION est_train(text, text, text, text[], text, integer[], bigint, integer, integer, double precision, text, jsonb)
	IS 'train a model on a table, view or query, creating it on first use and continuing from its latest checkpoint after';

CREATE FUNCTION est_evaluate(model text, source text)
RETURNS TABLE (metric text, value double precision)
AS 'MODULE_PATHNAME', 'est_evaluate'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION est_evaluate(text, text)
	IS 'score the latest checkpoint of a model on a labelled table, view or query, and record the metrics in estimator.evaluations';

CREATE FUNCTION est_confusion_matrix(model text, source text)
RETURNS TABLE (label integer, predicted integer, count double precision)
AS 'MODULE_PATHNAME', 'est_confusion_matrix'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION est_confusion_matrix(text, text)
	IS 'rows (label, predicted, weighted count) of a classifier on a labelled source';

CREATE FUNCTION est_roc_curve(model text, source text)
RETURNS TABLE (threshold double precision, fpr double precision,
			   tpr double precision)
AS 'MODULE_PATHNAME', 'est_roc_curve'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION est_roc_curve(text, text)
	IS 'the ROC curve of a binary classifier on a labelled source, by decreasing threshold';

CREATE FUNCTION est_predict(model text, features record)
RETURNS double precision
AS 'MODULE_PATHNAME', 'est_predict_record'
LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION est_predict(text, record)
	IS 'predicted class id (classifiers) or value (regressors) of a row, its feature columns picked by name';

CREATE FUNCTION est_predict(model text, features double precision[])
RETURNS double precision
AS 'MODULE_PATHNAME', 'est_predict_array'
LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION est_predict(text, double precision[])
	IS 'predicted class id (classifiers) or value (regressors) of a feature array in the order of the model''s inputs';

CREATE FUNCTION est_predict_proba(model text, features record)
RETURNS double precision[]
AS 'MODULE_PATHNAME', 'est_predict_proba_record'
LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION est_predict_proba(text, record)
	IS 'class probabilities of a row, its feature columns picked by name';

CREATE FUNCTION est_predict_proba(model text, features double precision[])
RETURNS double precision[]
AS 'MODULE_PATHNAME', 'est_predict_proba_array'
LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION est_predict_proba(text, double precision[])
	IS 'class probabilities of a feature array in the order of the model''s inputs';

CREATE FUNCTION est_predict_values(model text, features record)
RETURNS double precision[]
AS 'MODULE_PATHNAME', 'est_predict_values_record'
LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION est_predict_values(text, record)
	IS 'the predicted values of a regressor (all label_dimension of them) for a row';

CREATE FUNCTION est_predict_values(model text, features double precision[])
RETURNS double precision[]
AS 'MODULE_PATHNAME', 'est_predict_values_array'
LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION est_predict_values(text, double precision[])
	IS 'the predicted values of a regressor (all label_dimension of them) for a feature array';

CREATE FUNCTION est_predict_table(model text, source text, key text DEFAULT NULL)
RETURNS TABLE (key text, prediction double precision,
			   outputs double precision[])
AS 'MODULE_PATHNAME', 'est_predict_table'
LANGUAGE C STABLE PARALLEL RESTRICTED;
COMMENT ON FUNCTION est_predict_table(text, text, text)
	IS 'score every row of a table, view or query in blocks: (key, class id or value, class probabilities or values)';

CREATE FUNCTION est_drop_model(model text)
RETURNS void
AS 'MODULE_PATHNAME', 'est_drop_model'
LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;
COMMENT ON FUNCTION est_drop_model(text)
	IS 'drop a model with its checkpoints and training log';
