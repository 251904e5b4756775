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
COMMENT ON TABLE estimator.deployments IS 'the history of the serving checkpoint of each model: deploy, rollback, promotion, kept (promote_if refused) and gate (promote_if''s pin while a call trains)';
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
--
-- pg_cron is optional: nothing here refers to the schema cron until a
-- function runs, and then only through EXECUTE.  pg_cron runs a job as the
-- role that called cron.schedule, so est_schedule and est_unschedule are
-- SECURITY INVOKER and call pg_cron as the caller: the training runs with
-- the caller's rights, never the extension owner's.  Their writes to
-- estimator.schedules go through the SECURITY DEFINER helpers below, which
-- check the caller again.  A helper cannot see the role that called it (it
-- runs as the extension owner), so it takes the session's role: the role
-- of SET ROLE, or the session user.

CREATE TABLE estimator.schedules (
	model text PRIMARY KEY REFERENCES estimator.model_catalog (name)
		ON UPDATE CASCADE ON DELETE CASCADE,
	source text NOT NULL,
	steps bigint CHECK (steps > 0),
	epochs integer CHECK (epochs > 0),
	only_if_changed boolean NOT NULL,
	jobid bigint NOT NULL,
	scheduled_by regrole NOT NULL,
	last_fingerprint text,
	last_run timestamptz,
	last_status text
);
COMMENT ON TABLE estimator.schedules IS 'retraining of models by pg_cron jobs (est_schedule): the settings of each job and the outcome of its last successful run';
SELECT pg_catalog.pg_extension_config_dump('estimator.schedules', '');
-- Readable by the role whose job it is and by the model's owners: the
-- source may be a query that should not be shown to everyone.
ALTER TABLE estimator.schedules ENABLE ROW LEVEL SECURITY;
CREATE POLICY schedules_read ON estimator.schedules FOR SELECT
	USING (pg_catalog.pg_has_role(scheduled_by, 'USAGE')
		   OR EXISTS (SELECT 1 FROM estimator.model_catalog m
					   WHERE m.name OPERATOR(pg_catalog.=) schedules.model
						 AND pg_catalog.pg_has_role(m.owner, 'USAGE')));
REVOKE ALL ON estimator.schedules FROM PUBLIC;
GRANT SELECT ON estimator.schedules TO PUBLIC;

-- The role a SECURITY DEFINER helper acts for: SET ROLE's, or the session
-- user's.
CREATE FUNCTION estimator.session_role()
RETURNS regrole
LANGUAGE sql STABLE
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT r.oid::pg_catalog.regrole FROM pg_catalog.pg_roles r
	 WHERE r.rolname OPERATOR(pg_catalog.=)
		   CASE WHEN pg_catalog.current_setting('role') OPERATOR(pg_catalog.=) 'none'
				THEN pg_catalog.session_user()::pg_catalog.text
				ELSE pg_catalog.current_setting('role') END
$$;
COMMENT ON FUNCTION estimator.session_role()
	IS 'internal: the role of the session (SET ROLE, or the session user), for the checks of SECURITY DEFINER functions';

-- Raise a clear error unless pg_cron is installed and runs its jobs here.
-- SECURITY DEFINER: only superusers may read cron.database_name.
CREATE FUNCTION estimator.check_cron()
RETURNS void
LANGUAGE plpgsql STABLE SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	cron_db text := pg_catalog.current_setting('cron.database_name', true);
BEGIN
	IF cron_db OPERATOR(pg_catalog.<>) pg_catalog.current_database() THEN
		RAISE EXCEPTION 'pg_cron runs its jobs in database "%", not in "%"',
			cron_db, pg_catalog.current_database()
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  HINT = pg_catalog.format('Schedule the training from database "%s", or set cron.database_name to "%s".',
										   cron_db, pg_catalog.current_database());
	END IF;
	IF pg_catalog.to_regprocedure('cron.schedule(text,text,text)') IS NULL THEN
		RAISE EXCEPTION 'pg_cron is not installed in database "%"',
			pg_catalog.current_database()
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  HINT = pg_catalog.format('Install pg_cron (on Debian: apt-get install postgresql-15-cron), set shared_preload_libraries = ''pg_cron'' and cron.database_name = ''%s'' in postgresql.conf, restart the server and run CREATE EXTENSION pg_cron.',
										   pg_catalog.current_database());
	END IF;
	IF cron_db IS NULL THEN
		RAISE EXCEPTION 'pg_cron is not loaded'
			USING ERRCODE = 'object_not_in_prerequisite_state',
				  HINT = 'Add pg_cron to shared_preload_libraries in postgresql.conf and restart the server.';
	END IF;
END
$$;
COMMENT ON FUNCTION estimator.check_cron()
	IS 'internal: raise an error unless pg_cron is installed, loaded and runs its jobs in the current database';

-- The command of a model's job.
CREATE FUNCTION estimator.schedule_command(model text)
RETURNS text
LANGUAGE sql IMMUTABLE STRICT
SET search_path = pg_catalog, pg_temp
AS $$
	SELECT pg_catalog.format('SELECT estimator.run_scheduled(%L)', model)
$$;
COMMENT ON FUNCTION estimator.schedule_command(text)
	IS 'internal: the command of the pg_cron job that retrains a model';

-- Store a model's schedule after est_schedule made its job.  The job must
-- be the session role's, run the model's command in this database, and
-- the role must own the model.  A schedule whose job still exists is
-- replaced only by the role of that job.
CREATE FUNCTION estimator.schedule_put(model text, source text, steps bigint,
									   epochs integer, only_if_changed boolean,
									   jobid bigint)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	caller regrole := estimator.session_role();
	job record;
	old record;
	alive boolean;
	owner regrole;
BEGIN
	SELECT m.owner INTO owner
	  FROM estimator.model_catalog m
	 WHERE m.name OPERATOR(pg_catalog.=) schedule_put.model;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'model "%" does not exist', model
			USING ERRCODE = 'undefined_object';
	END IF;
	IF NOT pg_catalog.pg_has_role(caller, owner, 'USAGE') THEN
		RAISE EXCEPTION 'must be owner of model "%" to schedule its training', model
			USING ERRCODE = 'insufficient_privilege';
	END IF;
	EXECUTE 'SELECT j.username, j.database, j.command FROM cron.job j'
			' WHERE j.jobid OPERATOR(pg_catalog.=) $1'
		INTO job USING schedule_put.jobid;
	IF job IS NULL
		OR job.username OPERATOR(pg_catalog.<>) pg_catalog.pg_get_userbyid(caller)::pg_catalog.text
		OR job.database OPERATOR(pg_catalog.<>) pg_catalog.current_database()
		OR job.command OPERATOR(pg_catalog.<>) estimator.schedule_command(model) THEN
		RAISE EXCEPTION 'pg_cron job % is not the retraining of model "%" by role %',
			jobid, model, caller
			USING ERRCODE = 'insufficient_privilege';
	END IF;
	SELECT s.jobid, s.scheduled_by INTO old
	  FROM estimator.schedules s
	 WHERE s.model OPERATOR(pg_catalog.=) schedule_put.model
	   FOR UPDATE;
	IF FOUND AND old.jobid OPERATOR(pg_catalog.<>) schedule_put.jobid THEN
		EXECUTE 'SELECT EXISTS (SELECT 1 FROM cron.job j'
				' WHERE j.jobid OPERATOR(pg_catalog.=) $1)'
			INTO alive USING old.jobid;
		IF alive THEN
			RAISE EXCEPTION 'model "%" is already scheduled by pg_cron job % of role %',
				model, old.jobid, old.scheduled_by
				USING ERRCODE = 'duplicate_object',
					  HINT = 'Only that role or a superuser can replace the schedule, or remove it with est_unschedule.';
		END IF;
	END IF;
	INSERT INTO estimator.schedules AS s
		(model, source, steps, epochs, only_if_changed, jobid, scheduled_by)
		VALUES (schedule_put.model, schedule_put.source, schedule_put.steps,
				schedule_put.epochs, schedule_put.only_if_changed,
				schedule_put.jobid, caller)
	ON CONFLICT ON CONSTRAINT schedules_pkey DO UPDATE
		SET source = excluded.source, steps = excluded.steps,
			epochs = excluded.epochs, only_if_changed = excluded.only_if_changed,
			jobid = excluded.jobid, scheduled_by = excluded.scheduled_by,
			last_fingerprint = CASE WHEN s.source OPERATOR(pg_catalog.=) excluded.source
								THEN s.last_fingerprint END;
END
$$;
COMMENT ON FUNCTION estimator.schedule_put(text, text, bigint, integer, boolean, bigint)
	IS 'internal: store the schedule of a model once est_schedule made its pg_cron job';

-- Record the outcome of a run, for the role whose job it is.
CREATE FUNCTION estimator.schedule_record(model text, fingerprint text, status text)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	UPDATE estimator.schedules s
	   SET last_fingerprint = fingerprint, last_run = pg_catalog.now(),
		   last_status = status
	 WHERE s.model OPERATOR(pg_catalog.=) schedule_record.model
	   AND pg_catalog.pg_has_role(estimator.session_role(), s.scheduled_by, 'USAGE');
	IF NOT FOUND THEN
		RAISE EXCEPTION 'model "%" has no schedule of role %',
			model, estimator.session_role()
			USING ERRCODE = 'undefined_object';
	END IF;
END
$$;
COMMENT ON FUNCTION estimator.schedule_record(text, text, text)
	IS 'internal: record the outcome of a scheduled training (role of the job only)';

-- Forget a model's schedule once its job is gone.
CREATE FUNCTION estimator.schedule_forget(model text)
RETURNS boolean
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	s record;
	alive boolean;
BEGIN
	SELECT x.jobid, x.scheduled_by INTO s
	  FROM estimator.schedules x WHERE x.model OPERATOR(pg_catalog.=) schedule_forget.model
	   FOR UPDATE;
	IF NOT FOUND THEN
		RETURN false;
	END IF;
	EXECUTE 'SELECT EXISTS (SELECT 1 FROM cron.job j'
			' WHERE j.jobid OPERATOR(pg_catalog.=) $1)'
		INTO alive USING s.jobid;
	IF alive THEN
		RAISE EXCEPTION 'pg_cron job % that retrains model "%" belongs to role %',
			s.jobid, model, s.scheduled_by
			USING ERRCODE = 'insufficient_privilege',
				  HINT = 'Only that role or a superuser can unschedule it.';
	END IF;
	DELETE FROM estimator.schedules x WHERE x.model OPERATOR(pg_catalog.=) schedule_forget.model;
	RETURN true;
END
$$;
COMMENT ON FUNCTION estimator.schedule_forget(text)
	IS 'internal: delete the schedule of a model whose pg_cron job is gone';

-- An order-independent fingerprint of a source's rows: the row count and
-- two sums of 64-bit row hashes, so that it needs neither a sort nor
-- memory in proportion to the rows.  Runs as the caller.
CREATE FUNCTION estimator.source_fingerprint(source text)
RETURNS text
LANGUAGE plpgsql STABLE
AS $$
DECLARE
	rel regclass;
	from_clause text;
	fp text;
BEGIN
	IF source ~* '^[\s(]*(select|with|values|table)([^[:alnum:]_$]|$)' THEN
		-- a query: as a subquery, which rejects a second statement and
		-- data-modifying WITH
		from_clause := pg_catalog.format(E'(\n%s\n) t',
			pg_catalog.regexp_replace(source, '[\s;]+$', ''));
	ELSE
		rel := pg_catalog.to_regclass(source);
		IF rel IS NULL THEN
			RAISE EXCEPTION 'relation "%" does not exist', source
				USING ERRCODE = 'undefined_table';
		END IF;
		from_clause := rel::pg_catalog.text || ' t';
	END IF;
	EXECUTE 'SELECT pg_catalog.md5(pg_catalog.count(*)::pg_catalog.text'
			' OPERATOR(pg_catalog.||) '':'' OPERATOR(pg_catalog.||)'
			' pg_catalog.sum((''x'' OPERATOR(pg_catalog.||) pg_catalog.substr(h, 1, 15))::pg_catalog.bit(60)::pg_catalog.int8)::pg_catalog.text'
			' OPERATOR(pg_catalog.||) '':'' OPERATOR(pg_catalog.||)'
			' pg_catalog.sum((''x'' OPERATOR(pg_catalog.||) pg_catalog.substr(h, 16, 15))::pg_catalog.bit(60)::pg_catalog.int8)::pg_catalog.text)'
			' FROM (SELECT pg_catalog.md5(t::pg_catalog.text) AS h FROM '
			|| from_clause || ') r'
		INTO fp;
	RETURN fp;
END
$$;
COMMENT ON FUNCTION estimator.source_fingerprint(text)
	IS 'internal: an order-independent fingerprint of the rows of a relation or query, read as the caller';

CREATE FUNCTION estimator.run_scheduled(model text)
RETURNS text
LANGUAGE plpgsql
AS $$
DECLARE
	s estimator.schedules;
	mine boolean;
	fp text;
	r record;
	status text;
BEGIN
	SELECT * INTO s FROM estimator.schedules x
	 WHERE x.model OPERATOR(pg_catalog.=) run_scheduled.model;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'model "%" has no schedule', model
			USING ERRCODE = 'undefined_object',
				  HINT = 'Schedule it with est_schedule, or remove this job with cron.unschedule.';
	END IF;
	-- pg_cron shows a role only its own jobs (superusers see all).
	EXECUTE 'SELECT EXISTS (SELECT 1 FROM cron.job j'
			' WHERE j.jobid OPERATOR(pg_catalog.=) $1)'
		INTO mine USING s.jobid;
	IF NOT mine THEN
		RAISE EXCEPTION 'the retraining of model "%" is pg_cron job % of role %',
			model, s.jobid, s.scheduled_by
			USING ERRCODE = 'insufficient_privilege',
				  HINT = 'Remove this job with cron.unschedule.';
	END IF;
	IF s.only_if_changed THEN
		BEGIN
			fp := estimator.source_fingerprint(s.source);
		EXCEPTION WHEN OTHERS THEN
			-- est_train below reports what is wrong with the source
			fp := NULL;
		END;
		IF fp IS NOT NULL AND fp OPERATOR(pg_catalog.=) s.last_fingerprint THEN
			status := 'skipped: source unchanged';
			PERFORM estimator.schedule_record(model, fp, status);
			RETURN status;
		END IF;
	END IF;
	SELECT t.global_step, t.loss, t.rows_read INTO r
	  FROM @extschema@.est_train(run_scheduled.model, s.source, steps => s.steps,
								 epochs => s.epochs) t;
	status := pg_catalog.format('trained: global_step %s, loss %s, %s rows',
								r.global_step,
								pg_catalog.round(r.loss::pg_catalog.numeric, 6),
								r.rows_read);
	PERFORM estimator.schedule_record(model, fp, status);
	RETURN status;
END
$$;
COMMENT ON FUNCTION estimator.run_scheduled(text)
	IS 'the command of a pg_cron job of est_schedule: train the model on its source as the calling role, unless only_if_changed and the source is unchanged';

CREATE FUNCTION est_schedule(model text, source text, schedule text,
							 steps bigint DEFAULT NULL,
							 epochs integer DEFAULT NULL,
							 only_if_changed boolean DEFAULT true,
							 job_name text DEFAULT NULL)
RETURNS bigint
LANGUAGE plpgsql
AS $$
DECLARE
	owner regrole;
	old estimator.schedules;
	visible boolean;
	name text;
	jobid bigint;
BEGIN
	IF model IS NULL OR source IS NULL OR schedule IS NULL THEN
		RAISE EXCEPTION 'model, source and schedule must not be null'
			USING ERRCODE = 'null_value_not_allowed';
	END IF;
	IF steps IS NOT NULL AND steps < 1 THEN
		RAISE EXCEPTION 'steps must be positive, not %', steps
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF epochs IS NOT NULL AND epochs < 1 THEN
		RAISE EXCEPTION 'epochs must be positive, not %', epochs
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	PERFORM estimator.check_cron();

	SELECT m.owner INTO owner
	  FROM estimator.models m WHERE m.name OPERATOR(pg_catalog.=) est_schedule.model;
	IF NOT FOUND THEN
		RAISE EXCEPTION 'model "%" does not exist', model
			USING ERRCODE = 'undefined_object',
				  HINT = 'Train it with est_train first: est_schedule continues the training of an existing model.';
	END IF;
	IF NOT pg_catalog.pg_has_role(owner, 'USAGE') THEN
		RAISE EXCEPTION 'must be owner of model "%" to schedule its training', model
			USING ERRCODE = 'insufficient_privilege';
	END IF;
	IF source !~* '^[\s(]*(select|with|values|table)([^[:alnum:]_$]|$)' THEN
		BEGIN
			visible := pg_catalog.to_regclass(source) IS NOT NULL;
		EXCEPTION WHEN invalid_name OR syntax_error THEN
			RAISE EXCEPTION 'source "%" is neither a relation name nor a query', source
				USING ERRCODE = 'invalid_name',
					  HINT = 'Name a table or view, schema-qualified and quoted as in SQL if need be, or write one SELECT, VALUES or WITH query.';
		END;
		IF NOT visible THEN
			RAISE EXCEPTION 'relation "%" does not exist', source
				USING ERRCODE = 'undefined_table';
		END IF;
	END IF;

	-- A schedule of another job name: unschedule its job first, if it is
	-- the caller's (schedule_put refuses to replace another role's).
	name := coalesce(job_name, 'retrain ' OPERATOR(pg_catalog.||) model);
	SELECT * INTO old FROM estimator.schedules x
	 WHERE x.model OPERATOR(pg_catalog.=) est_schedule.model;
	IF FOUND THEN
		EXECUTE 'SELECT EXISTS (SELECT 1 FROM cron.job j'
				' WHERE j.jobid OPERATOR(pg_catalog.=) $1'
				' AND j.jobname IS DISTINCT FROM $2)'
			INTO visible USING old.jobid, name;
		IF visible THEN
			EXECUTE 'SELECT cron.unschedule($1)' USING old.jobid;
		END IF;
	END IF;

	EXECUTE 'SELECT cron.schedule($1, $2, $3)'
		INTO jobid USING name, schedule, estimator.schedule_command(model);
	PERFORM estimator.schedule_put(model, source, steps, epochs,
								   only_if_changed, jobid);
	RETURN jobid;
END
$$;
COMMENT ON FUNCTION est_schedule(text, text, text, bigint, integer, boolean, text)
	IS 'retrain a model on a source with a pg_cron job, as the calling role; returns the job id';

CREATE FUNCTION est_unschedule(model text)
RETURNS boolean
LANGUAGE plpgsql STRICT
AS $$
DECLARE
	s estimator.schedules;
	visible boolean;
BEGIN
	PERFORM estimator.check_cron();
	SELECT * INTO s FROM estimator.schedules x
	 WHERE x.model OPERATOR(pg_catalog.=) est_unschedule.model;
	IF NOT FOUND THEN
		-- none, or one that the caller may not see
		IF EXISTS (SELECT 1 FROM estimator.models m
					WHERE m.name OPERATOR(pg_catalog.=) est_unschedule.model
					  AND NOT pg_catalog.pg_has_role(m.owner, 'USAGE')) THEN
			RAISE EXCEPTION 'must be owner of model "%" to unschedule its training', model
				USING ERRCODE = 'insufficient_privilege';
		END IF;
		RETURN false;
	END IF;
	EXECUTE 'SELECT EXISTS (SELECT 1 FROM cron.job j'
			' WHERE j.jobid OPERATOR(pg_catalog.=) $1)'
		INTO visible USING s.jobid;
	IF visible THEN
		EXECUTE 'SELECT cron.unschedule($1)' USING s.jobid;
	END IF;
	RETURN estimator.schedule_forget(model);
END
$$;
COMMENT ON FUNCTION est_unschedule(text)
	IS 'remove the pg_cron job of est_schedule that retrains a model; false if it had none';

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
-- The definitions and checkpoints of the models a role may use are
-- readable to it (as est_export and est_weights already show them), so that
-- pg_dump --enable-row-security works for a role that is not a superuser;
-- those of other models stay hidden.  Nobody writes them but the functions.
ALTER TABLE estimator.model_catalog ENABLE ROW LEVEL SECURITY;
CREATE POLICY model_catalog_readers ON estimator.model_catalog FOR SELECT
	USING (@extschema@.est_has_model_privilege(name, 'predict'));
GRANT SELECT ON estimator.model_catalog TO PUBLIC;
ALTER TABLE estimator.checkpoints ENABLE ROW LEVEL SECURITY;
CREATE POLICY checkpoints_readers ON estimator.checkpoints FOR SELECT
	USING (@extschema@.est_has_model_privilege(model, 'predict'));
GRANT SELECT ON estimator.checkpoints TO PUBLIC;
