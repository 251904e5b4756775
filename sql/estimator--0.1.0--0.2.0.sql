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

-- [transfer] est_export, est_import, est_weights (src/transfer.c)

CREATE FUNCTION est_export(model text)
RETURNS bytea
AS 'MODULE_PATHNAME', 'est_export'
LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION est_export(text)
	IS 'a versioned, checksummed bundle of a model: its definition and its serving checkpoint, for est_import in another database';

CREATE FUNCTION est_import(model text, bundle bytea)
RETURNS TABLE (model text, global_step bigint)
AS 'MODULE_PATHNAME', 'est_import'
LANGUAGE C VOLATILE STRICT PARALLEL UNSAFE;
COMMENT ON FUNCTION est_import(text, bytea)
	IS 'create a model owned by the caller from a bundle of est_export, after checking it; feature types are resolved by name';

CREATE FUNCTION est_weights(model text)
RETURNS TABLE (layer integer, kind text, name text, shape integer[],
			   n integer, "values" real[])
AS 'MODULE_PATHNAME', 'est_weights'
LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION est_weights(text)
	IS 'the trainable parameters of the serving checkpoint: kernels (row-major), biases, batch normalisation, embedding tables and the linear part, by layer';

-- [schedule] est_schedule, est_unschedule (pg_cron)

-- [privileges] est_grant, est_revoke, est_has_model_privilege (src/model.c)
CREATE FUNCTION est_grant(model text, role text, privilege text DEFAULT 'predict')
RETURNS boolean
AS 'MODULE_PATHNAME', 'est_grant'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION est_grant(text, text, text)
	IS 'let a role (or public) use a model: predict (predict, evaluate, inspect, export) or train (that, and train and deploy); owner only';

CREATE FUNCTION est_revoke(model text, role text, privilege text DEFAULT NULL)
RETURNS bigint
AS 'MODULE_PATHNAME', 'est_revoke'
LANGUAGE C VOLATILE PARALLEL UNSAFE;
COMMENT ON FUNCTION est_revoke(text, text, text)
	IS 'take back a privilege on a model (every privilege when NULL); returns the grants removed; owner only';

CREATE FUNCTION est_has_model_privilege(model text, privilege text)
RETURNS boolean
AS 'MODULE_PATHNAME', 'est_has_model_privilege'
LANGUAGE C STABLE STRICT PARALLEL SAFE;
COMMENT ON FUNCTION est_has_model_privilege(text, text)
	IS 'whether the current user may use a model so: predict, train or owner';

-- Others see only the models they may use, and only their log,
-- evaluations and deployments.
CREATE OR REPLACE VIEW estimator.models WITH (security_barrier) AS
	SELECT m.name, m.owner, m.model_type, m.features, m.label, m.n_inputs,
		   m.n_classes, m.label_dimension, m.hidden_units, m.activation,
		   m.optimizer,
		   m.learning_rate, m.batch_size, m.global_step, m.created, m.updated,
		   m.input_width, m.label_vocabulary
	  FROM estimator.model_catalog m
	 WHERE @extschema@.est_has_model_privilege(m.name, 'predict');
ALTER TABLE estimator.training_log ENABLE ROW LEVEL SECURITY;
CREATE POLICY training_log_readers ON estimator.training_log FOR SELECT
	USING (@extschema@.est_has_model_privilege(model, 'predict'));
ALTER TABLE estimator.evaluations ENABLE ROW LEVEL SECURITY;
CREATE POLICY evaluations_readers ON estimator.evaluations FOR SELECT
	USING (@extschema@.est_has_model_privilege(model, 'predict'));
ALTER TABLE estimator.deployments ENABLE ROW LEVEL SECURITY;
CREATE POLICY deployments_readers ON estimator.deployments FOR SELECT
	USING (@extschema@.est_has_model_privilege(model, 'predict'));
GRANT SELECT ON estimator.deployments TO PUBLIC;
ALTER TABLE estimator.model_grants ENABLE ROW LEVEL SECURITY;
CREATE POLICY model_grants_readers ON estimator.model_grants FOR SELECT
	USING (@extschema@.est_has_model_privilege(model, 'owner')
		   OR pg_catalog.pg_has_role(grantee::pg_catalog.oid, 'USAGE'));
GRANT SELECT ON estimator.model_grants TO PUBLIC;
