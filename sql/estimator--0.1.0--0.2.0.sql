/* sql/estimator--0.1.0--0.2.0.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION estimator UPDATE TO '0.2.0'" to load this file. \quit

-- Feature columns: text, boolean, enum and array features, declared or
-- inferred; class names as labels; example weights.  Checkpoints of 0.1.0
-- (format version 1) still load: their z-scores become numeric columns.

-- floats of the network's input vector (n_inputs counts those of a row
-- as read, which categorical columns keep as ids)
ALTER TABLE estimator.model_catalog ADD COLUMN input_width integer
	CHECK (input_width > 0);
UPDATE estimator.model_catalog SET input_width = n_inputs;
ALTER TABLE estimator.model_catalog ALTER COLUMN input_width SET NOT NULL;

-- class names by class id (label_vocabulary), NULL for integer labels
ALTER TABLE estimator.model_catalog ADD COLUMN label_vocabulary text[];

CREATE OR REPLACE VIEW estimator.models AS
	SELECT m.name, m.owner, m.model_type, m.features, m.label, m.n_inputs,
		   m.n_classes, m.label_dimension, m.hidden_units, m.activation,
		   m.optimizer,
		   m.learning_rate, m.batch_size, m.global_step, m.created, m.updated,
		   m.input_width, m.label_vocabulary
	  FROM estimator.model_catalog m;

CREATE FUNCTION est_feature_info(model text)
RETURNS TABLE (ordinal integer, name text, kind text, source text[],
			   representation text, width integer, null_count bigint,
			   mean double precision, stddev double precision,
			   min double precision, max double precision,
			   buckets bigint, vocabulary_size integer, top_values text[],
			   details jsonb)
AS 'MODULE_PATHNAME', 'est_feature_info'
LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION est_feature_info(text)
	IS 'the feature columns of a model: kind, source columns, width in the network, and the statistics or vocabulary learned from the training rows';

CREATE FUNCTION est_predict_label(model text, features record)
RETURNS text
AS 'MODULE_PATHNAME', 'est_predict_label_record'
LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION est_predict_label(text, record)
	IS 'predicted class of a row: its name from label_vocabulary, or its id as text';

CREATE FUNCTION est_predict_label(model text, features double precision[])
RETURNS text
AS 'MODULE_PATHNAME', 'est_predict_label_array'
LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION est_predict_label(text, double precision[])
	IS 'predicted class of a feature array: its name from label_vocabulary, or its id as text';

-- est_predict_table gains the class's name, as its last column
DROP FUNCTION est_predict_table(text, text, text);
CREATE FUNCTION est_predict_table(model text, source text, key text DEFAULT NULL)
RETURNS TABLE (key text, prediction double precision,
			   outputs double precision[], label text)
AS 'MODULE_PATHNAME', 'est_predict_table'
LANGUAGE C STABLE PARALLEL RESTRICTED;
COMMENT ON FUNCTION est_predict_table(text, text, text)
	IS 'score every row of a table, view or query in blocks: (key, class id or value, class probabilities or values, class name)';

-- ----------------------------------------------------------------
-- Models as database objects: history, deployment, privileges, export,
-- scheduled retraining.
-- ----------------------------------------------------------------

-- The checkpoint that est_predict and est_evaluate use; NULL: the newest.
ALTER TABLE estimator.model_catalog ADD COLUMN serving_step bigint;

-- Lineage of each checkpoint: what it was trained on.
ALTER TABLE estimator.checkpoints
	ADD COLUMN source text,
	ADD COLUMN rows_read bigint,
	ADD COLUMN fingerprint text,
	ADD COLUMN metrics jsonb;

-- Who may use a model besides its owner: 'predict' (predict, evaluate,
-- inspect) or 'train' (that, and train and deploy).  grantee NULL is
-- PUBLIC.
CREATE TABLE estimator.model_grants (
	model text NOT NULL REFERENCES estimator.model_catalog (name)
		ON UPDATE CASCADE ON DELETE CASCADE,
	grantee regrole,
	privilege text NOT NULL CHECK (privilege IN ('predict', 'train')),
	grantor regrole NOT NULL,
	granted timestamptz NOT NULL DEFAULT now(),
	UNIQUE NULLS NOT DISTINCT (model, grantee, privilege)
);
COMMENT ON TABLE estimator.model_grants IS 'the privileges on models that est_grant gave (grantee NULL: PUBLIC)';
SELECT pg_catalog.pg_extension_config_dump('estimator.model_grants', '');

-- Every change of the serving checkpoint.
CREATE TABLE estimator.deployments (
	model text NOT NULL REFERENCES estimator.model_catalog (name)
		ON UPDATE CASCADE ON DELETE CASCADE,
	global_step bigint NOT NULL,
	previous_step bigint,
	action text NOT NULL,
	by_role regrole NOT NULL,
	detail jsonb,
	deployed_at timestamptz NOT NULL DEFAULT clock_timestamp()
);
CREATE INDEX ON estimator.deployments (model, deployed_at);
COMMENT ON TABLE estimator.deployments IS 'the history of the serving checkpoint of each model: deploy, rollback, promotion and kept (promote_if refused)';
SELECT pg_catalog.pg_extension_config_dump('estimator.deployments', '');

-- [history] est_checkpoints, est_deploy, est_rollback (src/deploy.c)

CREATE FUNCTION est_checkpoints(model text)
RETURNS TABLE (global_step bigint, created timestamptz,
			   loss double precision, metrics jsonb, bytes integer,
			   source text, rows_read bigint, fingerprint text,
			   serving boolean)
AS 'MODULE_PATHNAME', 'est_checkpoints'
LANGUAGE C STABLE STRICT PARALLEL RESTRICTED;
COMMENT ON FUNCTION est_checkpoints(text)
	IS 'the stored checkpoints of a model, oldest first, with their lineage (source, rows read, fingerprint of the rows), their evaluation metrics and which one serves';

CREATE FUNCTION est_deploy(model text, global_step bigint DEFAULT NULL)
RETURNS TABLE (model text, global_step bigint, previous_step bigint)
AS 'MODULE_PATHNAME', 'est_deploy'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION est_deploy(text, bigint)
	IS 'make a checkpoint of a model serve predictions and evaluations; NULL: the newest, after every training';

CREATE FUNCTION est_rollback(model text)
RETURNS TABLE (model text, global_step bigint, previous_step bigint)
AS 'MODULE_PATHNAME', 'est_rollback'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION est_rollback(text)
	IS 'serve again the checkpoint that served before the newest change recorded in estimator.deployments';

-- est_train gains warm_start_from, reset and nowait, and returns the
-- serving step
DROP FUNCTION est_train(text, text, text, text[], text, integer[], bigint,
						integer, integer, double precision, text, jsonb);
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
	params jsonb DEFAULT NULL,
	warm_start_from text DEFAULT NULL,
	reset boolean DEFAULT false,
	nowait boolean DEFAULT false)
RETURNS TABLE (model text, global_step bigint, loss double precision,
			   accuracy double precision, rows_read bigint,
			   seconds double precision, serving_step bigint)
AS 'MODULE_PATHNAME', 'est_train'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION est_train(text, text, text, text[], text, integer[], bigint, integer, integer, double precision, text, jsonb, text, boolean, boolean)
	IS 'train a model on a table, view or query, creating it on first use and continuing from its newest checkpoint after';

CREATE PROCEDURE est_train_procedure(
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
	params jsonb DEFAULT NULL,
	warm_start_from text DEFAULT NULL,
	reset boolean DEFAULT false,
	nowait boolean DEFAULT false)
AS 'MODULE_PATHNAME', 'est_train_procedure'
LANGUAGE C;
COMMENT ON PROCEDURE est_train_procedure(text, text, text, text[], text, integer[], bigint, integer, integer, double precision, text, jsonb, text, boolean, boolean)
	IS 'est_train as a procedure: CALLed outside a transaction block, it commits after every checkpoint (save_checkpoints_steps, 1000 by default)';

-- [transfer] est_export, est_import, est_weights (src/transfer.c)

-- [schedule] est_schedule, est_unschedule (pg_cron)

-- [privileges] est_grant, est_revoke, est_has_model_privilege (src/model.c)
