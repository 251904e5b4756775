/* sql/estimator--0.6.0--0.7.0.sql */

-- complain if script is sourced in psql, rather than via ALTER EXTENSION
\echo Use "ALTER EXTENSION estimator UPDATE TO '0.7.0'" to load this file. \quit

-- The source of a schedule is stored as its job will read it.  est_schedule
-- checked a relation name under the caller's search_path but stored it as
-- given, and pg_cron's job resolved it under the default search_path of
-- the job's role: a schedule made with SET search_path = lab, public of
-- "flowers" trained on public.flowers.  A relation is now stored
-- schema-qualified and quoted as it resolves for the caller; a temporary
-- table, which the job's session cannot see, and what is not a table,
-- view or materialized view are refused.  A query is stored as written.
-- SECURITY INVOKER without a search_path of its own: it resolves the name
-- as the caller does.
CREATE FUNCTION estimator.schedule_source(source text)
RETURNS text
LANGUAGE plpgsql STABLE
AS $$
DECLARE
	rel regclass;
	rel_schema name;
	rel_name name;
	kind "char";
	persistence "char";
BEGIN
	IF source OPERATOR(pg_catalog.~*) '^[\s(]*(select|with|values|table)([^[:alnum:]_$]|$)' THEN
		RETURN source;
	END IF;
	BEGIN
		rel := pg_catalog.to_regclass(source);
	EXCEPTION WHEN invalid_name OR syntax_error THEN
		RAISE EXCEPTION 'source "%" is neither a relation name nor a query', source
			USING ERRCODE = 'invalid_name',
				  HINT = 'Name a table or view, schema-qualified and quoted as in SQL if need be, or write one SELECT, VALUES or WITH query.';
	END;
	IF rel IS NULL THEN
		RAISE EXCEPTION 'relation "%" does not exist', source
			USING ERRCODE = 'undefined_table';
	END IF;
	SELECT n.nspname, c.relname, c.relkind, c.relpersistence
	  INTO rel_schema, rel_name, kind, persistence
	  FROM pg_catalog.pg_class c
	  JOIN pg_catalog.pg_namespace n ON n.oid OPERATOR(pg_catalog.=) c.relnamespace
	 WHERE c.oid OPERATOR(pg_catalog.=) rel;
	IF kind OPERATOR(pg_catalog.<>) ALL ('{r,v,m,p,f}'::"char"[]) THEN
		RAISE EXCEPTION '"%" is not a table, view or materialized view', source
			USING ERRCODE = 'wrong_object_type',
				  HINT = 'Name a table, view or materialized view, or write a SELECT query.';
	END IF;
	IF persistence OPERATOR(pg_catalog.=) 't' THEN
		RAISE EXCEPTION 'cannot schedule training on temporary relation "%"', source
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'A pg_cron job runs in a session of its own, which does not see the temporary tables of this one.';
	END IF;
	RETURN pg_catalog.format('%I.%I', rel_schema, rel_name);
END
$$;
COMMENT ON FUNCTION estimator.schedule_source(text)
	IS 'internal: the source of a schedule as its pg_cron job reads it: a relation schema-qualified as it resolves for the caller, a query as written';

-- A model has one job of the caller's.  est_drop_model leaves the model's
-- job to pg_cron, and after the model was trained and scheduled anew
-- under another job name the old job went on firing at its old times,
-- training the model with the new schedule's settings; est_unschedule,
-- finding no schedule, left it.  est_schedule now removes the caller's
-- other jobs that run the model's command in this database, and
-- est_unschedule removes them too.  Another role's job is left alone:
-- it fails its runs (run_scheduled trains only as the role of the
-- schedule).  SECURITY INVOKER: pg_cron removes only the caller's jobs.
CREATE FUNCTION estimator.schedule_drop_strays(model text, keep bigint)
RETURNS bigint
LANGUAGE plpgsql
SET search_path = pg_catalog, pg_temp
AS $$
DECLARE
	n bigint;
BEGIN
	EXECUTE 'SELECT pg_catalog.count(cron.unschedule(j.jobid)) FROM cron.job j'
			' WHERE j.jobid IS DISTINCT FROM $1'
			' AND j.username OPERATOR(pg_catalog.=) pg_catalog."current_user"()::pg_catalog.text'
			' AND j.database OPERATOR(pg_catalog.=) pg_catalog.current_database()'
			' AND j.command OPERATOR(pg_catalog.=) estimator.schedule_command($2)'
		INTO n USING keep, model;
	RETURN n;
END
$$;
COMMENT ON FUNCTION estimator.schedule_drop_strays(text, bigint)
	IS 'internal: remove the caller''s pg_cron jobs that retrain a model, but the job keep';

CREATE OR REPLACE FUNCTION est_schedule(model text, source text, schedule text,
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
	-- NULL here failed on a NOT NULL constraint of estimator.schedules,
	-- after pg_cron had been asked for a job
	IF only_if_changed IS NULL THEN
		RAISE EXCEPTION 'only_if_changed must not be null'
			USING ERRCODE = 'null_value_not_allowed',
				  HINT = 'Pass true to skip the runs that find the source unchanged, or false to train at every run.';
	END IF;
	IF steps IS NOT NULL AND steps < 1 THEN
		RAISE EXCEPTION 'steps must be positive, not %', steps
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF epochs IS NOT NULL AND epochs < 1 THEN
		RAISE EXCEPTION 'epochs must be positive, not %', epochs
			USING ERRCODE = 'invalid_parameter_value';
	END IF;
	IF job_name OPERATOR(pg_catalog.~) '^\s*$' THEN
		RAISE EXCEPTION 'job_name must not be empty'
			USING ERRCODE = 'invalid_parameter_value',
				  HINT = 'Leave job_name out to name the job "retrain <model>".';
	END IF;
	-- the relation the caller means, whatever the job's search_path
	source := estimator.schedule_source(source);
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
		visible := visible AND estimator.schedule_job_alive(old.jobid, model);
		IF visible THEN
			EXECUTE 'SELECT cron.unschedule($1)' USING old.jobid;
		END IF;
	END IF;

	EXECUTE 'SELECT cron.schedule($1, $2, $3)'
		INTO jobid USING name, schedule, estimator.schedule_command(model);
	-- the caller's jobs of this model left by est_drop_model, or made by hand
	PERFORM estimator.schedule_drop_strays(model, jobid);
	PERFORM estimator.schedule_put(model, source, steps, epochs,
								   only_if_changed, jobid);
	RETURN jobid;
END
$$;

-- Runs of one model take turns.  A second job that runs a model's
-- retraining (one made by hand with cron.schedule, or left by
-- est_drop_model) started while the first trained: both computed the
-- fingerprint before either recorded it, and with only_if_changed both
-- trained, the second on a source that the first had just learnt.  A run
-- now first locks the model's row as est_train does, waiting for any
-- training of the model to commit, and only then reads its schedule and
-- the source's fingerprint.  Only the role of the model's schedule can
-- take the lock.
CREATE FUNCTION estimator.schedule_lock(model text)
RETURNS void
LANGUAGE plpgsql SECURITY DEFINER
SET search_path = pg_catalog, pg_temp
AS $$
BEGIN
	PERFORM 1
	   FROM estimator.model_catalog m
	   JOIN estimator.schedules s ON s.model OPERATOR(pg_catalog.=) m.name
	  WHERE m.name OPERATOR(pg_catalog.=) schedule_lock.model
		AND pg_catalog.pg_has_role(estimator.session_role(), s.scheduled_by, 'USAGE')
	    FOR NO KEY UPDATE OF m;
END
$$;
COMMENT ON FUNCTION estimator.schedule_lock(text)
	IS 'internal: lock a model''s row for a scheduled training, as est_train does (role of the schedule only)';

CREATE OR REPLACE FUNCTION estimator.run_scheduled(model text)
RETURNS text
LANGUAGE plpgsql
SET client_min_messages = warning
AS $$
DECLARE
	s estimator.schedules;
	mine boolean;
	fp text;
	r record;
	status text;
BEGIN
	-- wait for any other training of the model, then read the schedule
	-- as that training left it
	PERFORM estimator.schedule_lock(model);
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
	-- The source is the scheduling role's SQL: it runs as that role only.
	-- A superuser sees every job, so a job of its own left behind by a
	-- dropped model passed the check above and ran the source of whoever
	-- scheduled a model of that name since, with a superuser's rights.
	IF s.scheduled_by::pg_catalog.oid OPERATOR(pg_catalog.<>)
	   (SELECT a.oid FROM pg_catalog.pg_roles a
		 WHERE a.rolname OPERATOR(pg_catalog.=) pg_catalog."current_user"()) THEN
		RAISE EXCEPTION 'the retraining of model "%" was scheduled by role %, not by role %',
			model, s.scheduled_by, pg_catalog."current_user"()
			USING ERRCODE = 'insufficient_privilege',
				  HINT = 'Remove this job with cron.unschedule; the role that scheduled the model runs its retraining.';
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

CREATE OR REPLACE FUNCTION est_unschedule(model text)
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
		-- a job that est_drop_model left
		RETURN estimator.schedule_drop_strays(model, NULL) OPERATOR(pg_catalog.>) 0;
	END IF;
	visible := estimator.schedule_job_alive(s.jobid, model);
	IF visible THEN
		EXECUTE 'SELECT cron.unschedule($1)' USING s.jobid;
	END IF;
	PERFORM estimator.schedule_drop_strays(model, NULL);
	RETURN estimator.schedule_forget(model);
END
$$;
